import * as path from 'node:path';
import * as vscode from 'vscode';
import type { StoreAccess } from './storeAccess.ts';

/** "Prefer: <model> · <adapter or base> · <pairs>" — click to compare at the cursor. */
export class PreferStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'prefer.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  private readonly store: StoreAccess;
  private readonly log: vscode.LogOutputChannel;
  private readonly listener: vscode.Disposable;

  constructor(store: StoreAccess, log: vscode.LogOutputChannel) {
    this.store = store;
    this.log = log;
    this.item.name = 'Prefer';
    this.item.command = 'prefer.compareCompletions';
    this.listener = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('prefer')) this.refresh();
    });
    this.refresh();
    this.item.show();
  }

  refresh(): void {
    const modelPath = vscode.workspace.getConfiguration('prefer').get<string>('modelPath', '').trim();
    const model = modelPath ? path.basename(modelPath) : 'default model';
    let pairs = '?';
    let adapter = 'base';
    try {
      const store = this.store.get();
      pairs = String(store.stats().pairs);
      const active = store.activeAdapter();
      adapter = active ? `adapter v${active.version}` : 'base';
    } catch (e) {
      this.log.warn(`status bar: could not read the store: ${(e as Error).message}`);
    }
    this.item.text = `$(checklist) ${model} · ${adapter} · ${pairs} pairs`;
    this.item.tooltip = `Prefer — model: ${modelPath || 'bundled default'}\nadapter: ${adapter}\npairs stored: ${pairs}\nClick to compare completions at the cursor.`;
  }

  dispose(): void {
    this.listener.dispose();
    this.item.dispose();
  }
}
