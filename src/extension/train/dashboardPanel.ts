import * as vscode from 'vscode';
import { DASHBOARD_BODY } from '../../../webview/dashboard/markup.ts';
import { type DashboardMessage, parseDashboardMessage } from '../../../webview/protocol/dashboard.ts';
import { createPreferPanel, webviewHtml } from '../webviewHtml.ts';

/** The live training dashboard: charts of the round's metrics, and a cancel button. */
export class DashboardPanel {
  static readonly viewType = 'prefer.trainingDashboard';
  readonly panel: vscode.WebviewPanel;
  private ready = false;
  private readonly queue: DashboardMessage[] = [];
  private readonly cancelRequested = new vscode.EventEmitter<void>();
  readonly onDidRequestCancel = this.cancelRequested.event;
  /** Every message sent, for the panel's (re)load and for tests. */
  readonly sent: DashboardMessage[] = [];

  constructor(context: vscode.ExtensionContext, log: vscode.LogOutputChannel) {
    this.panel = createPreferPanel(context, DashboardPanel.viewType, 'Prefer: Training', true);
    this.panel.webview.html = webviewHtml(this.panel.webview, context.extensionUri, {
      title: 'Prefer: Training',
      script: 'dashboard.js',
      style: 'dashboard.css',
      body: DASHBOARD_BODY,
    });
    this.panel.webview.onDidReceiveMessage((raw: unknown) => {
      const m = parseDashboardMessage(raw);
      if ('invalid' in m) return log.warn(`training dashboard: dropped a malformed message (${m.invalid})`);
      if (m.type === 'ready') {
        this.ready = true;
        for (const queued of this.queue.splice(0)) void this.panel.webview.postMessage(queued);
      } else this.cancelRequested.fire();
    });
    this.panel.onDidDispose(() => this.cancelRequested.dispose());
  }

  post(message: DashboardMessage): void {
    this.sent.push(message);
    if (this.ready) void this.panel.webview.postMessage(message);
    else this.queue.push(message);
  }
}
