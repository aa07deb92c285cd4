import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { openStore } from '../../../src/store/store.ts';
import { tempDir } from './helpers/tempDir.ts';
import { connectionOf } from '../../../src/store/connection.ts';

const dir = tempDir('crash');
const writer = join(import.meta.dirname, 'helpers', 'judgmentWriter.ts');

interface WriterRun {
  acked: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

interface Gate {
  ready(): void;
  open: Promise<void>;
  /** When the writers open the store: 50 ms after the gate opened (ms since the epoch). */
  at: number;
}

/** A gate that opens once `writers` writers have reported ready (or ended without it, so that none waits forever). */
function gateFor(writers: number): Gate {
  let ready = 0;
  let openGate!: () => void;
  const gate: Gate = {
    open: new Promise<void>((resolve) => (openGate = resolve)),
    ready: () => {
      if (++ready !== writers) return;
      gate.at = Date.now() + 50;
      openGate();
    },
    at: 0,
  };
  return gate;
}

/**
 * Starts a writer; kills it with SIGKILL after `killAfterMs` (undefined: lets it finish). With `gate`, the
 * writer reports ready once started, and opens the store and writes once the gate opens.
 */
function runWriter(
  db: string,
  tag: string,
  count: number,
  killAfterMs?: number,
  gate?: Gate,
): Promise<WriterRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writer, db, tag, String(count), ...(gate ? ['gated'] : [])], {
      stdio: [gate ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let announced = false;
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (gate && !announced && stdout.startsWith('ready\n')) {
        announced = true;
        gate.ready();
        void gate.open.then(() => child.stdin!.end(`${gate.at}\n`));
      }
    });
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer =
      killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (gate && !announced) gate.ready();
      // Only complete lines are acknowledgements; a kill may cut the last one short.
      const acked = stdout
        .split('\n')
        .filter((l) => l.startsWith('ack '))
        .map((l) => l.slice(4))
        .filter((_, i, all) => i < all.length - (stdout.endsWith('\n') ? 0 : 1));
      resolve({ acked, code, signal, stderr });
    });
  });
}

/** A deterministic random sequence, so a failing kill schedule can be replayed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

describe('crash safety', () => {
  it('keeps every acknowledged judgment and a sound file across 20 SIGKILLs at random points', async () => {
    const db = join(dir, 'crash.sqlite');
    const next = random(20251124);
    const acked: string[] = [];
    let killed = 0;
    for (let round = 0; round < 20; round++) {
      // From 0 ms (killed while opening or migrating the file) to well into its writes.
      const run = await runWriter(db, `r${round}`, 100_000, Math.floor(next() * 600));
      if (run.signal === 'SIGKILL') killed++;
      else assert.fail(`writer ${round} ended by itself: ${run.code} ${run.stderr}`);
      acked.push(...run.acked);
    }
    assert.equal(killed, 20);
    assert.ok(acked.length > 50, `the writers got some judgments in (${acked.length})`);

    const check = new Database(db, { readonly: false });
    assert.equal(check.pragma('integrity_check', { simple: true }), 'ok');
    assert.deepEqual(check.pragma('foreign_key_check'), []);
    check.close();

    const store = openStore(db);
    const stored = new Set(connectionOf(store).prepare('SELECT rationale FROM comparison').pluck().all() as string[]);
    const missing = acked.filter((id) => !stored.has(id));
    assert.deepEqual(missing, [], 'every acknowledged judgment is stored');
    // Atomic: each stored comparison has all three candidates and both of its pairs, never part of them.
    const partial = connectionOf(store)
      .prepare(
        `SELECT c.rationale FROM comparison c
         WHERE (SELECT count(*) FROM pair WHERE comparison_id = c.id) <> 2
            OR (SELECT count(*) FROM candidate WHERE prompt_id = c.prompt_id) <> 3`,
      )
      .all();
    assert.deepEqual(partial, []);
    assert.ok(
      stored.size >= acked.length && stored.size <= acked.length + 20,
      'at most one unacknowledged commit per kill',
    );
    store.close();
  });
});

describe('concurrent writers', () => {
  it('two processes opening a new database at the same moment both open it: no "database is locked"', async () => {
    // Switching a new file to WAL fails at once with SQLITE_BUSY in one of them about one race in three
    // (SQLite calls no busy handler there): eight races.
    for (let race = 0; race < 8; race++) {
      const db = join(dir, `race-${race}.sqlite`);
      const gate = gateFor(2);
      const runs = await Promise.all([runWriter(db, 'a', 1, undefined, gate), runWriter(db, 'b', 1, undefined, gate)]);
      for (const run of runs) {
        assert.equal(run.stderr, '', `race ${race}: no error reached the writer`);
        assert.deepEqual([run.code, run.acked.length], [0, 1], `race ${race}`);
      }
    }
  });

  it('loses no row and shows no SQLITE_BUSY when two processes write one new database at once', async () => {
    const db = join(dir, 'concurrent.sqlite');
    const perWriter = 1000;
    // both open the new database at once, then start writing together
    const gate = gateFor(2);
    const [a, b] = await Promise.all([
      runWriter(db, 'a', perWriter, undefined, gate),
      runWriter(db, 'b', perWriter, undefined, gate),
    ]);
    for (const run of [a, b]) {
      assert.equal(run.stderr, '', 'no error reached the writer');
      assert.equal(run.code, 0);
      assert.equal(run.acked.length, perWriter);
    }
    const store = openStore(db);
    const s = store.stats();
    assert.equal(s.comparisons, 2 * perWriter);
    assert.equal(s.pairs, 2 * 2 * perWriter);
    assert.equal(s.candidates, 3 * 2 * perWriter);
    assert.equal(connectionOf(store).pragma('integrity_check', { simple: true }), 'ok');
    // The writers really overlapped: their commits interleave.
    const order = (
      connectionOf(store).prepare('SELECT rationale FROM comparison ORDER BY id').pluck().all() as string[]
    ).map((r) => r[0]);
    const switches = order.filter((w, i) => i > 0 && w !== order[i - 1]).length;
    assert.ok(switches >= 10, `writes interleaved ${switches} times`);
    store.close();
  });
});
