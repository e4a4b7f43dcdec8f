// drive.mjs holds the checks of the VS Code end-to-end test: it drives code-server (started by
// tests/vscode/run.sh on the fixture workspace) through Chromium and reads the screen, plus the
// state the extension writes to $OUT/state.json (PLEAT_E2E_DUMP) for exact lines and sources.
import fs from 'fs';
import { createRequire } from 'module';

const { chromium } = createRequire(`${process.env.PLAYWRIGHT}/`)('playwright-core');
const { URL: url, WS: ws, OUT: out } = process.env;
const t0 = Date.now();
const log = (m) => console.error(`[drive ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);
let passed = 0;

class CheckFailed extends Error {}

/** Polls `probe` until it returns something truthy; fails with `what` and the last value seen. */
async function until(what, probe, timeout = 30000) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last && !last.problem) return last;
    } catch (e) {
      last = { problem: e.message.split('\n')[0] };
    }
    if (Date.now() > end) throw new CheckFailed(`${what} (after ${timeout / 1000} s; last seen: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function ok(what) {
  passed += 1;
  log(`ok ${passed}: ${what}`);
}

function state() {
  try {
    return JSON.parse(fs.readFileSync(`${out}/state.json`, 'utf8'));
  } catch {
    return { status: '', diagnostics: [], tests: [], results: [] };
  }
}

const udd = fs.mkdtempSync(`${out}/run/tmp/chromium-`);
const browser = await chromium.launchPersistentContext(udd, {
  executablePath: process.env.CHROMIUM,
  headless: true,
  viewport: { width: 1440, height: 900 },
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const page = browser.pages()[0] ?? (await browser.newPage());
const shot = async (name) => {
  await page.screenshot({ path: `${out}/${name}.png` });
  log(`screenshot ${out}/${name}.png`);
};

const lenses = () => page.$$eval('.codelens-decoration', (els) => els.map((e) => e.textContent.trim()));
const statusBar = () => page.$$eval('#workbench\\.parts\\.statusbar .statusbar-item', (els) =>
  els.map((e) => (e.textContent || '').trim()).filter((t) => t));

async function palette(command) {
  await page.keyboard.press('F1');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(command);
  await until(`"${command}" first in the command palette`, async () => {
    const focused = await page.$$eval('.quick-input-list .monaco-list-row.focused', (rows) => rows.map((r) => r.getAttribute('aria-label')));
    return focused.some((l) => l && l.startsWith(command)) || { problem: focused };
  });
  await page.keyboard.press('Enter');
}

async function open(path) {
  const name = path.split('/').pop();
  const dir = path.split('/').slice(0, -1).join('/');
  await page.keyboard.press('Control+P');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(path);
  // Recently opened files come first, and test_ops.py matches "ops.py": pick the exact row.
  const row = page.locator('.quick-input-list .monaco-list-row').filter({
    has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace('.', '\\.')}$`) }),
  }).filter({ hasText: dir }).first();
  await row.click({ timeout: 15000 });
  await until(`${path} in the active editor`, async () => (await page.title()).startsWith(`${name} - `) || { problem: await page.title() });
  await page.waitForSelector('.monaco-editor .view-lines');
}

/** Replaces line `line` (1-based) of the active editor with `text` and saves. */
async function replaceLine(line, text) {
  await page.keyboard.press('Control+G');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type(String(line));
  await page.keyboard.press('Enter');
  await page.keyboard.press('End');
  await page.keyboard.press('Shift+Home'); // selects the text after the indentation
  await page.keyboard.type(text);
  await page.keyboard.press('Control+S');
}

const quickPickRows = () => page.$$eval('.quick-input-widget .quick-input-list .monaco-list-row', (rows) =>
  rows.map((r) => r.getAttribute('aria-label') || r.textContent));

/** The Test Explorer's rows, every node expanded: label and state as the tree shows them. */
async function explorerRows() {
  for (let i = 0; i < 5; i++) {
    const collapsed = page.locator('.test-explorer .monaco-list-row .monaco-tl-twistie.collapsible.collapsed');
    if ((await collapsed.count()) === 0) break;
    await collapsed.first().click();
  }
  return page.$$eval('.test-explorer .monaco-list-row', (rows) => rows.map((r) => `${r.textContent} | ${r.getAttribute('aria-label')}`));
}

try {
  await page.goto(url);
  await page.waitForSelector('.monaco-workbench', { timeout: 60000 });
  await page.waitForSelector('.explorer-folders-view .monaco-list-row', { timeout: 60000 });
  log('workbench up');

  // 1. As you type: the unresolved import is a squiggle (source "pleat") on its line.
  await open('src/calc/report.py');
  await until('a squiggle in report.py', () => page.$('.monaco-editor .squiggly-error, .monaco-editor .squiggly-warning'), 60000);
  await until('the unresolved import calc.formatting as a pleat diagnostic on report.py line 2', () =>
    state().diagnostics.find((d) => d.file === 'src/calc/report.py' && d.line === 2 && d.source === 'pleat' && /calc\.formatting/.test(d.message)));
  ok('unresolved import: squiggle in the editor, diagnostic on report.py:2');
  const source = state().server;
  if (source !== 'bundled') throw new Error(`the server should be the binary bundled in the .vsix, not one from ${source}`);
  ok('the server is the binary bundled in the platform .vsix (no pleat.path, no pleat on PATH)');

  // 2. Lenses on a source module, after the server indexed the workspace.
  await open('src/calc/ops.py');
  const opsLenses = await until('lenses "▶ Run 2 affected tests (1 file)" and "2 dependents" on ops.py', async () => {
    const l = await lenses();
    return l.some((t) => /Run 2 affected tests \(1 file\)/.test(t)) && l.some((t) => /2 dependents/.test(t)) && l;
  }, 60000);
  ok(`lenses on ops.py: ${JSON.stringify(opsLenses)}`);

  // 3. The Test Explorer lists the test file, its class and its tests.
  await until('tests listed by the extension', () => {
    const ids = state().tests;
    return ['tests/test_ops.py::test_add', 'tests/test_ops.py::TestOps::test_add_zero'].every((id) => ids.includes(id)) && ids;
  });
  await palette('Testing: Focus on Test Explorer View');
  await until('test_ops.py in the Test Explorer', async () => (await explorerRows()).some((r) => r.includes('test_ops.py')));
  ok('Test Explorer lists tests/test_ops.py');

  // 4. Break add() and save: the dependent test fails, on its line in the test file.
  await open('src/calc/ops.py');
  await replaceLine(2, 'return a - b');
  const failure = await until('a pytest error on tests/test_ops.py line 5', () =>
    state().diagnostics.find((d) => d.file === 'tests/test_ops.py' && d.line === 5 && d.severity === 'Error' && d.source === 'pytest'), 120000);
  ok(`failing test reported at tests/test_ops.py:5: ${failure.message.split('\n')[0]}`);

  await until('test_add failed in the extension, run by pytest (not cached)', () =>
    state().results.find((r) => r.id === 'tests/test_ops.py::test_add' && r.state === 'failed' && !r.cached));
  await until('a failed test in the Test Explorer', async () => {
    const rows = await explorerRows();
    return rows.some((r) => /test_add\b/.test(r) && /fail/i.test(r)) || { problem: rows };
  });
  ok('Test Explorer shows test_add failed');

  const counts = await until('the status bar item counting the failure', () => /\$\(x\) 1$/.test(state().status) && state().status);
  ok(`status bar item: ${counts}`);

  // The failing test, as a person sees it: squiggle and lenses in the test file, the Problems
  // panel, the Test Explorer. This is the screenshot the README shows.
  // Lenses first: a panel opened before they render cancels their request until the next refresh.
  await open('tests/test_ops.py');
  await until('the result lens "✕ failed" in the test file', async () => (await lenses()).some((t) => /✕ failed/.test(t)) || { problem: await lenses() });
  await until('a squiggle on the failing assert', () => page.$('.monaco-editor .squiggly-error'), 30000);
  await page.keyboard.press('Control+Shift+M');
  await until('the failure in the Problems panel', async () => {
    const rows = await page.$$eval('.markers-panel .monaco-list-row', (els) => els.map((e) => e.getAttribute('aria-label') || e.textContent));
    return rows.some((r) => /assert/i.test(r)) || { problem: rows };
  });
  await page.mouse.move(0, 0);
  await shot('failing-test');
  ok('Problems panel and the "✕ failed" lens show the failure');

  // 5. A lens runs a server command: "▶ Run test" on test_add (cached: same content).
  const lensRuns = state().runs;
  await page.locator('.codelens-decoration a', { hasText: 'Run test' }).first().click();
  await until('a new run from the "▶ Run test" lens: test_add run alone, still failing', () => {
    const r = state().results.find((x) => x.id === 'tests/test_ops.py::test_add');
    return state().runs > lensRuns && r.state === 'failed' && r;
  });
  const errors = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
  if (errors.some((e) => /not found|failed/i.test(e))) throw new CheckFailed(`a notification after the lens click: ${errors}`);
  ok('the "▶ Run test" lens ran pleat.runTests for test_add');

  // 6. Fix add() and create the missing module on disk: every mark clears.
  await open('src/calc/ops.py');
  await replaceLine(2, 'return a + b');
  fs.writeFileSync(`${ws}/src/calc/formatting.py`, 'def money(x):\n    return f"{x:.2f}"\n');
  await until('no error left in tests/test_ops.py', () =>
    !state().diagnostics.some((d) => d.file === 'tests/test_ops.py') || { problem: state().diagnostics }, 120000);
  await until('test_add passed in the extension', () =>
    state().results.find((r) => r.id === 'tests/test_ops.py::test_add' && r.state === 'passed'));
  await until('no failed test in the Test Explorer', async () => {
    const rows = await explorerRows();
    return (rows.some((r) => /test_add\b/.test(r)) && !rows.some((r) => /fail/i.test(r))) || { problem: rows };
  });
  await until('the unresolved import clears once calc/formatting.py exists', () =>
    !state().diagnostics.some((d) => d.file === 'src/calc/report.py' && d.source === 'pleat') || { problem: state().diagnostics }, 30000);
  await until('the status bar item counting no failure', () => /\$\(x\) 0$/.test(state().status) || { problem: state().status });
  await shot('fixed');
  ok('after the fix: no diagnostics, test_add passed');

  // 7. The "2 dependents" lens answers with a quick pick that opens the file.
  await page.locator('.codelens-decoration a', { hasText: 'dependents' }).first().click();
  const picks = await until('a quick pick of ops.py\'s dependents', async () => {
    const rows = await quickPickRows();
    return (rows.some((r) => r.includes('test_ops.py')) && rows.some((r) => r.includes('report.py')) && rows) || { problem: rows };
  });
  await page.keyboard.type('report');
  await page.keyboard.press('Enter');
  await until('report.py opened from the quick pick', async () => (await page.title()).startsWith('report.py - '));
  ok(`"2 dependents" lens: quick pick ${JSON.stringify(picks)} opened report.py`);

  // 8. Why Is This Affected? from ops.py, for the test: the import chain, hop by hop.
  await open('src/calc/ops.py');
  await until('lenses on ops.py again', async () => (await lenses()).length > 0);
  await palette('Pleat: Why Is This Affected?');
  await until('a quick pick of dependents', async () => (await quickPickRows()).some((r) => r.includes('test_ops.py')));
  await page.keyboard.type('test_ops');
  await page.keyboard.press('Enter');
  const hops = await until('the chain tests/test_ops.py:1 → src/calc/ops.py', async () => {
    const rows = await quickPickRows();
    return rows.some((r) => r.includes('tests/test_ops.py:1') && r.includes('imports src/calc/ops.py')) && rows;
  });
  await page.keyboard.press('Escape');
  ok(`Why Is This Affected?: ${JSON.stringify(hops)}`);

  // 9. The Test Explorer's Run profile runs through the server.
  const before = state().runs;
  await palette('Test: Run All Tests');
  await until('a run from the Test Explorer', () => state().runs > before || { problem: state().runs });
  await until('both tests passed in the Test Explorer', async () => {
    const rows = await explorerRows();
    return rows.filter((r) => /test_add(_zero)?\b.*Passed/i.test(r)).length === 2 || { problem: rows };
  });
  ok('Test: Run All Tests ran the Pleat profile');

  // 10. Restart Server: a new server, whose lens commands are registered again.
  await palette('Pleat: Restart Server');
  // Idle, and showing the last results again from the cache (nothing changed since).
  await until('the new server idle, with the last results from the cache', () =>
    state().status === '$(check) 2 $(x) 0' || { problem: state().status });
  const runs = state().runs;
  await open('tests/test_ops.py');
  await page.locator('.codelens-decoration a', { hasText: 'Run test' }).first().click();
  await until('a run from a lens of the new server', () => state().runs > runs || { problem: state().runs });
  const toasts = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
  if (toasts.length > 0) throw new CheckFailed(`notifications after the restart: ${JSON.stringify(toasts)}`);
  ok('Restart Server: the new server answers the lenses');

  // 11. The palette's run commands and Show Dependencies.
  for (const [file, command] of [['tests/test_ops.py', 'Pleat: Run Tests in File'],
    ['src/calc/ops.py', 'Pleat: Run Affected Tests'], ['src/calc/ops.py', 'Pleat: Run All Tests']]) {
    const n = state().runs;
    await open(file);
    await palette(command);
    await until(`a run from "${command}"`, () => state().runs > n || { problem: state().runs });
    log(`${command}: a run`);
  }
  await open('tests/test_ops.py');
  await palette('Pleat: Show Dependencies');
  const deps = await until('a quick pick of test_ops.py\'s dependencies', async () => {
    const rows = await quickPickRows();
    return rows.some((r) => r.includes('src/calc/ops.py')) && rows;
  });
  await page.keyboard.press('Escape');
  const notes = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
  if (notes.length > 0) throw new CheckFailed(`notifications after the palette commands: ${JSON.stringify(notes)}`);
  ok(`palette: Run Tests in File, Run Affected Tests, Run All Tests; Show Dependencies ${JSON.stringify(deps)}`);

  // 12. "▶ Debug test": a breakpoint on test_add's assert (F9 in the editor); the lens starts
  // `pleat test --debug-adapter` and attaches to debugpy (no Python extension): the session
  // stops at the breakpoint in the workspace file, continues, and pleat ends with the test passed.
  await open('tests/test_ops.py');
  await until('the "▶ Debug test" lens (the extension declares experimental.pleatDebugTest)', async () =>
    (await lenses()).some((t) => t.includes('Debug test')) || { problem: await lenses() }, 30000);
  await page.keyboard.press('Control+G');
  await page.waitForSelector('.quick-input-widget input', { state: 'visible' });
  await page.keyboard.type('5');
  await page.keyboard.press('Enter');
  await page.keyboard.press('F9');
  await until('a breakpoint in the glyph margin', () => page.$('.monaco-editor .codicon-debug-breakpoint'));
  await page.locator('.codelens-decoration a', { hasText: 'Debug test' }).first().click();
  const stop = await until('the debug session stopped at the breakpoint, tests/test_ops.py line 5', () =>
    (state().debug || []).find((e) => e.event === 'stopped' && e.reason === 'breakpoint' && e.line === 5 && e.path === `${ws}/tests/test_ops.py`)
      || { problem: state().debug }, 120000);
  await until('the paused debug toolbar and the stopped line highlighted', async () =>
    (await page.$('.debug-toolbar .codicon-debug-continue')) && (await page.$('.monaco-editor .debug-top-stack-frame-line')));
  await shot('debug-stopped');
  await palette('Debug: Continue');
  const ended = await until('the session ended and pleat exited 0 (the test passed)', () => {
    const events = state().debug || [];
    return (events.some((e) => e.event === 'sessionEnded') && events.find((e) => e.event === 'pleatExited' && e.code === 0)) || { problem: events };
  }, 60000);
  await page.keyboard.press('F9'); // the breakpoint off again
  ok(`"▶ Debug test": stopped at ${stop.path}:${stop.line} (${stop.reason}), continued, pleat exited ${ended.code}`);

  // 13. Export Virtualenv: the export is made and its interpreter offered as the workspace's;
  // agreeing writes python.defaultInterpreterPath (declared here by the stand-in extension in
  // tests/vscode/python-settings, since the Python extension is not installable here).
  await palette('Pleat: Export Virtualenv');
  const interpreter = `${ws}/dist/export/python/virtualenvs/default/`;
  const offer = await until('a notification with the exported interpreter and "Use as the Interpreter"', async () => {
    const texts = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
    return texts.find((t) => t.includes(`Exported: ${interpreter}`) && t.includes('/bin/python') && t.includes('Use as the Interpreter')) || { problem: texts };
  }, 300000);
  if (!fs.existsSync(`${ws}/dist/export/python/virtualenvs/default`)) throw new CheckFailed('no export folder in the workspace');
  await page.locator('.notifications-toasts .notification-toast a.monaco-button', { hasText: 'Use as the Interpreter' }).first().click();
  const answer = await until('python.defaultInterpreterPath set to the exported interpreter', async () => {
    const written = fs.existsSync(`${ws}/.vscode/settings.json`) && fs.readFileSync(`${ws}/.vscode/settings.json`, 'utf8');
    const value = written && JSON.parse(written)['python.defaultInterpreterPath'];
    if (value && value.startsWith(interpreter) && value.endsWith('/bin/python') && fs.existsSync(value)) {
      return `python.defaultInterpreterPath = ${value}`;
    }
    const texts = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
    return { problem: { settings: written, notifications: texts } };
  });
  for (let i = 0; i < 5 && (await page.$('.notifications-toasts .notification-toast')); i++) {
    await palette('Notifications: Clear All Notifications');
  }
  ok(`Export Virtualenv: ${offer.slice(0, 140)}…; ${answer.slice(0, 200)}`);

  // 14. A wrong pleat.path restarts the client and says what to do.
  const settings = JSON.parse(fs.readFileSync(`${ws}/.vscode/settings.json`, 'utf8'));
  fs.writeFileSync(`${ws}/.vscode/settings.json`, JSON.stringify({ ...settings, 'pleat.path': '/nonexistent/pleat' }));
  const toast = await until('an error naming the missing binary', async () => {
    const texts = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
    return texts.find((t) => t.includes('cannot start "/nonexistent/pleat lsp"') && t.includes('pleat.path')) || { problem: texts };
  });
  await until('the status bar item showing the stop', () => state().status === '$(error) Pleat' || { problem: state().status });
  ok(`wrong pleat.path: ${toast.slice(0, 120)}…`);

  // 15. A pleat.path binary of another version than the bundled one: a warning says so.
  fs.writeFileSync(`${ws}/.vscode/settings.json`, JSON.stringify({ ...settings, 'pleat.path': process.env.OTHER_PLEAT }));
  const warning = await until('a warning that pleat.path and the bundled binary differ in version', async () => {
    const texts = await page.$$eval('.notifications-toasts .notification-toast', (els) => els.map((e) => e.textContent));
    return texts.find((t) => t.includes('pleat 0.0.1 (another build)') && t.includes('this extension ships pleat ')) || { problem: texts };
  });
  ok(`pleat.path of another version: ${warning.slice(0, 160)}…`);

  log(`status bar: ${JSON.stringify(await statusBar())}`);
  console.log(`vscode: ${passed} passed, 0 failed`);
} catch (e) {
  await shot('failure').catch(() => undefined);
  fs.writeFileSync(`${out}/failure-state.json`, JSON.stringify(state(), null, 2));
  console.error(`vscode e2e check failed: ${e instanceof CheckFailed ? e.message : e.stack}`);
  console.log(`vscode: ${passed} passed, 1 failed`);
  process.exitCode = 1;
} finally {
  await browser.close();
  fs.rmSync(udd, { recursive: true, force: true });
}
