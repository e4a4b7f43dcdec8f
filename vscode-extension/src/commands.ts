// commands.ts owns the palette commands (ids `pleat.vscode.*`, so that they never clash with
// the server's `pleat.*` commands, which the language client registers for code lenses) and
// the quick picks that show dependents, dependencies and import chains.
import * as path from 'path';
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';
import { FileRef, Hop, Related, RunAnswer, Why, reports, serverCommand } from './client';
import { TestTree } from './tests';

export interface Host {
  client(): LanguageClient | undefined;
  restart(): Promise<void>;
  readonly tests: TestTree;
  readonly output: vscode.OutputChannel;
}

export function registerCommands(host: Host): vscode.Disposable[] {
  const command = (id: string, run: () => Thenable<unknown>) =>
    vscode.commands.registerCommand(`pleat.vscode.${id}`, async () => {
      try {
        await run();
      } catch (e) {
        void vscode.window.showErrorMessage(`Pleat: ${e instanceof Error ? e.message : String(e)}`);
      }
    });
  const ask = <T>(name: string, args: object) => serverCommand<T>(running(host), name, args);
  const runTests = (title: string, name: string, args: object) =>
    vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title }, async () =>
      summarize(await ask<RunAnswer>(name, args)),
    );
  return [
    command('runAffected', () => runTests('Pleat: running affected tests', 'pleat.runAffected', { file: activeFile() })),
    command('runFile', async () => {
      const file = await pickTestFile(host.tests);
      return file && runTests('Pleat: running tests', 'pleat.runTests', { files: [file] });
    }),
    command('runAll', () => runTests('Pleat: running all tests', 'pleat.runAll', {})),
    command('showDependents', async () => showRelated(await ask<Related>('pleat.showDependents', { file: activeFile() }))),
    command('showDependencies', async () =>
      showRelated(await ask<Related>('pleat.showDependencies', { file: activeFile() })),
    ),
    command('why', () => why(host)),
    command('clearCache', async () => {
      await ask('pleat.clearCache', {});
      void vscode.window.showInformationMessage('Pleat: the cache is cleared.');
    }),
    command('export', () =>
      vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: 'Pleat: exporting the virtualenv' }, async () =>
        offerInterpreter(await ask<Exported>('pleat.export', {})),
      ),
    ),
    command('restart', () => host.restart()),
    command('showOutput', async () => host.output.show(true)),
  ];
}

/** `pleat.export`'s answer. */
interface Exported {
  python?: string;
  path?: string;
  packages?: number;
  rebuilt?: boolean;
  error?: string;
}

/** After an export: offers to make it the workspace's Python interpreter. */
async function offerInterpreter(exported: Exported): Promise<void> {
  if (exported.error || !exported.python) {
    throw new Error(exported.error ?? 'the export gave no interpreter');
  }
  const python = vscode.workspace.getConfiguration('python');
  const what = exported.rebuilt ? 'Exported' : 'Up to date';
  if (python.get<string>('defaultInterpreterPath') === exported.python) {
    void vscode.window.showInformationMessage(`Pleat: ${what}: ${exported.python}`);
    return;
  }
  const use = 'Use as the Interpreter';
  const choice = await vscode.window.showInformationMessage(`Pleat: ${what}: ${exported.python}`, use);
  if (choice === use) {
    try {
      await python.update('defaultInterpreterPath', exported.python, vscode.ConfigurationTarget.Workspace);
    } catch (e) {
      // Without the Python extension the setting is not registered and cannot be written.
      throw new Error(`cannot set python.defaultInterpreterPath (is the Python extension installed?): ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

/** Lets the lenses "N dependents" show their answer: the client would drop it. */
export async function afterServerCommand(command: string, result: unknown): Promise<void> {
  if ((command === 'pleat.showDependents' || command === 'pleat.showDependencies') && result) {
    await showRelated(result as Related);
  }
}

function running(host: Host): LanguageClient {
  const client = host.client();
  if (!client?.isRunning()) {
    throw new Error('the server is not running; see the Pleat output channel, or run "Pleat: Restart Server"');
  }
  return client;
}

function activeFile(): string {
  const doc = vscode.window.activeTextEditor?.document;
  if (!doc || doc.uri.scheme !== 'file') {
    throw new Error('open a Python file of the workspace first');
  }
  return doc.uri.toString();
}

async function summarize(answer: RunAnswer): Promise<void> {
  const all = reports(answer);
  const errors = all.flatMap((r) => r.errors);
  const tests = all.flatMap((r) => r.tests);
  const failed = tests.filter((t) => t.state === 'failed' || t.state === 'error').length;
  if (answer && 'error' in answer) {
    errors.push(answer.error);
  }
  if (errors.length > 0) {
    void vscode.window.showErrorMessage(`Pleat: ${errors.join('; ')}`);
  } else if (failed > 0) {
    const choice = await vscode.window.showWarningMessage(
      `Pleat: ${failed} of ${tests.length} tests failed.`,
      'Show Test Results',
    );
    if (choice) {
      await vscode.commands.executeCommand('workbench.view.testing.focus');
    }
  } else {
    vscode.window.setStatusBarMessage(`Pleat: ${tests.length} tests passed`, 5000);
  }
}

/** The active file when it is a test file, else a quick pick of the test files. */
async function pickTestFile(tests: TestTree): Promise<string | undefined> {
  const files = tests.testFiles();
  const active = vscode.window.activeTextEditor?.document.uri.toString();
  if (active && files.some((f) => f.id === active)) {
    return active;
  }
  const picked = await vscode.window.showQuickPick(
    files.map((f) => ({ label: f.label, description: `${f.children.size} tests`, id: f.id })),
    { title: 'Pleat: Run Tests in File', placeHolder: 'Pick a test file' },
  );
  return picked?.id;
}

type FileItem = vscode.QuickPickItem & { uri: string | null; line?: number };

async function openPicked(items: FileItem[], options: vscode.QuickPickOptions): Promise<void> {
  const picked = await vscode.window.showQuickPick(items, options);
  if (picked?.uri) {
    const line = Math.max((picked.line ?? 1) - 1, 0);
    await vscode.window.showTextDocument(vscode.Uri.parse(picked.uri), {
      selection: new vscode.Range(line, 0, line, 0),
    });
  }
}

async function showRelated(related: Related): Promise<void> {
  const what = related.transitive ? 'transitively ' : '';
  if (related.files.length === 0) {
    void vscode.window.showInformationMessage(`Pleat: nothing in the workspace is ${what}related to ${related.file} that way.`);
    return;
  }
  const items = related.files.map((f) => fileItem(f));
  await openPicked(items, { title: `Pleat: ${related.files.length} files for ${related.file}`, matchOnDescription: true });
}

function fileItem(f: FileRef): FileItem {
  return { label: path.basename(f.path), description: f.path, uri: f.uri };
}

/**
 * From a source file: pick one of its dependents (tests first), show how it imports the file.
 * From a test file: pick one of its dependencies, show how the test reaches it.
 */
async function why(host: Host): Promise<void> {
  const file = activeFile();
  const isTest = host.tests.testFiles().some((f) => f.id === file);
  const name = isTest ? 'pleat.showDependencies' : 'pleat.showDependents';
  const related = await serverCommand<Related>(running(host), name, { file, transitive: true });
  const tests = new Set(host.tests.testFiles().map((f) => f.id));
  const choices = [...related.files].sort((a, b) => Number(tests.has(b.uri ?? '')) - Number(tests.has(a.uri ?? '')));
  if (choices.length === 0) {
    void vscode.window.showInformationMessage(`Pleat: ${related.file} has no ${isTest ? 'first-party dependencies' : 'dependents'}.`);
    return;
  }
  const picked = await vscode.window.showQuickPick(choices.map(fileItem), {
    title: isTest ? `Pleat: why does ${related.file} depend on…` : `Pleat: why is … affected by ${related.file}?`,
    placeHolder: isTest ? 'Pick a file this test reaches' : 'Pick a dependent (test files first)',
    matchOnDescription: true,
  });
  if (!picked?.uri) {
    return;
  }
  const [from, to] = isTest ? [file, picked.uri] : [picked.uri, file];
  const chain = await serverCommand<Why>(running(host), 'pleat.why', { from, to });
  if (!chain.hops) {
    void vscode.window.showInformationMessage(`Pleat: ${chain.from} does not import ${chain.to}.`);
    return;
  }
  await openPicked(chain.hops.map(hopItem), { title: `Pleat: ${chain.from} → ${chain.to}` });
}

function hopItem(hop: Hop): FileItem {
  return { label: `${hop.file}:${hop.line}`, description: `imports ${hop.imports}`, uri: hop.uri, line: hop.line };
}
