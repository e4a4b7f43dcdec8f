// client.ts owns the language client: finding the `pleat` binary, starting `pleat lsp` on
// stdio, the settings the server reads, and typed calls to the server's pleat.* commands.
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as vscode from 'vscode';
import {
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  ServerOptions,
} from 'vscode-languageclient/node';

/** Where the binary came from: the setting, the extension's own `bin/`, or PATH. */
export type ServerSource = 'pleat.path' | 'bundled' | 'PATH';

/** `bin/pleat` inside the extension: present in the platform .vsix, absent in the universal one. */
export function bundledPath(extensionPath: string): string | undefined {
  const bundled = path.join(extensionPath, 'bin', process.platform === 'win32' ? 'pleat.exe' : 'pleat');
  return fs.existsSync(bundled) ? bundled : undefined;
}

/** The binary: `pleat.path`, else `bin/pleat` shipped inside the extension, else `pleat` on PATH. */
export function findServer(extensionPath: string): { command: string; source: ServerSource } {
  const configured = vscode.workspace.getConfiguration('pleat').get<string>('path', '');
  if (configured) {
    return { command: configured, source: 'pleat.path' };
  }
  const bundled = bundledPath(extensionPath);
  return bundled ? { command: bundled, source: 'bundled' } : { command: 'pleat', source: 'PATH' };
}

export function serverPath(extensionPath: string): string {
  return findServer(extensionPath).command;
}

/** `pleat --version`'s first line ("pleat 0.1.0 (abc1234 2026-12-01)"), or undefined when it fails. */
export function binaryVersion(binary: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(binary, ['--version'], { timeout: 10000 }, (error, stdout) => {
      resolve(error ? undefined : stdout.split('\n')[0].trim() || undefined);
    });
  });
}

/**
 * When `pleat.path` overrides the binary this extension ships and the two report different
 * versions, a sentence saying so (the extension and the server may disagree on commands and
 * settings); else undefined.
 */
export async function versionMismatch(extensionPath: string): Promise<string | undefined> {
  const chosen = findServer(extensionPath);
  const bundled = bundledPath(extensionPath);
  if (chosen.source !== 'pleat.path' || !bundled) {
    return undefined;
  }
  const [configured, shipped] = await Promise.all([binaryVersion(chosen.command), binaryVersion(bundled)]);
  if (!configured || !shipped || configured === shipped) {
    return undefined;
  }
  return (
    `Pleat: "pleat.path" (${chosen.command}) is ${configured}, but this extension ships ${shipped}. ` +
    'Commands or settings may not match; clear "pleat.path" to use the bundled binary.'
  );
}

/** The settings the server reads (initializationOptions and didChangeConfiguration). */
export function serverSettings(): object {
  const cfg = vscode.workspace.getConfiguration('pleat');
  return {
    onSave: cfg.get('onSave'),
    lint: { tools: cfg.get('lint.tools') },
    typecheck: cfg.get('typecheck'),
    test: { timeout: cfg.get('test.timeout') },
    importCycles: cfg.get('importCycles'),
  };
}

export function createClient(
  extensionPath: string,
  outputChannel: vscode.LogOutputChannel,
  middleware: Middleware,
): LanguageClient {
  const cacheDir = vscode.workspace.getConfiguration('pleat').get<string>('cacheDir', '');
  // No `transport`: TransportKind.stdio would append `--stdio`, which `pleat lsp` rejects.
  const serverOptions: ServerOptions = {
    command: serverPath(extensionPath),
    args: [...(cacheDir ? ['--cache-dir', cacheDir] : []), 'lsp'],
  };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [{ scheme: 'file', language: 'python' }],
    initializationOptions: serverSettings(),
    // Sends `{"pleat": {...}}` through workspace/didChangeConfiguration whenever it changes.
    synchronize: { configurationSection: 'pleat' },
    outputChannel,
    middleware,
  };
  return new LanguageClient('pleat', 'Pleat', serverOptions, clientOptions);
}

// The answers of the server's commands (server/src/lsp/commands.rs).
export interface FileRef {
  path: string;
  uri: string | null;
}
export interface Related {
  file: string;
  transitive: boolean;
  files: FileRef[];
}
export interface Hop {
  file: string;
  uri: string | null;
  line: number;
  imports: string;
}
export interface Why {
  from: string;
  to: string;
  hops: Hop[] | null;
}
export interface ListedTest {
  id: string;
  name: string;
  kind: 'function' | 'class' | 'method';
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  parent: string | null;
}
export interface ListedFile extends FileRef {
  tests: ListedTest[];
}
export interface TestCase {
  id: string;
  path: string;
  file: string | null;
  state: 'passed' | 'failed' | 'error' | 'skipped';
  duration: number | null;
  message: string | null;
  cached: boolean;
  location: { path: string; file: string | null; line: number } | null;
}
export interface FileResult {
  path: string;
  file: string | null;
  outcome: 'passed' | 'failed' | 'error' | 'timed_out' | 'no_tests';
  cached: boolean;
  duration: number | null;
  output: string;
}
/** `pleat/testResults`, and the answer of the run commands (one report, or `{runs}` for several). */
export interface TestReport {
  root: string | null;
  run: number;
  files: FileResult[];
  tests: TestCase[];
  errors: string[];
}
export type RunAnswer = TestReport | { runs: TestReport[] } | { error: string };

export function reports(answer: RunAnswer | null | undefined): TestReport[] {
  if (!answer || 'error' in answer) {
    return [];
  }
  return 'runs' in answer ? answer.runs.filter((r) => 'tests' in r) : [answer];
}

/** Calls one of the server's `pleat.*` commands through workspace/executeCommand. */
export function serverCommand<T>(
  client: LanguageClient,
  command: string,
  args: object,
  token?: vscode.CancellationToken,
): Promise<T> {
  return client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [args] }, token) as Promise<T>;
}
