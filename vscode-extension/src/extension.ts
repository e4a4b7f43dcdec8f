// extension.ts owns activation: the output channel, the status bar item, the Test Explorer and
// the palette commands, and the language client's life (start, restart, server notifications).
import * as vscode from 'vscode';
import { LanguageClient, Middleware, State } from 'vscode-languageclient/node';
import { TestReport, createClient, findServer, serverPath, versionMismatch } from './client';
import { afterServerCommand, registerCommands } from './commands';
import { TestDebugger, debugCapability } from './debug';
import { startDump } from './dump';
import { ServerStatus, StatusItem } from './status';
import { TestTree } from './tests';

let client: LanguageClient | undefined;
/** Where the running server's binary came from (for the end-to-end test's dump). */
let serverSource = '';

export async function activate(ctx: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('Pleat', { log: true });
  const status = new StatusItem();
  const tests = new TestTree();
  const debug = new TestDebugger(() => serverPath(ctx.extensionPath), output);
  const middleware: Middleware = {
    // Server commands run from code lenses: show what "N dependents" answers.
    executeCommand: async (command, args, next) => {
      const result = await next(command, args);
      await afterServerCommand(command, result);
      return result;
    },
  };

  const start = async () => {
    status.starting();
    const c = createClient(ctx.extensionPath, output, middleware);
    c.registerFeature(debugCapability);
    c.onNotification('pleat/status', (s: ServerStatus) => {
      status.update(s);
      if (s.state === 'idle' && s.passed === undefined) {
        tests.refreshSoon(); // a folder finished indexing: its tests can be listed now
      }
    });
    c.onNotification('pleat/testResults', (report: TestReport) => void tests.onReport(report));
    c.onDidChangeState((e) => {
      if (e.newState === State.Stopped && client === c) {
        status.stopped('the server stopped');
        tests.setClient(undefined);
      }
    });
    client = c;
    const server = findServer(ctx.extensionPath);
    output.info(`starting ${server.command} lsp (from ${server.source})`);
    serverSource = server.source;
    void versionMismatch(ctx.extensionPath).then((warning) => {
      if (warning) {
        output.warn(warning);
        void vscode.window.showWarningMessage(warning);
      }
    });
    try {
      await c.start();
      tests.setClient(c);
    } catch (e) {
      const binary = serverPath(ctx.extensionPath);
      status.stopped(`cannot start ${binary}`);
      const choice = await vscode.window.showErrorMessage(
        `Pleat: cannot start "${binary} lsp" (${e instanceof Error ? e.message : String(e)}). ` +
          'Install pleat on PATH or set "pleat.path" to the binary.',
        'Open Settings',
        'Show Log',
      );
      if (choice === 'Open Settings') {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'pleat.path');
      } else if (choice === 'Show Log') {
        output.show();
      }
    }
  };
  const restart = async () => {
    const old = client;
    client = undefined;
    tests.setClient(undefined);
    if (old) {
      await old.dispose(2000).catch(() => undefined);
    }
    await start();
  };

  ctx.subscriptions.push(
    output,
    status,
    tests,
    debug,
    ...registerCommands({ client: () => client, restart, tests, output }),
    ...startDump(tests, debug, () => status.text, () => serverSource),
    vscode.workspace.onDidChangeConfiguration((e) => {
      // The other settings reach the running server through didChangeConfiguration.
      if (e.affectsConfiguration('pleat.path') || e.affectsConfiguration('pleat.cacheDir')) {
        void restart();
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop();
}
