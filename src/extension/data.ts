import * as path from 'node:path';
import * as vscode from 'vscode';
import { KTO_FORMAT, exportKto } from '../io/exportKto.ts';
import { exportPairs, tiesFileFor } from '../io/exportPairs.ts';
import { FORMAT_NAMES, type FormatName } from '../io/formats.ts';
import { importPairs } from '../io/importPairs.ts';
import type { Services } from './services.ts';

/** An AbortSignal that fires when the user cancels the progress notification. */
export function abortOn(token: vscode.CancellationToken): AbortSignal {
  const controller = new AbortController();
  token.onCancellationRequested(() => controller.abort());
  return controller.signal;
}

type ExportFormat = FormatName | typeof KTO_FORMAT;
const EXPORT_FORMATS: readonly ExportFormat[] = [...FORMAT_NAMES, KTO_FORMAT];

const FORMAT_LABELS: Record<ExportFormat, string> = {
  trl: 'TRL (prompt / chosen / rejected)',
  'trl-conversational': 'TRL conversational (role/content messages)',
  openai: 'OpenAI DPO fine-tuning',
  [KTO_FORMAT]: 'TRL unpaired (prompt / completion / label, for KTO)',
};

/** Whether the last export left out file paths and workspace names; private until the user unticks it. */
const EXPORT_PRIVATE = 'prefer.export.private';

/** Prefer: Export Pairs / Import Pairs — file pickers and progress around src/io. */
export function registerDataCommands({ context, store, log, onChanged }: Services): void {
  context.subscriptions.push(
    vscode.commands.registerCommand('prefer.exportPairs', async () => {
      const format = await vscode.window.showQuickPick(
        EXPORT_FORMATS.map((f) => ({ label: FORMAT_LABELS[f], format: f })),
        // Kept open when focus moves: asked from the palette over a focused panel, the panel takes focus back as
        // the palette closes, which would dismiss the pick before the user saw it.
        { title: 'Prefer: export pairs as', placeHolder: 'JSONL format', ignoreFocusOut: true },
      );
      if (!format) return undefined;
      const options = await vscode.window.showQuickPick(
        [
          {
            label: 'Private',
            description: 'leave out file paths and workspace names',
            key: 'private' as const,
            picked: context.globalState.get<boolean>(EXPORT_PRIVATE, true),
          },
          ...(format.format === KTO_FORMAT
            ? []
            : [
                {
                  label: 'Include ties and both-bad',
                  description: 'to a separate .ties.jsonl file (they are not DPO pairs)',
                  key: 'ties' as const,
                },
              ]),
        ],
        {
          title: 'Prefer: export options',
          canPickMany: true,
          ignoreFocusOut: true,
          placeHolder: 'Enter to export with the options ticked',
        },
      );
      if (!options) return undefined;
      const keys = new Set(options.map((o) => o.key));
      await context.globalState.update(EXPORT_PRIVATE, keys.has('private'));
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const target = await vscode.window.showSaveDialog({
        title: 'Prefer: export pairs',
        filters: { 'JSON Lines': ['jsonl'] },
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, `prefer-pairs.${format.format}.jsonl`) } : {}),
      });
      if (!target) return undefined;
      const result = await vscode.window
        .withProgress(
          { location: vscode.ProgressLocation.Notification, title: 'Prefer: exporting pairs' },
          async (progress) => {
            const common = { private: keys.has('private'), force: true }; // the save dialog has asked before replacing a file
            if (format.format === KTO_FORMAT) {
              const counts = exportKto(store.get(), target.fsPath, common);
              return { exported: counts.exported, unit: 'labelled completions', ties: undefined };
            }
            const pairs = exportPairs(store.get(), target.fsPath, {
              ...common,
              format: format.format,
              includeTies: keys.has('ties'),
              onProgress: (done, total) => progress.report({ message: `${done} / ${total}` }),
            });
            return { ...pairs, unit: 'pairs' };
          },
        )
        .then(undefined, (e: unknown) => {
          // Refused (the database itself, a folder) or failed: nothing was written.
          void vscode.window.showErrorMessage(`Prefer: ${(e as Error).message}`);
          return undefined;
        });
      if (!result) return undefined;
      log.info(`exported ${result.exported} ${result.unit} (${format.format}) to ${target.fsPath}`);
      const ties = result.ties
        ? ` and ${result.ties.exported} ties/both-bad to ${path.basename(tiesFileFor(target.fsPath))}`
        : '';
      void vscode.window
        .showInformationMessage(
          `Prefer: exported ${result.exported} ${result.unit} to ${path.basename(target.fsPath)}${ties}.`,
          'Open',
        )
        .then((a) => a && vscode.window.showTextDocument(target));
      return result;
    }),

    vscode.commands.registerCommand('prefer.importPairs', async () => {
      const picked = await vscode.window.showOpenDialog({
        title: 'Prefer: import pairs (TRL, TRL conversational or OpenAI DPO JSONL)',
        canSelectMany: false,
        filters: { 'JSON Lines': ['jsonl', 'json'], 'All files': ['*'] },
      });
      const file = picked?.[0];
      if (!file) return undefined;
      const result = await vscode.window
        .withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: `Prefer: importing ${path.basename(file.fsPath)}`,
            cancellable: true,
          },
          (progress, token) =>
            importPairs(store.get(), file.fsPath, {
              onProgress: (lines) => progress.report({ message: `${lines} lines read` }),
              signal: abortOn(token),
            }),
        )
        .then(undefined, (e: unknown) => {
          // Batches already committed stay; importing the file again completes it without duplicates.
          onChanged();
          void vscode.window.showWarningMessage(`Prefer: ${(e as Error).message}`);
          return undefined;
        });
      if (!result) return undefined;
      onChanged();
      for (const e of result.errors) log.warn(`${file.fsPath}:${e.line}: ${e.message}`);
      const summary = `imported ${result.imported} pairs (${result.format ?? 'no format detected'}), ${result.skipped} already stored`;
      log.info(`${file.fsPath}: ${summary}, ${result.errorCount} bad lines`);
      if (result.errorCount > 0) {
        void vscode.window
          .showWarningMessage(
            `Prefer: ${summary}; ${result.errorCount} bad lines were not imported (first: line ${result.errors[0]?.line}: ${result.errors[0]?.message}).`,
            'Show Log',
          )
          .then((a) => a && log.show());
      } else {
        void vscode.window.showInformationMessage(`Prefer: ${summary}.`);
      }
      return result;
    }),
  );
}
