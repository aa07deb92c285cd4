/**
 * The hostile-input tier: each case lays out files a user or another tool could hand Prefer (a model folder,
 * a JSONL file, a database, flags), runs the real `prefer` entry point on them, and asserts what a
 * professional tool owes the user on bad input:
 *   - exit code 2 (the user's input, not a failure of Prefer);
 *   - one line on stderr that names the file (with its line or field) or the flag at fault;
 *   - every file that existed before the run is byte-identical afterwards (hashed before and after), links
 *     still point where they did, and no file was left behind beside them unless the case allows it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeCheckpoint } from '../../../scripts/fixtures/make-checkpoints.ts';

const cli = join(import.meta.dirname, '../../../src/cli/cli.ts');

export interface HostileCase {
  name: string;
  /** Lays out what the case needs inside its own empty folder `dir`; returns the CLI arguments. */
  setup(dir: string): string[] | Promise<string[]>;
  /** What the one-line error must say: the file, field or flag it names. */
  error: RegExp;
  /** Exit code expected (2 unless said otherwise). */
  code?: number;
  /** Paths (relative to `dir`) the run may create; anything else new is a defect. */
  mayCreate?: RegExp;
  /** Milliseconds the run may take before it counts as hung (default 60 s). */
  timeoutMs?: number;
}

/** sha256 of every file (and the target of every link) below `dir`, by relative path; FIFOs by kind only. */
export function snapshot(dir: string): Map<string, string> {
  const seen = new Map<string, string>();
  const walk = (abs: string, rel: string) => {
    for (const entry of readdirSync(abs)) {
      const path = join(abs, entry);
      const name = rel === '' ? entry : `${rel}/${entry}`;
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) seen.set(name, `link → ${readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        seen.set(name, 'folder');
        walk(path, name);
      } else if (stat.isFile()) seen.set(name, createHash('sha256').update(readFileSync(path)).digest('hex'));
      else seen.set(name, `special ${stat.mode.toString(8)}`);
    }
  };
  walk(dir, '');
  return seen;
}

let modelRoot: string | undefined;
let modelReady: Promise<string> | undefined;

/** A copy of the small llama fixture checkpoint at `dir/name`, free for a case to damage. */
export async function copyModel(dir: string, name = 'model'): Promise<string> {
  if (!modelReady) {
    modelRoot = mkdtempSync(join(tmpdir(), 'prefer-hostile-model-'));
    modelReady = makeCheckpoint('llama', join(modelRoot, 'llama'));
  }
  const source = await modelReady;
  const target = join(dir, name);
  cpSync(source, target, { recursive: true });
  return target;
}

/** Registers one test per case under `area`. */
export function hostileCases(area: string, cases: readonly HostileCase[]): void {
  const base = mkdtempSync(join(tmpdir(), `prefer-hostile-${area}-`));
  after(() => {
    rmSync(base, { recursive: true, force: true });
    if (modelRoot) rmSync(modelRoot, { recursive: true, force: true });
  });
  describe(`hostile input: ${area}`, () => {
    for (const [i, c] of cases.entries()) {
      it(c.name, async () => {
        const dir = join(base, String(i));
        mkdirSync(dir);
        const args = await c.setup(dir);
        const before = snapshot(dir);
        const r = spawnSync(process.execPath, [cli, ...args], {
          cwd: dir,
          encoding: 'utf8',
          timeout: c.timeoutMs ?? 60_000,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const stderr = r.stderr ?? '';
        assert.equal(r.signal, null, `killed by ${r.signal} (hung or crashed); stderr: ${stderr}`);
        assert.equal(r.status, c.code ?? 2, `exit code; stderr: ${stderr}`);
        const lines = stderr.split('\n').filter((l) => l.trim() !== '');
        assert.equal(lines.length, 1, `one line on stderr, got:\n${stderr}`);
        assert.match(lines[0]!, c.error);
        const afterRun = snapshot(dir);
        for (const [path, hash] of before) assert.equal(afterRun.get(path), hash, `${path} changed or vanished`);
        for (const path of afterRun.keys()) {
          if (!before.has(path)) assert.ok(c.mayCreate?.test(path), `${path} was created`);
        }
      });
    }
  });
}
