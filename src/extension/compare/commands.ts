import * as vscode from 'vscode';
import type { StoreAccess } from '../storeAccess.ts';
import { ComparePanel, promptAtCursor } from './comparePanel.ts';

export function registerCompareCommands(
  context: vscode.ExtensionContext,
  store: StoreAccess,
  log: vscode.LogOutputChannel,
): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.compareCompletions', () => {
      const editor = vscode.window.activeTextEditor;
      const prompt = editor ? promptAtCursor(editor) : { prefix: '', suffix: '' };
      const n = vscode.workspace.getConfiguration('prefer').get<number>('numCandidates', 4);
      const panel = ComparePanel.show(context, store, log);
      panel.startRound(prompt, n);
      return panel;
    }),
  );
}
