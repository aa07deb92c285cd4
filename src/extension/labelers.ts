import * as vscode from 'vscode';
import { metricCommandLabeler, testCommandLabeler } from '../label/command.ts';
import { compileLabeler } from '../label/compile.ts';
import type { Labeler } from '../label/labeler.ts';
import { parseLabeler } from '../label/parse.ts';
import { runLabeler } from '../label/runLabeler.ts';
import { abortOn } from './data.ts';
import type { Services } from './services.ts';

/** Splits a typed command line into program and arguments (quotes group); it is never given to a shell. */
export function splitCommandLine(line: string): string[] {
  const args: string[] = [];
  for (const m of line.matchAll(/"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g))
    args.push(m[1]?.replace(/\\(.)/g, '$1') ?? m[2] ?? m[3]!);
  return args;
}

interface LabelerChoice extends vscode.QuickPickItem {
  kind_: 'parse' | 'compile' | 'test' | 'metric';
}

/** Prefer: Run Labelers. Labelers that run workspace commands need a trusted workspace. */
export function registerLabelerCommands({ context, store, log, onChanged }: Services): void {
  context.subscriptions.push(
    vscode.commands.registerCommand(
      'prefer.runLabelers',
      async (preset?: { labeler: LabelerChoice['kind_']; command?: string[] }) => {
        const trusted = vscode.workspace.isTrusted;
        const untrusted = trusted ? undefined : 'disabled: this workspace is not trusted';
        const choices: LabelerChoice[] = [
          {
            label: 'Parses',
            description: 'parses > does not (TypeScript / JavaScript / JSON)',
            kind_: 'parse',
          },
          {
            label: 'Compiles',
            description: 'no type errors > type errors (tsc on the whole file)',
            kind_: 'compile',
          },
          {
            label: 'Tests pass',
            description: untrusted ?? 'runs your test command on a copy with each candidate',
            kind_: 'test',
          },
          {
            label: 'Lower metric',
            description: untrusted ?? 'runs your command; the number it prints, lower is better',
            kind_: 'metric',
          },
        ];
        const choice = preset
          ? choices.find((c) => c.kind_ === preset.labeler)
          : await vscode.window.showQuickPick(choices, {
              title: 'Prefer: run a labeler over the stored candidates',
            });
        if (!choice) return undefined;
        let labeler: Labeler;
        if (choice.kind_ === 'parse') labeler = parseLabeler();
        else if (choice.kind_ === 'compile') labeler = compileLabeler();
        else {
          if (!trusted) {
            const message = `Prefer: the ${choice.kind_} labeler runs a command from this workspace, so it needs a trusted workspace.`;
            void vscode.window
              .showWarningMessage(message, 'Manage Workspace Trust')
              .then((a) => a && vscode.commands.executeCommand('workbench.trust.manage'));
            throw new Error(message);
          }
          const line =
            preset?.command?.join(' ') ??
            (await vscode.window.showInputBox({
              title: `Prefer: ${choice.label} — command`,
              prompt:
                '{file} is the file with the candidate applied, {dir} the temporary copy of the workspace',
              placeHolder: choice.kind_ === 'test' ? 'npm test' : 'node bench.js {file}',
            }));
          if (!line) return undefined;
          const command = preset?.command ?? splitCommandLine(line);
          const options = {
            command,
            trusted: true,
            workspaceRoot: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
          };
          labeler = choice.kind_ === 'test' ? testCommandLabeler(options) : metricCommandLabeler(options);
        }
        const result = await vscode.window.withProgress(
          {
            location: vscode.ProgressLocation.Notification,
            title: `Prefer: labeling (${labeler.name})`,
            cancellable: true,
          },
          (progress, token) =>
            runLabeler(store.get(), labeler, {
              onProgress: (done, total) => progress.report({ message: `${done} / ${total} prompts` }),
              signal: abortOn(token),
            }),
        );
        onChanged();
        const text =
          `${labeler.name}: ${result.pairsAdded} pairs from ${result.prompts} prompts (${result.candidatesScored} candidates scored)` +
          (result.disagreements ? `, ${result.disagreements} disagree with your judgments (flagged)` : '') +
          (result.skipped.length ? `, ${result.skipped.length} prompts skipped (see the log)` : '');
        for (const s of result.skipped)
          log.info(`${labeler.name}: prompt ${s.promptId} skipped: ${s.reason}`);
        log.info(text);
        void vscode.window.showInformationMessage(`Prefer: ${text}.`);
        return result;
      },
    ),
  );
}
