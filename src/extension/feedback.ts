import { homedir } from 'node:os';
import * as vscode from 'vscode';
import { type FeedbackLogs, findFeedbackLogs } from '../io/feedbackLogs.ts';
import { type FeedbackImportResult, importFeedback } from '../io/importFeedback.ts';
import { abortOn } from './data.ts';
import type { Services } from './services.ts';

/** Set once the user has been offered the import, whatever the answer. */
const OFFERED = 'prefer.feedbackImport.offered';
const TOOL_NAMES = { continue: 'Continue', tabby: 'Tabby' } as const;

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(bytes < 1e5 ? 2 : 1)} MB`;

/** The logs the user keeps ticked; all are ticked at first. */
async function pickLogs(found: FeedbackLogs[]): Promise<FeedbackLogs[] | undefined> {
  const items = found.flatMap((logs) =>
    logs.files.map((file) => ({
      label: `${TOOL_NAMES[logs.format]}: ${file.path.slice(logs.folder.length + 1)}`,
      description: megabytes(file.bytes),
      detail: file.path,
      picked: true,
      logs,
      file,
    })),
  );
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Prefer: import accepted and rejected completions from these logs',
    canPickMany: true,
    ignoreFocusOut: true,
  });
  if (!picked || picked.length === 0) return undefined;
  return found
    .map((logs) => ({ ...logs, files: logs.files.filter((f) => picked.some((p) => p.file === f)) }))
    .filter((logs) => logs.files.length > 0);
}

/** Imports each tool's picked files (Tabby's together: an outcome may sit in the next day's file). */
async function importLogs(
  { store, log }: Services,
  chosen: FeedbackLogs[],
): Promise<{ format: string; result: FeedbackImportResult }[]> {
  return vscode.window.withProgress(
    {
      location: vscode.ProgressLocation.Notification,
      title: 'Prefer: importing feedback',
      cancellable: true,
    },
    async (progress, token) => {
      const results = [];
      for (const logs of chosen) {
        const name = TOOL_NAMES[logs.format];
        const groups = logs.format === 'tabby' ? [logs.files] : logs.files.map((f) => [f]);
        for (const group of groups) {
          const result = await importFeedback(
            store.get(),
            group.map((f) => f.path),
            {
              format: logs.format,
              signal: abortOn(token),
              onProgress: (lines) => progress.report({ message: `${name}: ${lines} lines read` }),
            },
          );
          for (const e of result.errors) log.warn(`${e.file}:${e.line}: ${e.message}`);
          results.push({ format: name, result });
        }
      }
      return results;
    },
  );
}

async function importFeedbackCommand(services: Services): Promise<FeedbackImportResult[] | undefined> {
  const found = findFeedbackLogs(process.env, homedir());
  if (found.length === 0) {
    void vscode.window.showInformationMessage(
      'Prefer: no Continue (~/.continue/dev_data) or Tabby (~/.tabby/events) completion logs found.',
    );
    return undefined;
  }
  const chosen = await pickLogs(found);
  if (!chosen) return undefined;
  let results;
  try {
    results = await importLogs(services, chosen);
  } catch (e) {
    // Batches already committed stay; importing again completes them without duplicates.
    services.onChanged();
    void vscode.window.showWarningMessage(`Prefer: ${(e as Error).message}`);
    return undefined;
  }
  services.onChanged();
  const total = (key: 'imported' | 'pairsAdded' | 'skipped' | 'errorCount') =>
    results.reduce((n, r) => n + r.result[key], 0);
  const summary = `imported ${total('imported')} judged completions and ${total('pairsAdded')} pairs, ${total('skipped')} already stored`;
  services.log.info(`feedback import: ${summary}, ${total('errorCount')} bad lines`);
  if (total('errorCount') > 0) {
    void vscode.window
      .showWarningMessage(
        `Prefer: ${summary}; ${total('errorCount')} bad lines were not imported.`,
        'Show Log',
      )
      .then((a) => a && services.log.show());
  } else void vscode.window.showInformationMessage(`Prefer: ${summary}.`);
  return results.map((r) => r.result);
}

/**
 * Prefer: Import Feedback from Continue / Tabby, and a one-time offer of it when their logs are on this
 * machine.
 */
export function registerFeedbackImport(services: Services): void {
  services.context.subscriptions.push(
    vscode.commands.registerCommand('prefer.importFeedback', () => importFeedbackCommand(services)),
  );
  const { globalState } = services.context;
  if (globalState.get<boolean>(OFFERED, false)) return;
  const found = findFeedbackLogs(process.env, homedir());
  if (found.length === 0) return;
  const tools = found.map((logs) => TOOL_NAMES[logs.format]).join(' and ');
  void globalState.update(OFFERED, true);
  void vscode.window
    .showInformationMessage(
      `Prefer found ${tools} completion logs. Import the completions you accepted and rejected there as feedback?`,
      'Import…',
      'Not now',
    )
    .then((answer) => answer === 'Import…' && vscode.commands.executeCommand('prefer.importFeedback'));
}
