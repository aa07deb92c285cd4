import { existsSync } from 'node:fs';
import type { Labeler } from '../../label/labeler.ts';
import { runLabeler } from '../../label/runLabeler.ts';
import { openStore } from '../../store/store.ts';
import { type Command, type ParsedArgs, UsageError, requireString } from '../command.ts';

const LABELERS = ['parse', 'compile', 'test', 'metric'] as const;

// Labelers load on demand: the TypeScript compiler would slow every other command's start.
async function labelerFor(name: string, args: ParsedArgs): Promise<Labeler> {
  const command = args.positionals;
  const runsCommand = name === 'test' || name === 'metric';
  if (!runsCommand && command.length > 0) {
    throw new UsageError(`prefer label: the ${name} labeler takes no command (got: ${command.join(' ')})`);
  }
  if (runsCommand) {
    if (command.length === 0)
      throw new UsageError(`prefer label: the ${name} labeler needs a command after --`);
    if (args.values.trust !== true) {
      throw new UsageError(
        `prefer label: the ${name} labeler runs '${command[0]}' on your code; pass --trust to allow it`,
      );
    }
    const timeout = args.values.timeout === undefined ? 60 : Number(args.values.timeout);
    if (!(timeout > 0)) throw new UsageError('prefer label: --timeout must be a positive number of seconds');
    const workspace = args.values.workspace as string | undefined;
    if (workspace !== undefined && !existsSync(workspace))
      throw new UsageError(`prefer label: ${workspace}: no such folder`);
    const options = { command, trusted: true, workspaceRoot: workspace, timeoutMs: timeout * 1000 };
    const { metricCommandLabeler, testCommandLabeler } = await import('../../label/command.ts');
    return name === 'test' ? testCommandLabeler(options) : metricCommandLabeler(options);
  }
  if (name === 'parse') return (await import('../../label/parse.ts')).parseLabeler();
  if (name === 'compile') return (await import('../../label/compile.ts')).compileLabeler();
  throw new UsageError(`prefer label: --labeler must be one of ${LABELERS.join(', ')}`);
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
    'Without --workspace (or for a file outside it) the copy holds only the completed file. node_modules is',
    'linked, not copied. On timeout every process the command started is stopped, and the completion fails.',
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
    if (!existsSync(db)) throw new UsageError(`prefer label: ${db}: no such database`);
    const languages = (args.values.language as string[] | undefined)?.flatMap((s) => s.split(','));
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
        },
        `${name}: ${r.pairsAdded} pairs added from ${r.candidatesScored} candidates of ${r.prompts} prompts` +
          (r.disagreements ? `; ${r.disagreements} contradict a human judgment (flagged)` : ''),
      );
      return 0;
    } finally {
      store.close();
    }
  },
};
