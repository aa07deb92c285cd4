import * as vscode from 'vscode';
import type { StoreAccess } from './storeAccess.ts';

export function registerStatsCommand(context: vscode.ExtensionContext, store: StoreAccess): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.showStats', () => {
      const s = store.get().stats();
      const sources = Object.entries(s.pairsBySource)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ');
      void vscode.window.showInformationMessage(
        `Prefer: ${s.pairs} pairs from ${s.comparisons} comparisons over ${s.prompts} prompts` +
          (sources ? ` (${sources})` : '') +
          '.',
      );
      return s;
    }),
  );
}
