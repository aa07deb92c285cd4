import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeModel, discoverModels, type FoundModel, validateModel } from '../engine/hf/discovery.ts';
import type { Services } from './services.ts';

/** How to get a model when none is on disk: shown to the user, never run. */
export const GET_A_MODEL = {
  ollama: 'ollama pull qwen2.5-coder:1.5b',
  huggingFace: 'huggingface-cli download Qwen/Qwen2.5-Coder-1.5B',
} as const;

/** prefer.selectModel without its picker: from another command, a link, or a test. */
export type SelectModelArgs = { path: string; name?: string } | { bundled: true };

export type ModelChoice = { accepted: true; modelPath: string } | { accepted: false; reason: string };

const NAMES_KEY = 'prefer.modelNames';
const OFFERED_KEY = 'prefer.ownModelOffered';

/** The name a model was chosen under (`qwen2.5-coder:1.5b` for an Ollama blob), else one read from its path. */
export function modelName(context: vscode.ExtensionContext, modelPath: string): string {
  const chosen = context.globalState.get<Record<string, string>>(NAMES_KEY, {})[modelPath];
  if (chosen) return chosen;
  const hubSnapshot = /models--([^/\\]+)[/\\]snapshots[/\\][^/\\]+[/\\]?$/.exec(modelPath);
  return hubSnapshot ? hubSnapshot[1]!.split('--').join('/') : path.basename(modelPath);
}

export function registerModelCommands({ context, log }: Services): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.selectModel', async (args?: SelectModelArgs) => {
      const choice = args ?? (await pickModel(context));
      if (!choice) return undefined;
      if ('bundled' in choice) return useBundledModel();
      const result = await acceptModel(context, choice.path, choice.name);
      log.info(result.accepted ? `model: ${result.modelPath}` : `model refused: ${result.reason}`);
      return result;
    }),
  );
}

/** Validates `modelPath` and stores it, or leaves the setting as it was and says why. */
async function acceptModel(context: vscode.ExtensionContext, modelPath: string, name?: string): Promise<ModelChoice> {
  const check = await validateModel(modelPath);
  if (!check.ok) {
    void vscode.window.showErrorMessage(`Prefer: ${check.reason}. The model is unchanged.`);
    return { accepted: false, reason: check.reason };
  }
  const names = context.globalState.get<Record<string, string>>(NAMES_KEY, {});
  await context.globalState.update(NAMES_KEY, { ...names, [check.model.path]: name ?? modelName(context, check.model.path) });
  await modelSetting().update('modelPath', check.model.path, settingTarget());
  void vscode.window.showInformationMessage(
    `Prefer: now using ${modelName(context, check.model.path)} (${describeModel(check.model)}).`,
  );
  return { accepted: true, modelPath: check.model.path };
}

/** Clears `prefer.modelPath` wherever it is set, so the bundled default applies. */
async function useBundledModel(): Promise<ModelChoice> {
  const inspected = modelSetting().inspect<string>('modelPath');
  if (inspected?.workspaceValue !== undefined)
    await modelSetting().update('modelPath', undefined, vscode.ConfigurationTarget.Workspace);
  if (inspected?.globalValue !== undefined)
    await modelSetting().update('modelPath', undefined, vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage('Prefer: using the bundled demo model.');
  return { accepted: true, modelPath: '' };
}

const modelSetting = () => vscode.workspace.getConfiguration('prefer');

/** Where the setting in effect comes from: a workspace value would hide a change to the user's settings. */
function settingTarget(): vscode.ConfigurationTarget {
  return modelSetting().inspect<string>('modelPath')?.workspaceValue !== undefined
    ? vscode.ConfigurationTarget.Workspace
    : vscode.ConfigurationTarget.Global;
}

interface ModelPick extends vscode.QuickPickItem {
  action?: 'folder' | 'gguf' | 'bundled' | 'howTo';
  model?: FoundModel;
}

/** The quick pick: models found on disk (the ones Prefer cannot run marked, with the reason), browse, the default. */
async function pickModel(context: vscode.ExtensionContext): Promise<SelectModelArgs | undefined> {
  const picked = await vscode.window.showQuickPick(modelPicks(), {
    title: 'Prefer: choose a model',
    placeHolder: 'Models found in Ollama, the Hugging Face cache and LM Studio, or browse',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!picked) return undefined;
  if (picked.model?.unsupported) {
    void vscode.window.showWarningMessage(`Prefer: ${picked.model.name} cannot be used: ${picked.model.unsupported}. The model is unchanged.`);
    return undefined;
  }
  if (picked.model) return { path: picked.model.path, name: picked.model.name };
  if (picked.action === 'bundled') return { bundled: true };
  if (picked.action === 'howTo') {
    await openModelWalkthrough(context);
    return undefined;
  }
  const gguf = picked.action === 'gguf';
  const uri = await vscode.window.showOpenDialog({
    canSelectFiles: gguf,
    canSelectFolders: !gguf,
    canSelectMany: false,
    openLabel: 'Use this model',
    title: gguf ? 'Prefer: choose a .gguf model file' : 'Prefer: choose a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)',
    ...(gguf ? { filters: { 'GGUF models': ['gguf'] } } : {}),
  });
  return uri?.[0] && { path: uri[0].fsPath };
}

async function modelPicks(): Promise<ModelPick[]> {
  const found = await discoverModels();
  const runnable = found.filter((m) => !m.unsupported);
  const refused = found.filter((m) => m.unsupported);
  const separator = (label: string): ModelPick => ({ label, kind: vscode.QuickPickItemKind.Separator });
  return [
    ...(runnable.length ? [separator('Found on this computer'), ...runnable.map(foundPick)] : []),
    ...(found.length === 0
      ? [{ label: '$(info) No models found on this computer', description: 'how to get one', action: 'howTo' as const }]
      : []),
    separator('Other'),
    { label: '$(folder-opened) Browse for a checkpoint folder…', description: 'config.json, *.safetensors, tokenizer.json', action: 'folder' },
    { label: '$(file) Browse for a .gguf file…', action: 'gguf' },
    { label: '$(package) Use the bundled default', description: 'the small demo model Prefer ships', action: 'bundled' },
    ...(refused.length ? [separator('Found, but Prefer cannot run them'), ...refused.map(foundPick)] : []),
  ];
}

function foundPick(model: FoundModel): ModelPick {
  return {
    label: model.unsupported ? `$(circle-slash) ${model.name}` : model.name,
    description: `${describeModel(model)} · ${SOURCE_NAMES[model.source]}`,
    detail: model.unsupported ? `Not supported: ${model.unsupported}` : model.path,
    model,
  };
}

const SOURCE_NAMES: Record<FoundModel['source'], string> = {
  ollama: 'Ollama',
  huggingface: 'Hugging Face cache',
  lmstudio: 'LM Studio',
};

function openModelWalkthrough(context: vscode.ExtensionContext): Thenable<unknown> {
  const category = `${context.extension.id}#prefer.gettingStarted`;
  return vscode.commands.executeCommand('workbench.action.openWalkthrough', { category, step: `${category}#model` }, false);
}

/**
 * Once, while the bundled demo model is in use: "Use your own model", naming what was found on disk, or how to
 * get one. Remembered in globalState so it never comes back.
 */
export async function offerOwnModel(context: vscode.ExtensionContext, usingDemoModel: boolean): Promise<void> {
  if (!usingDemoModel || context.globalState.get<boolean>(OFFERED_KEY)) return;
  await context.globalState.update(OFFERED_KEY, true);
  const runnable = (await discoverModels()).filter((m) => !m.unsupported);
  const names = runnable.slice(0, 3).map((m) => m.name).join(', ') + (runnable.length > 3 ? ', …' : '');
  const message = runnable.length
    ? `Prefer is using its small demo model. Use your own model: found ${names}.`
    : `Prefer is using its small demo model. Use your own model: get one with "${GET_A_MODEL.ollama}" or "${GET_A_MODEL.huggingFace}", then Select Model.`;
  const action = await vscode.window.showInformationMessage(message, 'Select Model', 'Show Me How');
  if (action === 'Select Model') await vscode.commands.executeCommand('prefer.selectModel');
  if (action === 'Show Me How') await openModelWalkthrough(context);
}
