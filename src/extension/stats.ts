import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import { rateInWords } from '../dpo/interval.ts';
import type { StatsReport } from '../store/store.ts';
import { STATS_BODY } from '../../webview/stats/markup.ts';
import { type StatsMessage, type StatsView, parseStatsMessage } from '../../webview/protocol/stats.ts';
import type { Services } from './services.ts';
import type { StoreAccess } from './storeAccess.ts';
import { createPreferPanel, webviewHtml } from './webviewHtml.ts';

/** Another process (the CLI, a second window) writing the store is seen within this long. */
const WATCH_DEBOUNCE_MS = 300;

const rows = (counts: Record<string, number>) => Object.entries(counts).sort((a, b) => b[1] - a[1]);

/** The report in the view's terms: rates in words with their n and 95 % interval. */
export function statsView(report: StatsReport, databasePath: string): StatsView {
  return {
    databasePath,
    totals: { pairs: report.pairs, comparisons: report.comparisons, prompts: report.prompts, adapters: report.adapters },
    pairsByDay: report.pairsByDay,
    bySource: rows(report.pairsBySource),
    byOutcome: rows(report.pairsByOutcome),
    byLanguage: rows(report.pairsByLanguage),
    runs: report.runs.map((r) => ({
      id: r.id,
      status: r.status,
      startedAt: r.startedAt.slice(0, 16).replace('T', ' '),
      steps: r.steps,
      adapter: r.adapterVersion === null ? '—' : `v${r.adapterVersion}`,
      heldOutAccuracy: !r.heldOut
        ? 'no held-out pairs'
        : r.heldOut.pairs === null
          ? `${Math.round(r.heldOut.accuracy * 100)} % (n not recorded)`
          : rateInWords(Math.round(r.heldOut.accuracy * r.heldOut.pairs), r.heldOut.pairs),
    })),
    ab: report.abRecords.map((a) => ({
      adapter: `v${a.version}${a.active ? ' (active)' : ''}`,
      wins: a.wins,
      losses: a.losses,
      ties: a.ties,
      winRate: rateInWords(a.wins, a.wins + a.losses),
    })),
  };
}

/** The Show Stats view: what the store holds, read again when it changes or on Refresh. */
class StatsPanel {
  static current: StatsPanel | undefined;
  readonly panel: vscode.WebviewPanel;
  private ready = false;
  private watcher: { path: string; fs: FSWatcher | undefined; timer?: NodeJS.Timeout } | undefined;
  private readonly store: StoreAccess;
  private readonly log: vscode.LogOutputChannel;

  constructor(context: vscode.ExtensionContext, store: StoreAccess, log: vscode.LogOutputChannel) {
    this.store = store;
    this.log = log;
    this.panel = createPreferPanel(context, 'prefer.stats', 'Prefer: Stats', false);
    this.panel.webview.html = webviewHtml(this.panel.webview, context.extensionUri, {
      title: 'Prefer: Stats',
      script: 'stats.js',
      style: 'stats.css',
      body: STATS_BODY,
    });
    this.panel.webview.onDidReceiveMessage((raw: unknown) => void this.receive(raw));
    this.panel.onDidChangeViewState(() => this.panel.visible && this.refresh());
    const moved = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('prefer.databasePath')) this.refresh();
    });
    this.panel.onDidDispose(() => {
      moved.dispose();
      this.unwatch();
      if (StatsPanel.current === this) StatsPanel.current = undefined;
    });
  }

  private async receive(raw: unknown): Promise<void> {
    const m = parseStatsMessage(raw);
    if ('invalid' in m) return this.log.warn(`stats view: dropped a malformed message (${m.invalid})`);
    if (m.type === 'ready') this.ready = true;
    if (m.type !== 'reveal') {
      this.refresh();
      return;
    }
    const file = vscode.Uri.file(this.store.databasePath);
    try {
      await vscode.commands.executeCommand('revealFileInOS', file);
    } catch (e) {
      // A browser-hosted editor has no file manager to open: say where the file is instead.
      this.log.warn(`stats view: could not reveal the database: ${(e as Error).message}`);
      void vscode.window.showInformationMessage(`Prefer: the database is ${file.fsPath}`);
    }
  }

  /** Reads the store and sends the view; a store that cannot be read is said in the view, not thrown. */
  refresh(): StatsReport | undefined {
    this.watchDatabase();
    if (!this.ready) return undefined;
    let message: StatsMessage;
    let report: StatsReport | undefined;
    try {
      report = this.store.get().statsReport();
      message = { type: 'stats', view: statsView(report, this.store.databasePath) };
    } catch (e) {
      message = { type: 'error', message: (e as Error).message };
    }
    void this.panel.webview.postMessage(message);
    return report;
  }

  /** Watches the database's folder for writes to its file or WAL by any process. */
  private watchDatabase(): void {
    const path = this.store.databasePath;
    if (this.watcher?.path === path) return;
    this.unwatch();
    let fs: FSWatcher | undefined;
    try {
      fs = watch(dirname(path), (_event, name) => {
        if (!name?.startsWith(basename(path)) || !this.watcher) return;
        clearTimeout(this.watcher.timer);
        this.watcher.timer = setTimeout(() => this.panel.visible && this.refresh(), WATCH_DEBOUNCE_MS);
      });
    } catch (e) {
      // No folder yet (nothing stored): the view refreshes on the window's own changes and on Refresh.
      this.log.info(`stats view: not watching ${path}: ${(e as Error).message}`);
    }
    this.watcher = { path, fs };
  }

  private unwatch(): void {
    clearTimeout(this.watcher?.timer);
    this.watcher?.fs?.close();
    this.watcher = undefined;
  }
}

/** Prefer: Show Stats opens (or brings forward) the view and returns the report it shows. */
export function registerStatsCommand({ context, store, log }: Services): { refresh(): void } {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.showStats', () => {
      if (StatsPanel.current) StatsPanel.current.panel.reveal(undefined, false);
      else StatsPanel.current = new StatsPanel(context, store, log);
      StatsPanel.current.refresh();
      return store.get().statsReport();
    }),
  );
  return { refresh: () => StatsPanel.current?.refresh() };
}
