import * as vscode from 'vscode';
import { bundledModelDir } from '../../engine/hf/bundledModel.ts';
import { isDevice } from '../../engine/runtime/providers.ts';
import { isWeightChoice } from '../../engine/sample/engine.ts';
import { applicableAdapter } from '../adapters.ts';
import { configuredPath } from '../settingsPath.ts';
import type { StoreAccess } from '../storeAccess.ts';
import { EngineSource, type EngineSettings } from './engineSource.ts';

/** The folder of the model to sample from: `prefer.modelPath`, else the default model shipped in the extension. */
export function configuredModelDir(context: vscode.ExtensionContext): string | undefined {
  const configured = configuredPath('modelPath');
  if (configured) return configured;
  return bundledModelDir(context.extensionPath);
}

/** Whether sampling uses the demo model shipped in the extension: no `prefer.modelPath`, and one is bundled. */
export function usesBundledModel(context: vscode.ExtensionContext): boolean {
  return configuredPath('modelPath') === undefined && bundledModelDir(context.extensionPath) !== undefined;
}

function engineSettings(modelDir: string, store: StoreAccess, base: boolean): EngineSettings {
  const active = base ? undefined : applicableAdapter(store.get().activeAdapter(), modelDir);
  const config = vscode.workspace.getConfiguration('prefer');
  const device = config.get<string>('device', 'auto');
  const seed = config.get<number>('seed', -1);
  const weights = config.get<string>('weights', 'auto');
  return {
    modelDir,
    adapter: active && { id: active.id, version: active.version, dir: active.path },
    // 'auto' stays on the CPU until a GPU adapter has been measured to be faster for this model.
    device: isDevice(device) ? device : 'cpu',
    weights: isWeightChoice(weights) ? weights : 'auto',
    seed: Number.isInteger(seed) && seed >= 0 ? seed : undefined,
  };
}

const sameSettings = (a: EngineSettings, b: EngineSettings) =>
  a.modelDir === b.modelDir &&
  a.device === b.device &&
  a.weights === b.weights &&
  a.seed === b.seed &&
  a.adapter?.id === b.adapter?.id;

/**
 * One engine per (model, adapter, device, seed): reused across prompts, replaced when they change. Blind A/B
 * keeps a second one for the base model beside the one with the active adapter.
 */
export class CompletionSources implements vscode.Disposable {
  private current: EngineSource | undefined;
  private base: EngineSource | undefined;
  private readonly context: vscode.ExtensionContext;
  private readonly log: vscode.LogOutputChannel;
  private readonly store: StoreAccess;

  constructor(context: vscode.ExtensionContext, store: StoreAccess, log: vscode.LogOutputChannel) {
    this.context = context;
    this.store = store;
    this.log = log;
  }

  /** The base model without any adapter (for blind A/B), or undefined when no model is configured. */
  baseModel(): EngineSource | undefined {
    const modelDir = configuredModelDir(this.context);
    if (!modelDir) return undefined;
    const wanted = engineSettings(modelDir, this.store, true);
    if (!this.base || !sameSettings(this.base.settings, wanted)) {
      this.base?.dispose();
      this.base = new EngineSource(wanted, this.log);
    }
    return this.base;
  }

  /** The engine for the configured model and active adapter, or undefined (with the reason shown). */
  get(): EngineSource | undefined {
    const modelDir = configuredModelDir(this.context);
    if (!modelDir) {
      void vscode.window
        .showWarningMessage(
          'Prefer: no model configured. Choose a Hugging Face checkpoint folder.',
          'Select Model',
        )
        .then((a) => a && vscode.commands.executeCommand('prefer.selectModel'));
      return undefined;
    }
    const wanted = engineSettings(modelDir, this.store, false);
    if (!this.current || !sameSettings(this.current.settings, wanted)) {
      this.current?.dispose();
      this.current = new EngineSource(wanted, this.log);
    }
    return this.current;
  }

  dispose(): void {
    this.current?.dispose();
    this.base?.dispose();
    this.current = undefined;
    this.base = undefined;
  }
}
