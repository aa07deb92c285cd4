import * as vscode from 'vscode';

/**
 * Commands whose core is not built yet. They are declared in package.json so that keybindings, menus and
 * the walkthrough can refer to them; each says plainly what it will do instead of failing silently.
 */
const pending: Record<string, string> = {
  'prefer.trainDpoRound': 'Training a DPO round needs the training engine, which is not part of this build yet.',
};

export function registerPendingCommands(context: vscode.ExtensionContext): void {
  for (const [id, message] of Object.entries(pending)) {
    context.subscriptions.push(
      vscode.commands.registerCommand(id, () => {
        void vscode.window.showWarningMessage(`Prefer: ${message}`);
        return undefined;
      }),
    );
  }
}
