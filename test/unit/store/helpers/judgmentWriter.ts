// A child process for the crash and concurrency tests: records judgments one by one and, after each has
// committed, writes "ack TAG:N" on stdout. Usage: node judgmentWriter.ts DB TAG COUNT [gated]
// Gated: once started it writes "ready" and waits for a line on stdin, a moment to open the store at, so two
// writers open it, and then write, together however long each process took to start; it then pauses 1 ms after each
// commit, so that on a loaded machine one writer cannot finish all its writes before the other is scheduled.
import { readSync, writeSync } from 'node:fs';
import { openStore } from '../../../../src/store/store.ts';

const [file, tag, countArg, gated] = process.argv.slice(2);
if (gated === 'gated') {
  writeSync(1, 'ready\n');
  // the line is a moment (ms since the epoch) shortly ahead: both writers wait for it, to open at once
  let line = '';
  const byte = Buffer.alloc(1);
  while (!line.endsWith('\n') && readSync(0, byte) === 1) line += byte.toString();
  const start = Number(line);
  while (Date.now() < start); // a busy wait: sleeping would wake the two at different moments
}
const store = openStore(file!);
const count = Number(countArg);
const pause = new Int32Array(new SharedArrayBuffer(4));
for (let i = 0; i < count; i++) {
  const id = `${tag}:${i}`;
  store.recordJudgment({
    prompt: { language: 'typescript', filePath: `/ws/${tag}.ts`, prefix: `// ${id}\nconst x = ` },
    candidates: ['1', '2', '3'].map((text) => ({ text: `${text} /* ${id} */`, modelId: 'writer' })),
    outcome: { kind: 'pick', chosenIndex: i % 3 },
    rationale: id,
  });
  // Synchronous write: the ack leaves the process only after the commit above returned.
  writeSync(1, `ack ${id}\n`);
  if (gated === 'gated') Atomics.wait(pause, 0, 0, 1);
}
store.close();
