import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { completedText, type LabelTarget, type Labeler, type Verdict } from './labeler.ts';
import { copyWorkspace, placement, writeInCopy } from './workspaceCopy.ts';

export interface CommandLabelerOptions {
  /** Program and arguments, run without a shell. `{file}` and `{dir}` in an argument name the temporary copy. */
  command: readonly string[];
  /** The user's explicit consent to run a workspace command (the extension passes workspace trust). */
  trusted: boolean;
  /** Folder copied for each candidate, so the command sees the whole project with the completion applied. */
  workspaceRoot?: string | undefined;
  timeoutMs?: number | undefined;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const MAX_OUTPUT_CHARS = 1024 * 1024;

interface CommandOutcome {
  exitCode: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

function checkOptions(name: string, options: CommandLabelerOptions): void {
  if (!options.trusted) {
    throw new Error(
      `the ${name} labeler runs a command from your workspace; it runs only when trusted (--trust)`,
    );
  }
  if (options.command.length === 0 || options.command[0] === '') {
    throw new Error(`the ${name} labeler needs a command (after --)`);
  }
}

/**
 * Lays out the temporary copy with the completion applied and returns the document's path in it, which is
 * `dir` plus safe path segments only (see placement). Throws SkipPrompt for a path that cannot be used.
 */
function applyInCopy(dir: string, target: LabelTarget, completion: string, root: string | undefined): string {
  const place = placement(target.filePath, root);
  if (place.workspaceRoot !== undefined) copyWorkspace(place.workspaceRoot, dir);
  return writeInCopy(dir, place.relative, completedText(target, completion));
}

/** Ends the command and everything it started (test runners spawn workers), ignoring what already ended. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // The group is already gone.
  }
}

function run(options: CommandLabelerOptions, dir: string, file: string): Promise<CommandOutcome> {
  // Placeholders are replaced whole-argument-wise; the arguments never pass through a shell.
  const [program, ...args] = options.command.map((a) =>
    a.replaceAll('{file}', file).replaceAll('{dir}', dir),
  );
  return new Promise((resolve) => {
    // spawn, not execFile: execFile cannot start the command in its own process group, and the group is
    // what lets a timeout stop every process the command started (test runners spawn workers).
    const child = spawn(program!, args, {
      cwd: dir,
      shell: false,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      windowsHide: true,
    });
    const output = { stdout: '', stderr: '' };
    for (const stream of ['stdout', 'stderr'] as const) {
      child[stream].setEncoding('utf8');
      child[stream].on('data', (chunk: string) => {
        if (output[stream].length < MAX_OUTPUT_CHARS) output[stream] += chunk;
      });
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    let startError: Error | undefined;
    child.on('error', (e) => (startError = e));
    // Whatever it left running would hold its output open and outlive the run.
    child.on('exit', () => killGroup(child.pid));
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup(child.pid);
      if (startError)
        resolve({ exitCode: null, timedOut, stdout: output.stdout, stderr: startError.message });
      else resolve({ exitCode: code, timedOut, ...output });
    });
  });
}

async function inTemporaryCopy<T>(
  target: LabelTarget,
  completion: string,
  options: CommandLabelerOptions,
  use: (outcome: CommandOutcome) => T,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'prefer-label-'));
  try {
    const file = applyInCopy(dir, target, completion, options.workspaceRoot);
    return use(await run(options, dir, file));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A command labeler's provenance, as its labeler runs record it. */
const commandConfig = (options: CommandLabelerOptions) => ({
  command: options.command,
  workspaceRoot: options.workspaceRoot ?? null,
  timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
});

const lastLine = (s: string) => s.trim().split('\n').at(-1)?.slice(0, 300);

/** Tests pass > fail: the user's command runs in a temporary copy with the completion applied; exit 0 passes. */
export function testCommandLabeler(options: CommandLabelerOptions): Labeler {
  checkOptions('test', options);
  return {
    name: 'test',
    confidence: 0.9,
    config: commandConfig(options),
    supports: () => true,
    score: (target, completion) =>
      inTemporaryCopy(target, completion, options, (o): Verdict => {
        if (o.exitCode === 0) return { score: 0 };
        if (o.timedOut) return { score: 1, detail: 'timed out' };
        return {
          score: 1,
          detail: `exit ${o.exitCode ?? 'error'}: ${lastLine(o.stderr) || lastLine(o.stdout) || ''}`,
        };
      }),
  };
}

const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;

/** Lower metric > higher: the command prints a number (its last one counts); a failed run gives no verdict. */
export function metricCommandLabeler(options: CommandLabelerOptions): Labeler {
  checkOptions('metric', options);
  return {
    name: 'metric',
    confidence: 0.6,
    config: commandConfig(options),
    supports: () => true,
    score: (target, completion) =>
      inTemporaryCopy(target, completion, options, (o): Verdict | undefined => {
        if (o.exitCode !== 0) return undefined;
        const value = Number(o.stdout.match(NUMBER)?.at(-1));
        return Number.isFinite(value) ? { score: value, detail: lastLine(o.stdout) } : undefined;
      }),
  };
}
