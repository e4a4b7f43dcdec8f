// debug.ts owns debugging a test: the "pleat" debug type (pytest under debugpy, started by
// `pleat test --debug-adapter` and attached to over TCP, no Python extension needed), the
// client command `pleat.debugTest` that the server's "▶ Debug test" lens names, and the
// client capability that asks the server for those lenses.
import { ChildProcess, spawn } from 'child_process';
import * as vscode from 'vscode';
import { StaticFeature } from 'vscode-languageclient/node';

/** The line `pleat test --debug-adapter` prints once debugpy listens. */
const LISTENING = /^pleat: debugpy listening on (\S+) (\{.*\})$/;

/** What that line's JSON holds. */
interface Listening {
  host: string;
  port: number;
  file: string;
  localRoot: string;
  remoteRoot: string;
}

/** The parts of the debug adapter's messages the tracker reads. */
interface DapMessage {
  type: string;
  event?: string;
  command?: string;
  body?: { reason?: string; stackFrames?: { line?: number; source?: { path?: string } }[] };
}

/** A debug session as the dump shows it (state.json's `debug`). */
export interface DebugEvent {
  event: string;
  reason?: string;
  line?: number;
  path?: string;
  code?: number | null;
}

/** Tells the server this client handles `pleat.debugTest` (so it shows "▶ Debug test"). */
export const debugCapability: StaticFeature = {
  fillClientCapabilities(capabilities) {
    capabilities.experimental = { ...(capabilities.experimental ?? {}), pleatDebugTest: true };
  },
  initialize() {},
  getState() {
    return { kind: 'static' };
  },
  clear() {},
};

/** The "pleat" debug type and the `pleat.debugTest` command. */
export class TestDebugger implements vscode.Disposable {
  readonly events: DebugEvent[] = [];
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  /** The `pleat test --debug-adapter` process of each session, by its port. */
  private readonly processes = new Map<number, ChildProcess>();
  private readonly disposables: vscode.Disposable[];

  constructor(
    private readonly binary: () => string,
    private readonly output: vscode.LogOutputChannel,
  ) {
    this.disposables = [
      vscode.debug.registerDebugConfigurationProvider('pleat', {
        resolveDebugConfigurationWithSubstitutedVariables: (_folder, config) => this.start(config),
      }),
      vscode.debug.registerDebugAdapterDescriptorFactory('pleat', {
        createDebugAdapterDescriptor: (session) =>
          new vscode.DebugAdapterServer(session.configuration.port, session.configuration.host),
      }),
      vscode.debug.registerDebugAdapterTrackerFactory('pleat', { createDebugAdapterTracker: () => this.tracker() }),
      vscode.debug.onDidTerminateDebugSession((session) => {
        if (session.type === 'pleat') {
          this.record({ event: 'sessionEnded' });
          // pleat ends on its own once the test ends (a moment after the session); one still
          // running then was stopped early, and is stopped (and with it debugpy and pytest).
          const child = this.processes.get(session.configuration.port);
          setTimeout(() => child?.exitCode === null && child.kill('SIGTERM'), 5000);
        }
      }),
      vscode.commands.registerCommand('pleat.debugTest', (args: { test: string; root: string; file?: string }) =>
        this.debugTest(args),
      ),
      this.changed,
    ];
  }

  dispose(): void {
    for (const process of this.processes.values()) {
      process.kill('SIGTERM');
    }
    this.disposables.forEach((d) => d.dispose());
  }

  /** The lens's command: a "pleat" session attached to pytest under debugpy. */
  private async debugTest(args: { test: string; root: string; file?: string }): Promise<void> {
    const folder = args.file ? vscode.workspace.getWorkspaceFolder(vscode.Uri.parse(args.file)) : undefined;
    const started = await vscode.debug.startDebugging(folder, {
      type: 'pleat',
      request: 'attach',
      name: `Debug ${args.test}`,
      test: args.test,
      root: args.root,
    });
    if (!started) {
      this.output.warn(`the debug session for ${args.test} did not start`);
    }
  }

  /**
   * Starts `pleat test --debug-adapter TEST` in `root` and, once debugpy listens, completes
   * the attach configuration with its address and the path mapping; undefined (no session)
   * when pleat ends first, with its words.
   */
  private start(config: vscode.DebugConfiguration): Promise<vscode.DebugConfiguration | undefined> {
    const cacheDir = vscode.workspace.getConfiguration('pleat').get<string>('cacheDir', '');
    const args = [...(cacheDir ? ['--cache-dir', cacheDir] : []), 'test', '--debug-adapter', config.test];
    this.output.info(`starting ${this.binary()} ${args.join(' ')} in ${config.root}`);
    const child = spawn(this.binary(), args, { cwd: config.root, stdio: ['ignore', 'pipe', 'pipe'] });
    const said: string[] = [];
    return new Promise((resolve) => {
      let pending = '';
      let settled = false;
      const fail = (why: string) => {
        if (!settled) {
          settled = true;
          resolve(undefined);
          void vscode.window.showErrorMessage(`Pleat: cannot debug ${config.test}: ${why}`);
        }
      };
      child.stdout.on('data', (chunk: Buffer) => this.output.info(chunk.toString().trimEnd()));
      child.stderr.on('data', (chunk: Buffer) => {
        pending += chunk.toString();
        const lines = pending.split('\n');
        pending = lines.pop() ?? '';
        for (const line of lines) {
          this.output.info(line);
          said.push(line);
          const match = LISTENING.exec(line);
          if (match && !settled) {
            settled = true;
            const at = JSON.parse(match[2]) as Listening;
            this.processes.set(at.port, child);
            resolve({
              ...config,
              host: at.host,
              port: at.port,
              pathMappings: [{ localRoot: at.localRoot, remoteRoot: at.remoteRoot }],
              justMyCode: true,
            });
          }
        }
      });
      child.on('error', (e) => fail(`"${this.binary()}" could not start (${e.message}); set "pleat.path" to the binary`));
      child.on('exit', (code) => {
        this.record({ event: 'pleatExited', code });
        for (const [port, process] of this.processes) {
          if (process === child) {
            this.processes.delete(port);
          }
        }
        fail(`pleat ended (exit ${code}) before debugpy listened: ${said.slice(-5).join(' ')}`);
      });
    });
  }

  /** Records what the session shows: where it stops (the top frame) and how it ends. */
  private tracker(): vscode.DebugAdapterTracker {
    let stopped: string | undefined;
    return {
      onDidSendMessage: (message: DapMessage) => {
        if (message.type === 'event' && message.event === 'stopped') {
          stopped = message.body?.reason;
        } else if (message.type === 'event' && message.event === 'terminated') {
          this.record({ event: 'terminated' });
        } else if (message.type === 'response' && message.command === 'stackTrace' && stopped !== undefined) {
          const top = message.body?.stackFrames?.[0];
          this.record({ event: 'stopped', reason: stopped, line: top?.line, path: top?.source?.path });
          stopped = undefined;
        }
      },
    };
  }

  private record(event: DebugEvent): void {
    this.events.push(event);
    this.changed.fire();
  }
}
