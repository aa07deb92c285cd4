import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { isDevice } from '../../engine/runtime/providers.ts';
import { EngineSource, type EngineSettings } from './engineSource.ts';

/** The folder of the model to sample from: `prefer.modelPath`, else the default model shipped in the extension. */
export function configuredModelDir(context: vscode.ExtensionContext): string | undefined {
  const configured = vscode.workspace.getConfiguration('prefer').get<string>('modelPath', '').trim();
  if (configured) {
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return path.isAbsolute(configured) || !folder ? configured : path.join(folder, configured);
  }
  const bundled = path.join(context.extensionPath, 'models', 'default');
  return existsSync(path.join(bundled, 'config.json')) ? bundled : undefined;
}

function engineSettings(modelDir: string): EngineSettings {
  const config = vscode.workspace.getConfiguration('prefer');
  const device = config.get<string>('device', 'auto');
  const seed = config.get<number>('seed', -1);
  return {
    modelDir,
    // 'auto' stays on the CPU until a GPU adapter has been measured to be faster for this model.
    device: isDevice(device) ? device : 'cpu',
    seed: Number.isInteger(seed) && seed >= 0 ? seed : undefined,
  };
}

/** One engine per (model, device, seed): reused across prompts, replaced when the settings change. */
export class CompletionSources implements vscode.Disposable {
  private current: EngineSource | undefined;
  private readonly context: vscode.ExtensionContext;
  private readonly log: vscode.LogOutputChannel;

  constructor(context: vscode.ExtensionContext, log: vscode.LogOutputChannel) {
    this.context = context;
    this.log = log;
  }

  /** The engine for the configured model, or undefined (with the reason shown) when there is none. */
  get(): EngineSource | undefined {
    const modelDir = configuredModelDir(this.context);
    if (!modelDir) {
      void vscode.window
        .showWarningMessage('Prefer: no model configured. Choose a Hugging Face checkpoint folder.', 'Select Model')
        .then((a) => a && vscode.commands.executeCommand('prefer.selectModel'));
      return undefined;
    }
    const wanted = engineSettings(modelDir);
    const s = this.current?.settings;
    if (!s || s.modelDir !== wanted.modelDir || s.device !== wanted.device || s.seed !== wanted.seed) {
      this.current?.dispose();
      this.current = new EngineSource(wanted, this.log);
    }
    return this.current;
  }

  dispose(): void {
    this.current?.dispose();
    this.current = undefined;
  }
}
