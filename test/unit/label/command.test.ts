import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { metricCommandLabeler, testCommandLabeler } from '../../../src/label/command.ts';
import { runLabeler } from '../../../src/label/runLabeler.ts';
import { pairsOf, storeWith, tempDir } from './helpers.ts';

const dir = tempDir('label-command');
let n = 0;
const file = () => join(dir, `c${n++}.sqlite`);
const node = process.execPath;

/** A small project whose test imports src/add.js and checks it. */
function workspace(): string {
  const root = join(dir, `ws${n++}`);
  mkdirSync(join(root, 'src'), { recursive: true });
  mkdirSync(join(root, 'node_modules', 'dep'), { recursive: true });
  writeFileSync(join(root, 'node_modules', 'dep', 'index.js'), 'module.exports = 2;\n');
  writeFileSync(join(root, 'src', 'add.js'), 'module.exports = (a, b) => a - b;\n');
  writeFileSync(
    join(root, 'check.js'),
    "const add = require('./src/add.js'); const two = require('dep'); process.exit(add(two, 3) === 5 ? 0 : 1);\n",
  );
  return root;
}

describe('test-command labeler', () => {
  it('refuses to run without explicit trust', () => {
    assert.throws(
      () => testCommandLabeler({ command: [node, '-e', '0'], trusted: false }),
      /runs only when trusted/,
    );
    assert.throws(
      () => metricCommandLabeler({ command: [node, '-e', '0'], trusted: false }),
      /runs only when trusted/,
    );
    assert.throws(() => testCommandLabeler({ command: [], trusted: true }), /needs a command/);
  });

  it('prefers the completion whose tests pass, run in a temporary copy of the workspace', async () => {
    const root = workspace();
    const original = readFileSync(join(root, 'src', 'add.js'), 'utf8');
    const store = storeWith(file(), [
      {
        prompt: {
          language: 'javascript',
          filePath: join(root, 'src', 'add.js'),
          prefix: 'module.exports = (a, b) => ',
          suffix: ';\n',
        },
        texts: ['a - b', 'a + b', 'a * b'],
      },
    ]);
    const labeler = testCommandLabeler({ command: [node, 'check.js'], trusted: true, workspaceRoot: root });
    const result = await runLabeler(store, labeler);
    assert.deepEqual(pairsOf(store, 'test'), [
      ['a + b', 'a - b'],
      ['a + b', 'a * b'],
    ]);
    assert.equal(result.candidatesScored, 3);
    assert.equal(
      readFileSync(join(root, 'src', 'add.js'), 'utf8'),
      original,
      'the workspace itself is untouched',
    );
    assert.deepEqual(store.labelerRun(result.labelerRunId)!.config.command, [node, 'check.js']);
    store.close();
  });

  it('never passes an argument through a shell, even one full of shell syntax', async () => {
    const witness = join(dir, 'argv.json');
    const marker = join(dir, 'PWNED');
    const hostile = `x; touch ${marker} && echo $(touch ${marker}) \`touch ${marker}\` | cat > ${marker} 'q' "dq" * ~ {a,b} \\`;
    const script =
      "require('fs').writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)));" +
      "process.exit(require('fs').readFileSync(process.argv[2], 'utf8').includes('good') ? 0 : 1)";
    const store = storeWith(file(), [
      { prompt: { language: 'plaintext', prefix: 'say ' }, texts: ['good', 'bad'] },
    ]);
    const labeler = testCommandLabeler({
      command: [node, '-e', script, witness, '{file}', hostile],
      trusted: true,
    });
    await runLabeler(store, labeler);
    const argv = JSON.parse(readFileSync(witness, 'utf8')) as string[];
    assert.equal(argv[1], hostile, 'the program received the argument byte for byte');
    assert.ok(!existsSync(marker), 'no shell ran the embedded commands');
    assert.deepEqual(pairsOf(store, 'test'), [['good', 'bad']]);
    store.close();
  });

  it('fails a completion whose command runs past the timeout', async () => {
    const script =
      "if (require('fs').readFileSync(process.argv[1], 'utf8').includes('loop')) setTimeout(() => {}, 30000)";
    const store = storeWith(file(), [
      { prompt: { language: 'plaintext', prefix: '' }, texts: ['fine', 'loop'] },
    ]);
    const started = performance.now();
    const result = await runLabeler(
      store,
      testCommandLabeler({ command: [node, '-e', script, '{file}'], trusted: true, timeoutMs: 1500 }),
    );
    assert.ok(performance.now() - started < 10_000);
    assert.deepEqual(pairsOf(store, 'test'), [['fine', 'loop']]);
    const details = store.labelScores(result.labelerRunId).map((s) => s.detail);
    assert.deepEqual(details, [null, 'timed out']);
    store.close();
  });

  it('stops every process the command started when it times out', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const script =
      "const c = require('child_process').spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });" +
      `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(c.pid)); setTimeout(() => {}, 60000);`;
    const store = storeWith(file(), [{ prompt: { language: 'plaintext', prefix: '' }, texts: ['a', 'b'] }]);
    await runLabeler(
      store,
      testCommandLabeler({ command: [node, '-e', script], trusted: true, timeoutMs: 1000 }),
    );
    const pid = Number(readFileSync(pidFile, 'utf8'));
    const alive = () => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      // A killed process nobody has reaped yet is a zombie: it no longer runs.
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0];
      return state !== 'Z';
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(), false, `process ${pid} started by the command was stopped`);
    store.close();
  });

  it('scores a completion as failed when the program cannot be started', async () => {
    const store = storeWith(file(), [{ prompt: { language: 'plaintext', prefix: '' }, texts: ['a', 'b'] }]);
    const result = await runLabeler(
      store,
      testCommandLabeler({ command: [join(dir, 'no-such-program')], trusted: true }),
    );
    assert.equal(result.pairsAdded, 0, 'all fail alike: no preference');
    const details = store.labelScores(result.labelerRunId).map((s) => s.detail);
    assert.match(details[0]!, /ENOENT/);
    store.close();
  });
});

describe('metric-command labeler', () => {
  it('prefers the completion with the lower printed number and skips runs that print none', async () => {
    // The metric: the completed document's length; the word "broken" makes the command fail.
    const script =
      "const t = require('fs').readFileSync(process.argv[1], 'utf8'); if (t.includes('broken')) process.exit(3);" +
      'console.log(`chars: ${t.length}`)';
    const store = storeWith(file(), [
      { prompt: { language: 'plaintext', prefix: 'x' }, texts: ['short', 'much longer', 'broken'] },
    ]);
    const result = await runLabeler(
      store,
      metricCommandLabeler({ command: [node, '-e', script, '{file}'], trusted: true }),
    );
    assert.deepEqual(pairsOf(store, 'metric'), [['short', 'much longer']]);
    assert.equal(result.candidatesScored, 2);
    const scores = store.labelScores(result.labelerRunId).map((s) => s.score);
    assert.deepEqual(scores, [6, 12]);
    assert.equal([...store.iteratePairs({ sources: ['metric'] })][0]!.confidence, 0.6);
    store.close();
  });
});
