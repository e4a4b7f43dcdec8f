// dump.ts owns the state dump for the end-to-end test: when PLEAT_E2E_DUMP names a file, the
// diagnostics, test items, test results, debug sessions' stops and ends, status bar text and where the server binary came from are written there as JSON on change.
import * as fs from 'fs';
import * as vscode from 'vscode';
import { TestDebugger } from './debug';
import { TestTree } from './tests';

export function startDump(
  tests: TestTree,
  debug: TestDebugger,
  statusText: () => string,
  serverSource: () => string,
): vscode.Disposable[] {
  const file = process.env.PLEAT_E2E_DUMP;
  if (!file) {
    return [];
  }
  let timer: NodeJS.Timeout | undefined;
  const write = () => {
    const diagnostics = vscode.languages.getDiagnostics().flatMap(([uri, diags]) =>
      diags.map((d) => ({
        file: vscode.workspace.asRelativePath(uri),
        line: d.range.start.line + 1,
        severity: vscode.DiagnosticSeverity[d.severity],
        source: d.source,
        message: d.message,
      })),
    );
    const state = { status: statusText(), server: serverSource(), diagnostics, tests: tests.itemIds(), runs: tests.runs, results: [...tests.results.values()], debug: debug.events };
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
    fs.renameSync(`${file}.tmp`, file);
  };
  const soon = () => {
    clearTimeout(timer);
    timer = setTimeout(write, 100);
  };
  const every = setInterval(write, 1000);
  return [
    vscode.languages.onDidChangeDiagnostics(soon),
    tests.onDidChange(soon),
    debug.onDidChange(soon),
    { dispose: () => (clearTimeout(timer), clearInterval(every)) },
  ];
}
