/**
 * Hostile input for `prefer score`: pairs files and databases that are missing, broken or empty after the
 * filters, adapter folders that are not adapters, and flags the scoring graph cannot take. It only reads:
 * nothing on disk may change, and nothing be left behind.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { importPairs } from '../../../src/io/importPairs.ts';
import { openStore } from '../../../src/store/store.ts';
import { copyModel, hostileCases } from './harness.ts';

const lines = Array.from({ length: 3 }, (_, i) => ({ prompt: `let v${i} =`, chosen: ` ${i} + 1;`, rejected: ` ${i}+1` }));

function pairsFile(dir: string, text = lines.map((l) => JSON.stringify(l)).join('\n') + '\n'): string {
  const file = join(dir, 'pairs.jsonl');
  writeFileSync(file, text);
  return file;
}

/** A store holding the pairs, closed (so everything is in the main file). */
async function store(dir: string): Promise<string> {
  const db = join(dir, 'prefer.sqlite');
  const s = openStore(db);
  try {
    await importPairs(s, pairsFile(dir));
  } finally {
    s.close();
  }
  return db;
}

/** `prefer score` on a copy of the small model. */
async function score(dir: string, ...flags: string[]): Promise<string[]> {
  return ['score', '--model', await copyModel(dir), '--json', ...flags];
}

hostileCases('score', [
  {
    name: '--weights auto: a sampling choice, not a storage the scoring graph holds its base in',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--weights', 'auto'),
    error: /^prefer score: --weights auto: scoring runs the training graph, which holds its base as fp32, .*int4 \(as prefer train does\)$/,
  },
  {
    name: '--weights int4 on WebGPU, which runs int4 graphs on the CPU only',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--weights', 'int4', '--device', 'webgpu'),
    error: /^prefer score: --weights int4 scores on the CPU only: use --weights int8 on WebGPU$/,
  },
  {
    name: '--weights is not a storage',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--weights', 'fp8'),
    error: /^prefer score: --weights must be one of .*got "fp8"$/,
  },
  {
    name: 'both --pairs and --db',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--db', await store(dir)),
    error: /^prefer score: give exactly one of --db DB or --pairs FILE\.jsonl$/,
  },
  {
    name: '--pairs names no file',
    setup: (dir) => score(dir, '--pairs', join(dir, 'absent.jsonl')),
    error: /^prefer score: .*absent\.jsonl: no such file$/,
  },
  {
    name: '--pairs file with a line that is not a pair',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir, `${JSON.stringify(lines[0])}\n{"prompt": "x", "chosen": "y"}\n`)),
    error: /^prefer score: .*pairs\.jsonl:2: missing field "rejected"$/,
  },
  {
    name: '--pairs file with no pairs',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir, '')),
    error: /^prefer score: .*pairs\.jsonl: no pairs$/,
  },
  {
    name: '--db names no database',
    setup: (dir) => score(dir, '--db', join(dir, 'absent.sqlite')),
    error: /^prefer score: --db .*absent\.sqlite: no such database$/,
  },
  {
    name: '--db is not a database',
    setup: async (dir) => {
      writeFileSync(join(dir, 'notes.sqlite'), 'not a database, a note');
      return score(dir, '--db', join(dir, 'notes.sqlite'));
    },
    error: /^prefer score: .*notes\.sqlite/,
  },
  {
    name: 'filters that no pair passes',
    setup: async (dir) => score(dir, '--db', await store(dir), '--language', 'cobol'),
    error: /^prefer score: --db .*prefer\.sqlite: no pairs pass the filters$/,
  },
  {
    name: '--since is not a date',
    setup: async (dir) => score(dir, '--db', await store(dir), '--since', '2025-02-31'),
    error: /^prefer score: --since 2025-02-31: not ISO 8601/,
  },
  {
    name: '--adapter-version names no adapter',
    setup: async (dir) => score(dir, '--db', await store(dir), '--adapter-version', 'v9'),
    error: /^prefer score: --adapter-version v9: no such adapter version/,
  },
  {
    name: '--adapter names no folder',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--adapter', join(dir, 'absent')),
    error: /^prefer score: --adapter .*absent: no such adapter folder$/,
  },
  {
    name: '--adapter is a folder without an adapter',
    setup: async (dir) => {
      mkdirSync(join(dir, 'mine'));
      writeFileSync(join(dir, 'mine', 'notes.txt'), 'mine');
      return score(dir, '--pairs', pairsFile(dir), '--adapter', join(dir, 'mine'));
    },
    error: /^prefer score: .*mine\/adapter_config\.json: missing \(not a PEFT adapter folder\)$/,
  },
  {
    name: '--max-length is not a positive integer',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--max-length', '0'),
    error: /^prefer score: --max-length must be a positive integer, got 0$/,
  },
  {
    name: 'a pair that does not fit --max-length',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--max-length', '1'),
    error: /^prefer score: pair 1: .*fills 1 tokens$/,
  },
  {
    name: '--device is not one a round runs on',
    setup: async (dir) => score(dir, '--pairs', pairsFile(dir), '--device', 'tpu'),
    error: /^prefer score: --device must be cpu or webgpu, got "tpu"$/,
  },
]);
