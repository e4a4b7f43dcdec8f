// status.ts owns the status bar item: what the server says it is doing (`pleat/status`:
// indexing, running, idle with the last run's counts), and whether it runs at all.
import * as vscode from 'vscode';

export interface ServerStatus {
  state: 'indexing' | 'running' | 'idle';
  message: string;
  passed?: number;
  failed?: number;
  /** The interpreter of the workspace's exported virtualenv (`pleat export`), if any. */
  exportedPython?: string;
}

export class StatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('pleat.status', vscode.StatusBarAlignment.Left, 10);

  constructor() {
    this.item.name = 'Pleat';
    this.item.command = 'pleat.vscode.showOutput';
    this.starting();
    this.item.show();
  }

  starting(): void {
    this.set('$(loading~spin) Pleat', 'Pleat: starting the server');
  }

  stopped(reason: string): void {
    this.set('$(error) Pleat', `Pleat: ${reason}. Click for the log; "Pleat: Restart Server" starts it again.`);
    this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
  }

  update(status: ServerStatus): void {
    switch (status.state) {
      case 'indexing':
        this.set('$(sync~spin) Pleat: indexing…', status.message);
        break;
      case 'running':
        this.set(`$(sync~spin) Pleat: ${status.message}`, status.message);
        break;
      default:
        if (status.passed !== undefined || status.failed !== undefined) {
          const failed = status.failed ?? 0;
          this.set(`$(check) ${status.passed ?? 0} $(x) ${failed}`, `Pleat: ${status.message}`);
          if (failed > 0) {
            this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
          }
        } else {
          this.set('$(check) Pleat', `Pleat: ${status.message}`);
        }
    }
    if (status.exportedPython) {
      this.item.tooltip = `${String(this.item.tooltip)}\nExported interpreter: ${status.exportedPython}`;
    }
  }

  /** The item's text, for the end-to-end test's dump. */
  get text(): string {
    return this.item.text;
  }

  private set(text: string, tooltip: string): void {
    this.item.text = text;
    this.item.tooltip = tooltip;
    this.item.backgroundColor = undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}
