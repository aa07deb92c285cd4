import * as vscode from 'vscode';
import type { StoreAccess } from '../storeAccess.ts';
import { ComparePanel } from './comparePanel.ts';
import { promptAtCursor } from './slot.ts';
import type { CompletionSources } from './sources.ts';

export function registerCompareCommands(
  context: vscode.ExtensionContext,
  store: StoreAccess,
  log: vscode.LogOutputChannel,
  onJudged: () => void,
  sources: CompletionSources,
): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.compareCompletions', () => {
      const editor = vscode.window.activeTextEditor;
      if (!editor) {
        void vscode.window.showWarningMessage(
          'Prefer: open a file and place the cursor where code should go.',
        );
        return undefined;
      }
      const source = sources.get();
      if (!source) return undefined;
      const { prompt, slot } = promptAtCursor(editor);
      const config = vscode.workspace.getConfiguration('prefer');
      const created = !ComparePanel.current;
      const panel = ComparePanel.show(context, store, log);
      if (created) panel.onDidJudge(onJudged);
      const request = {
        n: config.get<number>('numCandidates', 4),
        temperature: config.get<number>('temperature', 0.9),
        maxTokens: config.get<number>('maxTokens', 64),
      };
      void panel.startRound(prompt, slot, request, source);
      return panel;
    }),
  );
}
