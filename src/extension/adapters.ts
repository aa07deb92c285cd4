import { readFileSync, realpathSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ADAPTER_EXPORT_FORMATS, type AdapterExportFormat, exportAdapter } from '../dpo/adapterTransfer.ts';
import { firstLine } from '../inputError.ts';
import type { Adapter } from '../store/store.ts';
import type { Services } from './services.ts';
import type { StoreAccess } from './storeAccess.ts';

/** A row of the Adapters view: the base model (no adapter) or one adapter version. */
export class AdapterItem extends vscode.TreeItem {
  readonly adapter: Adapter | undefined;

  constructor(adapter: Adapter | undefined, active: boolean) {
    super(adapter ? `v${adapter.version}` : 'Base model', vscode.TreeItemCollapsibleState.None);
    this.adapter = adapter;
    this.contextValue = adapter
      ? active
        ? 'prefer.adapter.active'
        : 'prefer.adapter'
      : active
        ? 'prefer.base.active'
        : 'prefer.base';
    this.iconPath = new vscode.ThemeIcon(
      active ? 'pass-filled' : adapter ? 'circle-outline' : 'circle-large-outline',
    );
    if (!adapter) {
      this.description = active ? 'active' : 'no adapter';
      return;
    }
    const m = adapter.metrics ?? {};
    const num = (k: string) => (typeof m[k] === 'number' ? (m[k] as number) : undefined);
    const accuracy = num('rewards/accuracies');
    const winRate = num('ab/win_rate');
    this.description = [
      active ? 'active' : '',
      accuracy !== undefined ? `held-out acc ${accuracy.toFixed(2)}` : '',
      winRate !== undefined ? `A/B win ${Math.round(winRate * 100)}%` : '',
      adapter.pairCount !== null ? `${adapter.pairCount} pairs` : '',
    ]
      .filter(Boolean)
      .join(' · ');
    const range =
      adapter.dataFrom || adapter.dataTo
        ? `\ndata: ${adapter.dataFrom ?? '…'} – ${adapter.dataTo ?? '…'}`
        : '';
    const metrics = Object.entries(m)
      .map(([k, v]) => `${k}: ${typeof v === 'number' ? Number(v.toFixed(4)) : String(v)}`)
      .join('\n');
    this.tooltip = `adapter v${adapter.version}, trained ${adapter.createdAt}${range}\n${adapter.path}\n${metrics}`;
  }
}

/** The Adapters view: versions with their metrics; activate, roll back, delete, export (PEFT, GGUF, Ollama). */
export class AdaptersView implements vscode.TreeDataProvider<AdapterItem> {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly store: StoreAccess;

  constructor(store: StoreAccess) {
    this.store = store;
  }

  refresh(): void {
    this.changed.fire();
  }

  getTreeItem(item: AdapterItem): AdapterItem {
    return item;
  }

  getChildren(): AdapterItem[] {
    const store = this.store.get();
    const active = store.activeAdapter();
    const versions = store.adapters().reverse();
    return [
      ...versions.map((a) => new AdapterItem(a, a.id === active?.id)),
      new AdapterItem(undefined, !active),
    ];
  }
}

/**
 * Why `adapter` must not be applied to the model at `modelDir`, or undefined when it may: an adapter's LoRA deltas
 * only mean something on the base it was trained on. Compared by the base path its prefer_adapter.json records
 * (hashing a multi-GB model in the extension host is too slow); the engine's hash check at load stays the last word.
 */
export function adapterMismatch(adapter: Adapter, modelDir: string): string | undefined {
  let trainedOn: unknown;
  try {
    trainedOn = (JSON.parse(readFileSync(path.join(adapter.path, 'prefer_adapter.json'), 'utf8')) as Record<string, unknown>)
      .baseModelPath;
  } catch {
    return undefined;
  }
  if (typeof trainedOn !== 'string' || samePath(trainedOn, modelDir)) return undefined;
  return `adapter v${adapter.version} was trained on ${trainedOn}, not on ${modelDir}: it is not applied`;
}

/** The active adapter when it was trained on the model at `modelDir`; undefined samples the base model. */
export function applicableAdapter(adapter: Adapter | undefined, modelDir: string): Adapter | undefined {
  return adapter && !adapterMismatch(adapter, modelDir) ? adapter : undefined;
}

function samePath(a: string, b: string): boolean {
  const real = (p: string) => {
    try {
      return realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

const EXPORT_LABELS: Record<AdapterExportFormat, { label: string; detail: string }> = {
  gguf: { label: 'GGUF LoRA for llama.cpp', detail: 'llama-server -m base.gguf --lora adapter.gguf' },
  ollama: { label: 'Ollama', detail: 'a Modelfile and adapter.gguf: ollama create NAME -f Modelfile' },
  peft: { label: 'PEFT', detail: 'adapter_config.json + adapter_model.safetensors, for PEFT, TRL and vLLM' },
};

async function pickExportFormat(adapter: Adapter): Promise<AdapterExportFormat | undefined> {
  const picked = await vscode.window.showQuickPick(
    ADAPTER_EXPORT_FORMATS.map((format) => ({ format, ...EXPORT_LABELS[format] })),
    { title: `Prefer: export adapter v${adapter.version} as…` },
  );
  return picked?.format;
}

/** The view refreshes with every other change through `onChanged`. */
export function registerAdapterCommands({ context, store, log, onChanged: changed }: Services): AdaptersView {
  const view = new AdaptersView(store);
  const idOf = (item: AdapterItem | { id: number } | undefined) =>
    item instanceof AdapterItem ? item.adapter?.id : item?.id;
  context.subscriptions.push(
    vscode.window.registerTreeDataProvider('prefer.adapters', view),
    vscode.commands.registerCommand('prefer.adapters.refresh', () => view.refresh()),
    vscode.commands.registerCommand('prefer.adapters.activate', (item?: AdapterItem | { id: number }) => {
      const id = idOf(item);
      store.get().activateAdapter(id);
      log.info(id === undefined ? 'adapters: base model active' : `adapters: adapter ${id} active`);
      changed();
    }),
    vscode.commands.registerCommand('prefer.adapters.rollBack', () => {
      const s = store.get();
      const active = s.activeAdapter();
      if (!active)
        return void vscode.window.showInformationMessage('Prefer: the base model is already active.');
      const previous = s
        .adapters()
        .filter((a) => a.version < active.version)
        .at(-1);
      s.activateAdapter(previous?.id);
      void vscode.window.showInformationMessage(
        `Prefer: rolled back to ${previous ? `adapter v${previous.version}` : 'the base model'}.`,
      );
      changed();
    }),
    vscode.commands.registerCommand(
      'prefer.adapters.delete',
      async (item?: AdapterItem | { id: number; confirmed?: boolean }) => {
        const id = idOf(item);
        const adapter = store
          .get()
          .adapters()
          .find((a) => a.id === id);
        if (!adapter) return;
        const confirmed =
          (item && 'confirmed' in item && item.confirmed) ||
          (await vscode.window.showWarningMessage(
            `Delete adapter v${adapter.version} and its files?`,
            { modal: true },
            'Delete',
          )) === 'Delete';
        if (!confirmed) return;
        store.get().deleteAdapter(adapter.id);
        // Only folders Prefer created under its own storage are removed from disk.
        if (path.resolve(adapter.path).startsWith(path.resolve(context.globalStorageUri.fsPath) + path.sep))
          rmSync(adapter.path, { recursive: true, force: true });
        log.info(`adapters: deleted v${adapter.version}`);
        changed();
      },
    ),
    vscode.commands.registerCommand(
      'prefer.adapters.export',
      async (item?: AdapterItem | { id: number; target?: string; format?: AdapterExportFormat }) => {
        const id = idOf(item);
        const adapter =
          store
            .get()
            .adapters()
            .find((a) => a.id === id) ?? store.get().activeAdapter();
        if (!adapter) return void vscode.window.showWarningMessage('Prefer: no adapter to export.');
        const given = item && 'target' in item ? item : undefined;
        const format = given?.format ?? (given?.target ? 'peft' : await pickExportFormat(adapter));
        if (!format) return;
        let target = given?.target;
        if (!target) {
          const picked = await vscode.window.showOpenDialog({
            canSelectFolders: true,
            canSelectFiles: false,
            openLabel: 'Export here',
            title: `Prefer: export adapter v${adapter.version} (${EXPORT_LABELS[format].label})`,
          });
          if (!picked?.[0]) return;
          target = path.join(picked[0].fsPath, `prefer-adapter-v${adapter.version}${format === 'gguf' ? '.gguf' : ''}`);
        }
        const out = target;
        try {
          await vscode.window.withProgress(
            { location: vscode.ProgressLocation.Notification, title: `Prefer: exporting adapter v${adapter.version}…` },
            () => exportAdapter({ dir: adapter.path, format, out }),
          );
        } catch (e) {
          log.error(`adapters: export of v${adapter.version} failed: ${firstLine(e)}`);
          return void vscode.window.showErrorMessage(`Prefer: ${firstLine(e)}`);
        }
        log.info(`adapters: exported v${adapter.version} as ${format} to ${out}`);
        void vscode.window.showInformationMessage(`Prefer: adapter v${adapter.version} exported to ${out} (${EXPORT_LABELS[format].detail}).`);
        return out;
      },
    ),
  );
  return view;
}
