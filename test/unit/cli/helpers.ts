import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

const cli = join(import.meta.dirname, '../../../src/cli/cli.ts');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `prefer` entry point in a child process, as a user's shell would. */
export function prefer(...args: string[]): CliRun {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function preferJson(...args: string[]): {
  code: number | null;
  value: Record<string, unknown>;
  stderr: string;
} {
  // --json goes before a `--`: what follows it is the labeler's command.
  const end = args.indexOf('--');
  const r = end === -1 ? prefer(...args, '--json') : prefer(...args.slice(0, end), '--json', ...args.slice(end));
  const lines = r.stdout.trimEnd().split('\n');
  if (lines.length !== 1) throw new Error(`expected one JSON line, got: ${r.stdout}\n${r.stderr}`);
  return { code: r.code, value: JSON.parse(lines[0]!) as Record<string, unknown>, stderr: r.stderr };
}

export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `prefer-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
