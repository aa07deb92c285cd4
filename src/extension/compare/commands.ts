import * as vscode from 'vscode';
import type { Services } from '../services.ts';
import { ComparePanel } from './comparePanel.ts';
import type { PanelMode } from '../../../webview/protocol/compare.ts';
import { type CompletionSource, MixedSource } from './completionSource.ts';
import { promptAtCursor } from './slot.ts';
import type { CompletionSources } from './sources.ts';

export function registerCompareCommands(
  { context, store, log, onChanged: onJudged }: Services,
  sources: CompletionSources,
): void {
  // The compare panel takes keyboard focus, and a focused webview leaves no active text editor: a compare asked
  // for from there (the palette, a test) goes to the editor that was active last, while it is still shown.
  let lastEditor = vscode.window.activeTextEditor;
  context.subscriptions.push(
    vscode.window.onDidChangeActiveTextEditor((editor) => {
      if (editor) lastEditor = editor;
    }),
  );
  const targetEditor = () =>
    vscode.window.activeTextEditor ??
    (lastEditor && vscode.window.visibleTextEditors.includes(lastEditor) ? lastEditor : undefined);
  const compare = (mode: PanelMode) => {
    const editor = targetEditor();
    if (!editor) {
      void vscode.window.showWarningMessage('Prefer: open a file and place the cursor where code should go.');
      return undefined;
    }
    const tuned = sources.get();
    if (!tuned) return undefined;
    let source: CompletionSource = tuned;
    if (mode === 'blind-ab') {
      const base = sources.baseModel();
      if (!base || !tuned.settings.adapter) {
        void vscode.window.showWarningMessage(
          'Prefer: blind A/B compares the active adapter with the base model; train or activate an adapter first.',
        );
        return undefined;
      }
      source = new MixedSource(base, tuned);
    }
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
    void panel.startRound(prompt, slot, request, source, mode);
    return panel;
  };
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.compareCompletions', () => compare('compare')),
    vscode.commands.registerCommand('prefer.compareBlindAB', () => compare('blind-ab')),
  );
}
