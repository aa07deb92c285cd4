// Store benchmark: import and export of 100k preference pairs (targets: import ≤ 5 s, export ≤ 3 s).
// Run: npm run bench:store  (or: source scripts/env.sh && node bench/store.ts [PAIRS])
// Streaming check: `node --max-old-space-size=48 bench/store.ts` completes too (a JavaScript heap half the
// size of the pairs' text).
// The anchor, measured in the same run, is the floor any JSONL path pays: read the file, JSON.parse and
// JSON.stringify every line, and write it back, with no database.
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { exportPairs } from '../src/io/exportPairs.ts';
import { importPairs } from '../src/io/importPairs.ts';
import { openStore } from '../src/store/store.ts';

const pairs = Number(process.argv[2] ?? 100_000);
const dir = mkdtempSync(join(tmpdir(), 'prefer-bench-store-'));

/** Deterministic code-like text of about `length` characters. */
function code(seed: number, length: number): string {
  const words = [
    'const',
    'value',
    'return',
    'await',
    'items',
    'map',
    'filter',
    '=>',
    '(x)',
    '{',
    '}',
    ';',
    'if',
    'else',
  ];
  let s = '';
  let x = seed;
  while (s.length < length) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    s += words[x % words.length] + (x % 7 === 0 ? '\n  ' : ' ');
  }
  return s;
}

/** CPU seconds of this process, printed beside wall time: the machine is shared, so wall time is noisy. */
const cpuSeconds = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
};
const maxRssMiB = () => process.resourceUsage().maxRSS / 1024;

/** Bytes this process has caused to be written to storage (Linux), in MiB: the durable-write cost. */
const writtenMiB = () => {
  const io = existsSync('/proc/self/io')
    ? /write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))
    : null;
  return io ? Number(io[1]) / 2 ** 20 : NaN;
};

interface Timing {
  wall: number;
  cpu: number;
  written: number;
}

const start = () => ({ at: performance.now(), cpu: cpuSeconds(), written: writtenMiB() });
const since = (s: ReturnType<typeof start>): Timing => ({
  wall: (performance.now() - s.at) / 1000,
  cpu: cpuSeconds() - s.cpu,
  written: writtenMiB() - s.written,
});

function time<T>(fn: () => T): [T, Timing] {
  const s = start();
  const result = fn();
  return [result, since(s)];
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<[T, Timing]> {
  const s = start();
  const result = await fn();
  return [result, since(s)];
}

// 4 pairs per prompt (a pick among 5 candidates), ~600-character prompts, ~80-character completions.
const input = join(dir, 'pairs.jsonl');
{
  // Written in blocks, so the process's peak memory below reflects the store's work, not this file.
  const fd = openSync(input, 'w');
  let lines: string[] = [];
  for (let i = 0; i < pairs; i++) {
    const prompt = Math.floor(i / 4);
    lines.push(
      JSON.stringify({
        prompt: code(prompt, 600),
        chosen: code(prompt * 7 + 1, 80),
        rejected: code(prompt * 7 + 2 + (i % 4), 80),
        suffix: code(prompt + 99, 60),
        language: ['typescript', 'python', 'rust', 'go'][prompt % 4],
        source: 'human',
        file_path: `/home/dev/project/src/file${prompt % 500}.ts`,
        workspace: 'project',
      }),
    );
    if (lines.length === 1000) {
      writeSync(fd, lines.join('\n') + '\n');
      lines = [];
    }
  }
  writeSync(fd, lines.join('\n') + '\n');
  closeSync(fd);
}
const mb = (file: string) => (statSync(file).size / 2 ** 20).toFixed(1);

const peakBefore = maxRssMiB();
const store = openStore(join(dir, 'bench.sqlite'));
const [imported, importSeconds] = await timeAsync(() => importPairs(store, input));
const peakAfterImport = maxRssMiB();
if (imported.imported !== pairs || imported.errorCount !== 0)
  throw new Error(`import stored ${JSON.stringify(imported)}`);
const [again, reimportSeconds] = await timeAsync(() => importPairs(store, input));
if (again.imported !== 0) throw new Error('re-import added pairs');

const exports: [string, Timing][] = [];
for (const format of ['trl', 'trl-conversational', 'openai'] as const) {
  const out = join(dir, `out-${format}.jsonl`);
  const [result, seconds] = time(() => exportPairs(store, out, { format, private: false }));
  if (result.exported !== pairs) throw new Error(`${format}: exported ${result.exported}`);
  exports.push([`export ${format} (${mb(out)} MiB)`, seconds]);
}
const [, filteredSeconds] = time(() =>
  exportPairs(store, join(dir, 'filtered.jsonl'), {
    format: 'trl',
    private: true,
    filter: { languages: ['python'] },
  }),
);
const peakAfterExports = maxRssMiB();
store.close();

// Opening the store, alone and with the integrity check (PRAGMA quick_check) a writer runs before its first
// write to an existing store; best of a few, as one open is a millisecond.
const storeFile = join(dir, 'bench.sqlite');
const bestOf = (runs: number, fn: () => void) =>
  Math.min(...Array.from({ length: runs }, () => time(fn)[1].wall * 1000));
const openMs = bestOf(20, () => openStore(storeFile).close());
const readonlyOpenMs = bestOf(20, () => openStore(storeFile, { readonly: true }).close());
const checkedOpenMs = bestOf(5, () => {
  const checked = openStore(storeFile);
  checked.prepareToWrite();
  checked.close();
});

const [, anchor] = time(() => {
  // Block by block, like the code measured: a whole-file read would need ~3x the file in memory.
  const from = openSync(input, 'r');
  const to = openSync(join(dir, 'anchor.jsonl'), 'w');
  const block = Buffer.alloc(8 << 20);
  const utf8 = new StringDecoder('utf8');
  let carry = '';
  for (let read; (read = readSync(from, block, 0, block.length, null)) > 0;) {
    const lines = (carry + utf8.write(block.subarray(0, read))).split('\n');
    carry = lines.pop()!;
    writeSync(to, lines.map((l) => (l === '' ? '' : JSON.stringify(JSON.parse(l)))).join('\n') + '\n');
  }
  if (carry !== '') writeSync(to, JSON.stringify(JSON.parse(carry)) + '\n');
  closeSync(from);
  closeSync(to);
});

const rows: [string, Timing, number | undefined][] = [
  [`anchor: parse + stringify + write, no database (${mb(input)} MiB)`, anchor, undefined],
  [`import ${pairs} pairs into a new store`, importSeconds, 5],
  [`re-import the same file (all skipped)`, reimportSeconds, undefined],
  ...exports.map(([label, t]): [string, Timing, number] => [label, t, 3]),
  ['export trl, --language python --private (1/4 of pairs)', filteredSeconds, undefined],
];
console.log(
  `prefer store benchmark: ${pairs} pairs, Node ${process.versions.node}, load average ${loadavg()[0]!.toFixed(1)}`,
);
console.log(
  `${''.padEnd(62)} ${'wall'.padStart(8)} ${'cpu'.padStart(8)} ${'written'.padStart(10)} ${'wall/anchor'.padStart(12)}`,
);
for (const [label, { wall, cpu, written }, target] of rows) {
  const ratio = (wall / anchor.wall).toFixed(2);
  // The targets are for 100k pairs.
  const verdict =
    target === undefined || pairs !== 100_000
      ? ''
      : wall <= target
        ? `  (target ≤ ${target} s: met)`
        : `  (target ≤ ${target} s: missed)`;
  console.log(
    `${label.padEnd(62)} ${wall.toFixed(2).padStart(6)} s ${cpu.toFixed(2).padStart(6)} s ` +
      `${written.toFixed(0).padStart(6)} MiB ${ratio.padStart(11)}×${verdict}`,
  );
}
console.log(
  `open the store (${mb(storeFile)} MiB): ${openMs.toFixed(1)} ms; read-only ${readonlyOpenMs.toFixed(1)} ms; ` +
    `with quick_check before the first write ${checkedOpenMs.toFixed(0)} ms ` +
    `(${(checkedOpenMs / openMs).toFixed(0)}× the open alone)`,
);
console.log(
  `peak memory (max RSS): ${peakBefore.toFixed(0)} MiB before import, ${peakAfterImport.toFixed(0)} MiB after ` +
    `import, ${peakAfterExports.toFixed(0)} MiB after the exports`,
);
rmSync(dir, { recursive: true, force: true });
