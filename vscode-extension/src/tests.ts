// tests.ts owns the Test Explorer: a TestController whose items come from pleat.listTests,
// whose results come from pleat/testResults and run answers, and whose run profiles call
// pleat.runTests. Item ids are `<file uri>` for a test file and `<file uri>::<pytest id>` below it.
import * as vscode from 'vscode';
import { LanguageClient } from 'vscode-languageclient/node';
import { ListedFile, RunAnswer, TestCase, TestReport, reports, serverCommand } from './client';

/** The last result of one test, as the end-to-end test's dump shows it. */
export interface ShownResult {
  id: string;
  state: TestCase['state'];
  message: string | null;
  line: number | null;
  cached: boolean;
}

export class TestTree implements vscode.Disposable {
  private readonly ctrl = vscode.tests.createTestController('pleat', 'Pleat');
  private client: LanguageClient | undefined;
  /** Test item id → the server's test id (`tests/test_a.py::TestX::test_y`). */
  private readonly serverIds = new Map<string, string>();
  /** Run ids already shown: a run's report arrives both as a notification and as an answer. */
  private applied = new Set<number>();
  /** Runs started from the Test Explorer, with the test files they cover. */
  private readonly active: { run: vscode.TestRun; files: Set<string> }[] = [];
  readonly results = new Map<string, ShownResult>();
  /** How many reports were shown (for the end-to-end test's dump). */
  runs = 0;
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly disposables: vscode.Disposable[] = [this.ctrl, this.changed];

  constructor() {
    this.ctrl.refreshHandler = () => this.refreshAll();
    const kind = vscode.TestRunProfileKind.Run;
    this.ctrl.createRunProfile('Run', kind, (request, token) => this.run(request, token, false), true);
    this.ctrl.createRunProfile('Run (ignore cached results)', kind, (r, token) => this.run(r, token, true), false);
    const watcher = vscode.workspace.createFileSystemWatcher('**/*.py');
    watcher.onDidCreate(() => this.refreshSoon());
    watcher.onDidDelete((uri) => {
      this.ctrl.items.delete(uri.toString());
      this.refreshSoon();
    });
    this.disposables.push(
      watcher,
      vscode.workspace.onDidSaveTextDocument((doc) => {
        if (doc.languageId === 'python') {
          void this.refreshFile(doc.uri.toString());
        }
      }),
      vscode.workspace.onDidChangeWorkspaceFolders(() => this.refreshSoon()),
    );
  }

  /** The client to ask, or none while the server is down; a new server numbers runs anew. */
  setClient(client: LanguageClient | undefined): void {
    this.client = client;
    this.applied = new Set();
    if (client) {
      void this.refreshAll();
    }
  }

  /** Test files known to the explorer, for quick picks. */
  testFiles(): vscode.TestItem[] {
    const files: vscode.TestItem[] = [];
    this.ctrl.items.forEach((item) => files.push(item));
    return files.sort((a, b) => a.label.localeCompare(b.label));
  }

  /** Every item id, depth first (for the end-to-end test's dump). */
  itemIds(): string[] {
    const ids: string[] = [];
    const walk = (item: vscode.TestItem) => {
      ids.push(this.serverIds.get(item.id) ?? item.id);
      item.children.forEach(walk);
    };
    this.ctrl.items.forEach(walk);
    return ids;
  }

  refreshSoon(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => void this.refreshAll(), 300);
  }

  async refreshAll(): Promise<void> {
    const listed = await this.list({});
    if (listed) {
      this.ctrl.items.replace(listed.map((f) => this.fileItem(f)).filter((i) => i !== undefined));
      this.changed.fire();
    }
  }

  async refreshFile(uri: string): Promise<void> {
    const listed = await this.list({ file: uri });
    if (!listed) {
      return;
    }
    const item = listed.length > 0 ? this.fileItem(listed[0]) : undefined;
    if (item) {
      this.ctrl.items.add(item);
    } else {
      this.ctrl.items.delete(uri);
    }
    this.changed.fire();
  }

  private async list(args: object): Promise<ListedFile[] | undefined> {
    if (!this.client?.isRunning()) {
      return undefined;
    }
    try {
      return (await serverCommand<{ files: ListedFile[] }>(this.client, 'pleat.listTests', args)).files;
    } catch (e) {
      // A file the server does not know (yet): a later save or file event lists it.
      this.client.debug(`pleat.listTests ${JSON.stringify(args)}: ${e}`);
      return undefined;
    }
  }

  private fileItem(file: ListedFile): vscode.TestItem | undefined {
    if (!file.uri) {
      return undefined;
    }
    const uri = vscode.Uri.parse(file.uri);
    const item = this.ctrl.createTestItem(file.uri, file.path, uri);
    this.serverIds.set(item.id, file.path);
    const byId = new Map<string, vscode.TestItem>();
    for (const test of file.tests) {
      const child = this.ctrl.createTestItem(this.itemId(file.uri, file.path, test.id), test.name, uri);
      const { start, end } = test.range;
      child.range = new vscode.Range(start.line, start.character, end.line, end.character);
      this.serverIds.set(child.id, test.id);
      byId.set(test.id, child);
    }
    for (const test of file.tests) {
      const parent = test.parent ? byId.get(test.parent) : undefined;
      (parent ?? item).children.add(byId.get(test.id)!);
    }
    return item;
  }

  private itemId(fileUri: string, path: string, serverId: string): string {
    return `${fileUri}::${serverId.startsWith(`${path}::`) ? serverId.slice(path.length + 2) : serverId}`;
  }

  private find(test: TestCase): vscode.TestItem | undefined {
    if (!test.file) {
      return undefined;
    }
    const file = this.ctrl.items.get(test.file);
    if (test.id === test.path) {
      return file; // the file could not be collected
    }
    // A parametrized case (`test_x[1]`) belongs to its function's item.
    const suffix = this.itemId(test.file, test.path, test.id).slice(test.file.length + 2);
    const parts = suffix.replace(/\[.*\]$/s, '').split('::');
    let item = file;
    for (let i = 0; item && i < parts.length; i++) {
      item = item.children.get(`${test.file}::${parts.slice(0, i + 1).join('::')}`);
    }
    return item;
  }

  /** `pleat/testResults`: into the Test Explorer run that asked for it, else into a run of its own. */
  async onReport(report: TestReport): Promise<void> {
    if (this.applied.has(report.run)) {
      return;
    }
    this.applied.add(report.run);
    this.runs += 1;
    await this.listMissing(report);
    const owner = this.active.find((a) => report.files.some((f) => f.file && a.files.has(f.file)));
    if (owner) {
      this.apply(owner.run, report);
      return;
    }
    const files = report.files.map((f) => f.file && this.ctrl.items.get(f.file)).filter((i) => !!i);
    const run = this.ctrl.createTestRun(new vscode.TestRunRequest(files), 'Pleat');
    this.apply(run, report);
    run.end();
  }

  private async listMissing(report: TestReport): Promise<void> {
    const missing = new Set(report.tests.filter((t) => t.file && !this.find(t)).map((t) => t.file!));
    await Promise.all([...missing].map((uri) => this.refreshFile(uri)));
  }

  private apply(run: vscode.TestRun, report: TestReport): void {
    for (const file of report.files) {
      const item = file.file ? this.ctrl.items.get(file.file) : undefined;
      if (file.output) {
        run.appendOutput(`${file.output.replace(/\r?\n/g, '\r\n')}\r\n`, undefined, item);
      }
      const hasTests = report.tests.some((t) => t.file === file.file);
      if (item && !hasTests && file.outcome !== 'passed' && file.outcome !== 'no_tests') {
        const message = new vscode.TestMessage(`${file.path}: ${file.outcome.replace('_', ' ')}\n${file.output}`);
        run.errored(item, message, seconds(file.duration));
      }
    }
    for (const error of report.errors) {
      run.appendOutput(`pleat: ${error}\r\n`);
    }
    const cases = new Map<vscode.TestItem, TestCase[]>();
    for (const test of report.tests) {
      const line = test.location?.line ?? null;
      this.results.set(test.id, { id: test.id, state: test.state, message: test.message, line, cached: test.cached });
      const item = this.find(test);
      if (item) {
        cases.set(item, [...(cases.get(item) ?? []), test]);
      }
    }
    for (const [item, tests] of cases) {
      this.show(run, item, tests);
    }
    this.changed.fire();
  }

  /** One item's result: its cases' worst state (several for a parametrized test). */
  private show(run: vscode.TestRun, item: vscode.TestItem, tests: TestCase[]): void {
    const cached = tests.every((t) => t.cached);
    item.description = cached ? '(cached)' : ''; // undefined would not reach the view
    const total = tests.reduce((sum, t) => sum + (t.duration ?? 0), 0);
    const duration = tests.some((t) => t.duration !== null) ? total * 1000 : undefined;
    const bad = tests.filter((t) => t.state === 'failed' || t.state === 'error');
    if (bad.length === 0) {
      if (tests.every((t) => t.state === 'skipped')) {
        run.skipped(item);
      } else {
        run.passed(item, duration);
      }
      return;
    }
    const messages = bad.map((test) => {
      const name = tests.length > 1 ? `${test.id.slice(test.id.lastIndexOf('::') + 2)}: ` : '';
      const message = new vscode.TestMessage(`${name}${test.message ?? test.state}${cached ? '\n(cached result)' : ''}`);
      if (test.location?.file) {
        const at = new vscode.Position(Math.max(test.location.line - 1, 0), 0);
        message.location = new vscode.Location(vscode.Uri.parse(test.location.file), at);
      } else if (item.uri && item.range) {
        message.location = new vscode.Location(item.uri, item.range);
      }
      return message;
    });
    if (bad.some((t) => t.state === 'failed')) {
      run.failed(item, messages, duration);
    } else {
      run.errored(item, messages, duration);
    }
  }

  private async run(request: vscode.TestRunRequest, token: vscode.CancellationToken, force: boolean): Promise<void> {
    const run = this.ctrl.createTestRun(request);
    const excluded = new Set((request.exclude ?? []).map((i) => i.id));
    const chosen = request.include ?? this.testFiles();
    const files: string[] = [];
    const tests: string[] = [];
    const covered = new Set<string>();
    for (const item of chosen) {
      if (excluded.has(item.id) || !item.uri) {
        continue;
      }
      covered.add(item.uri.toString());
      if (this.ctrl.items.get(item.id) === item) {
        files.push(item.id);
      } else {
        tests.push(this.serverIds.get(item.id) ?? item.id);
      }
      this.enqueue(run, item, excluded);
    }
    if (!this.client?.isRunning()) {
      run.appendOutput('The Pleat server is not running: see the Pleat output channel.\r\n');
      run.end();
      return;
    }
    const entry = { run, files: covered };
    this.active.push(entry);
    try {
      const answer = await serverCommand<RunAnswer>(this.client, 'pleat.runTests', { files, tests, force }, token);
      if (answer && 'error' in answer) {
        run.appendOutput(`pleat: ${answer.error}\r\n`);
      }
      for (const report of reports(answer)) {
        if (!this.applied.has(report.run)) {
          this.applied.add(report.run);
          this.runs += 1;
          await this.listMissing(report);
          this.apply(run, report);
        }
      }
    } catch (e) {
      run.appendOutput(`pleat.runTests failed: ${e instanceof Error ? e.message : String(e)}\r\n`);
    } finally {
      this.active.splice(this.active.indexOf(entry), 1);
      run.end();
    }
  }

  private enqueue(run: vscode.TestRun, item: vscode.TestItem, excluded: Set<string>): void {
    if (excluded.has(item.id)) {
      return;
    }
    run.enqueued(item);
    item.children.forEach((child) => this.enqueue(run, child, excluded));
  }

  dispose(): void {
    clearTimeout(this.refreshTimer);
    this.disposables.forEach((d) => d.dispose());
  }
}

function seconds(duration: number | null): number | undefined {
  return duration === null ? undefined : duration * 1000;
}
