import * as vscode from 'vscode';
import { adapterMismatch } from './adapters.ts';
import { configuredModelDir, usesBundledModel } from './compare/sources.ts';
import { modelName } from './model.ts';
import type { StoreAccess } from './storeAccess.ts';

const DEMO_MODEL_NOTE =
  'the small demo model bundled with Prefer: enough to try judging and training, not to write useful code. Run "Prefer: Select Model" to use your own.';

/** "Prefer: <model or demo model> · <adapter, base, or adapter not applied> · <pairs>" — click to compare at the cursor. */
export class PreferStatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(
    'prefer.status',
    vscode.StatusBarAlignment.Right,
    100,
  );
  private readonly context: vscode.ExtensionContext;
  private readonly store: StoreAccess;
  private readonly log: vscode.LogOutputChannel;
  private readonly listener: vscode.Disposable;

  constructor(context: vscode.ExtensionContext, store: StoreAccess, log: vscode.LogOutputChannel) {
    this.context = context;
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

  /** What the item shows now (the tests read it). */
  get text(): string {
    return this.item.text;
  }

  get tooltip(): string {
    return String(this.item.tooltip ?? '');
  }

  refresh(): void {
    const modelDir = configuredModelDir(this.context);
    const demo = usesBundledModel(this.context);
    const model = demo ? 'demo model' : modelDir ? modelName(this.context, modelDir) : 'no model';
    let pairs = '?';
    let adapter = 'base';
    let mismatch: string | undefined;
    try {
      const store = this.store.get();
      pairs = String(store.stats().pairs);
      const active = store.activeAdapter();
      mismatch = active && modelDir ? adapterMismatch(active, modelDir) : undefined;
      adapter = !active ? 'base' : mismatch ? `adapter v${active.version} not applied` : `adapter v${active.version}`;
    } catch (e) {
      this.log.warn(`status bar: could not read the store: ${(e as Error).message}`);
    }
    this.item.text = `$(checklist) ${model} · ${adapter} · ${pairs} pairs`;
    this.item.tooltip = [
      `Prefer — model: ${demo ? DEMO_MODEL_NOTE : (modelDir ?? 'none')}`,
      `adapter: ${mismatch ?? adapter}`,
      `pairs stored: ${pairs}`,
      'Click to compare completions at the cursor.',
    ].join('\n');
  }

  dispose(): void {
    this.listener.dispose();
    this.item.dispose();
  }
}
