import { existsSync, statSync } from 'node:fs';
import type { Labeler } from '../../label/labeler.ts';
import { type LabelResult, runLabeler } from '../../label/runLabeler.ts';
import { openStore } from '../../store/store.ts';
import { type Command, type ParsedArgs, UsageError, requireString } from '../command.ts';

const LABELERS = ['parse', 'compile', 'test', 'metric'] as const;
/** A day: longer is surely a typo, and timers cannot wait past about 24.8 days. */
const MAX_TIMEOUT_S = 86_400;

function timeoutSeconds(args: ParsedArgs): number {
  const raw = args.values.timeout as string | undefined;
  const timeout = raw === undefined ? 60 : Number(raw);
  if (!(timeout > 0 && timeout <= MAX_TIMEOUT_S)) {
    throw new UsageError(
      `prefer label: --timeout must be a number of seconds above 0 and at most ${MAX_TIMEOUT_S} (got '${raw}')`,
    );
  }
  return timeout;
}

function workspaceFolder(args: ParsedArgs): string | undefined {
  const workspace = args.values.workspace as string | undefined;
  if (workspace === undefined) return undefined;
  if (!existsSync(workspace)) throw new UsageError(`prefer label: --workspace ${workspace}: no such folder`);
  if (!statSync(workspace).isDirectory())
    throw new UsageError(`prefer label: --workspace ${workspace}: not a folder`);
  return workspace;
}

function languagesOf(args: ParsedArgs): string[] | undefined {
  const languages = (args.values.language as string[] | undefined)?.flatMap((s) => s.split(','));
  if (languages?.some((l) => l.trim() === ''))
    throw new UsageError('prefer label: --language has an empty language name');
  return languages?.map((l) => l.trim());
}

function checkDatabase(db: string): void {
  if (!existsSync(db)) throw new UsageError(`prefer label: ${db}: no such database`);
  if (!statSync(db).isFile()) throw new UsageError(`prefer label: ${db}: not a database file`);
}

// Labelers load on demand: the TypeScript compiler would slow every other command's start.
async function labelerFor(name: string, args: ParsedArgs): Promise<Labeler> {
  const command = args.positionals;
  const runsCommand = name === 'test' || name === 'metric';
  if (!runsCommand && command.length > 0) {
    throw new UsageError(`prefer label: the ${name} labeler takes no command (got: ${command.join(' ')})`);
  }
  if (runsCommand) {
    if (command.length === 0 || command[0] === '')
      throw new UsageError(`prefer label: the ${name} labeler needs a command after --`);
    if (args.values.trust !== true) {
      throw new UsageError(
        `prefer label: the ${name} labeler runs '${command[0]}' on your code; pass --trust to allow it`,
      );
    }
    const options = {
      command,
      trusted: true,
      workspaceRoot: workspaceFolder(args),
      timeoutMs: timeoutSeconds(args) * 1000,
    };
    const { metricCommandLabeler, testCommandLabeler } = await import('../../label/command.ts');
    return name === 'test' ? testCommandLabeler(options) : metricCommandLabeler(options);
  }
  for (const flag of ['workspace', 'timeout'] as const) {
    if (args.values[flag] !== undefined)
      throw new UsageError(`prefer label: --${flag} applies to the test and metric labelers only`);
  }
  if (name === 'parse') return (await import('../../label/parse.ts')).parseLabeler();
  if (name === 'compile') return (await import('../../label/compile.ts')).compileLabeler();
  throw new UsageError(`prefer label: --labeler must be one of ${LABELERS.join(', ')}`);
}

/** "; 3 prompts skipped (2 <reason>; 1 <reason>)": reasons only, since a stored path may hold anything. */
function skippedText(r: LabelResult): string {
  if (r.skipped.length === 0) return '';
  const byReason = new Map<string, number>();
  for (const s of r.skipped) byReason.set(s.reason, (byReason.get(s.reason) ?? 0) + 1);
  const reasons = [...byReason].map(([reason, n]) => `${n} ${reason}`).join('; ');
  return `; ${r.skipped.length} prompts skipped (${reasons})`;
}

export const label: Command = {
  name: 'label',
  summary:
    'add machine-labeled pairs: parses > not, compiles > not, tests pass > fail, lower metric > higher',
  usage: [
    `prefer label --db DB --labeler ${LABELERS.join('|')} [--language L] [--json]`,
    'prefer label --db DB --labeler test|metric --trust [--workspace DIR] [--timeout SEC] -- COMMAND [ARG…]',
    '',
    '  parse     TypeScript/JavaScript (TypeScript parser) and JSON (JSON.parse), completion inserted in its file',
    '  compile   TypeScript/JavaScript type check of the whole file, in memory; fewer errors wins',
    '  test      runs COMMAND in a temporary copy of --workspace with the completion applied; exit 0 wins',
    '  metric    runs COMMAND likewise; it prints a number, lower wins',
    '',
    'COMMAND runs without a shell; {file} and {dir} in an argument stand for the completed file and the copy.',
    'Without --workspace the copy holds only the completed file. A prompt whose file lies outside --workspace,',
    "or whose path has a '..' segment, is skipped, and the output says why. {file} is built from safe",
    'characters only (A-Za-z0-9._-; others become _). Links in the workspace are re-pointed into the copy or',
    'replaced by what they point to; node_modules is linked, not copied, and nothing is written through it.',
    'On timeout every process the command started is stopped, and the completion fails.',
    'test and metric run code from your workspace: they refuse to start without --trust.',
    'Pairs that contradict a human judgment are stored flagged and never replace it.',
  ].join('\n'),
  options: {
    db: { type: 'string' },
    labeler: { type: 'string' },
    language: { type: 'string', multiple: true },
    trust: { type: 'boolean' },
    workspace: { type: 'string' },
    timeout: { type: 'string' },
  },
  allowPositionals: true,
  async run(args, out) {
    const db = requireString(args, 'db', 'label');
    const name = requireString(args, 'labeler', 'label');
    if (!(LABELERS as readonly string[]).includes(name)) {
      throw new UsageError(`prefer label: --labeler must be one of ${LABELERS.join(', ')}`);
    }
    const labeler = await labelerFor(name, args);
    checkDatabase(db);
    const languages = languagesOf(args);
    const tty = process.stderr.isTTY === true;
    const store = openStore(db);
    try {
      const r = await runLabeler(store, labeler, {
        languages,
        onProgress: tty
          ? (done, total) => process.stderr.write(`\rlabeling (${name}): ${done}/${total} prompts`)
          : undefined,
      });
      if (tty) process.stderr.write('\n');
      out.result(
        {
          pairs_added: r.pairsAdded,
          candidates_scored: r.candidatesScored,
          prompts: r.prompts,
          disagreements: r.disagreements,
          labeler_run_id: r.labelerRunId,
          skipped: r.skipped.map((s) => ({ prompt: s.promptId, file_path: s.filePath, reason: s.reason })),
        },
        `${name}: ${r.pairsAdded} pairs added from ${r.candidatesScored} candidates of ${r.prompts} prompts` +
          (r.disagreements ? `; ${r.disagreements} contradict a human judgment (flagged)` : '') +
          skippedText(r),
      );
      return 0;
    } finally {
      store.close();
    }
  },
};
