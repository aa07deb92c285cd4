import { isInputError, firstLine } from '../inputError.ts';
import { type Command, type Output, UsageError, parseCommandArgs } from './command.ts';
import { adapter } from './commands/adapter.ts';
import { stats } from './commands/stats.ts';
import { importCommand } from './commands/import.ts';
import { exportCommand } from './commands/export.ts';
import { label } from './commands/label.ts';
import { sample } from './commands/sample.ts';
import { score } from './commands/score.ts';
import { train } from './commands/train.ts';

const commands: Command[] = [adapter, importCommand, exportCommand, label, sample, score, stats, train];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'prefer — compare completions, keep preferences, train a LoRA adapter with DPO',
    '',
    'usage: prefer <command> [options]   (every command takes --json and --help)',
    '',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  // Flags after `--` belong to the command a labeler runs, not to prefer.
  const end = rest.indexOf('--');
  const json = (end === -1 ? rest : rest.slice(0, end)).includes('--json');
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  try {
    if (!command) throw new UsageError(`prefer: unknown command '${name}' (try: prefer --help)`);
    const args = parseCommandArgs(command, rest);
    if (args.values.help) {
      process.stdout.write(`${command.usage}\n\n${command.summary}\n`);
      return 0;
    }
    const out: Output = {
      json,
      result(value, text) {
        process.stdout.write((json ? JSON.stringify(value) : text) + '\n');
      },
    };
    return await command.run(args, out);
  } catch (e) {
    const message = firstLine(e);
    if (json) process.stdout.write(JSON.stringify({ error: message }) + '\n');
    process.stderr.write(`${message}\n`);
    return isInputError(e) ? 2 : 1;
  }
}
