import * as vscode from 'vscode';

export function registerModelCommands(context: vscode.ExtensionContext): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.selectModel', async () => {
      const picked = await vscode.window.showOpenDialog({
        canSelectFiles: false,
        canSelectFolders: true,
        canSelectMany: false,
        openLabel: 'Use this model',
        title: 'Prefer: choose a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)',
      });
      const folder = picked?.[0];
      if (!folder) return undefined;
      await vscode.workspace
        .getConfiguration('prefer')
        .update('modelPath', folder.fsPath, vscode.ConfigurationTarget.Global);
      void vscode.window.showInformationMessage(`Prefer: model set to ${folder.fsPath}`);
      return folder.fsPath;
    }),
  );
}
