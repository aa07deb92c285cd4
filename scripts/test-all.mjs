// `npm test`: static checks, then the tiers — unit (node:test on the core), webgpu (the training graph on
// ONNX Runtime's WebGPU provider, software Vulkan where there is no GPU), integration (mocha in code-server's
// real extension host), end-to-end (Playwright + Debian Chromium against code-server with the packaged VSIX,
// and the panels' pages on their own). Every tier must run: one that cannot fails the whole run, loudly.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const out = join(root, '.test-output');
const only = process.argv.slice(2);
const wanted = (tier) => only.length === 0 || only.includes(tier);

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  console.error(`npm test needs Node >= 22 (this is ${process.version}): run scripts/test.sh, or source scripts/env.sh first`);
  process.exit(1);
}
mkdirSync(out, { recursive: true });

function run(label, command, args, env = {}) {
  const started = Date.now();
  console.log(`\n━━ ${label} ━━ ${[command, ...args].join(' ')}`);
  const r = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`━━ ${label}: exit ${r.status ?? r.signal} after ${seconds} s`);
  return r.status === 0;
}

/** A tier run by node's test runner; `launcher` is the command that ends in `node --test`. */
function nodeTestTier(tier, patterns, extraArgs = [], launcher = [process.execPath, '--test']) {
  const countsFile = join(out, `${tier}-counts.json`);
  rmSync(countsFile, { force: true });
  const ok = run(tier, launcher[0], [
    ...launcher.slice(1),
    ...extraArgs,
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'count-reporter.mjs')}`,
    `--test-reporter-destination=${countsFile}`,
    ...patterns,
  ]);
  return { ok, counts: readCounts(tier, countsFile) };
}

function readCounts(tier, file) {
  if (!existsSync(file)) return { passed: 0, failed: 0, skipped: 0, todo: 0, error: `${tier} wrote no results` };
  return JSON.parse(readFileSync(file, 'utf8'));
}

const results = [];
let staticOk = true;
if (only.length === 0) {
  const bin = (name) => join(root, 'node_modules', '.bin', name);
  staticOk = run('typecheck', bin('tsc'), ['-p', '.', '--noEmit']) && staticOk;
  staticOk = run('lint', bin('eslint'), ['.']) && staticOk;
}

if (wanted('unit')) {
  const r = nodeTestTier('unit', ['test/unit/**/*.test.ts']);
  results.push({ tier: 'unit', ...r });
}
if (wanted('webgpu')) {
  // The training graph on ONNX Runtime's WebGPU provider, through Mesa 25 lavapipe when there is no GPU.
  const r = nodeTestTier('webgpu', [], [], ['bash', join(root, 'scripts', 'test-webgpu.sh')]);
  results.push({ tier: 'webgpu', ...r });
}
if (wanted('integration')) {
  const built = run('build', process.execPath, ['scripts/build.mjs']);
  const countsFile = join(out, 'integration-counts.json');
  rmSync(countsFile, { force: true });
  const ok = built && run('integration', process.execPath, ['test/integration/run.ts']);
  results.push({ tier: 'integration', ok, counts: readCounts('integration', countsFile) });
}
if (wanted('e2e')) {
  const packaged = run('package', 'npm', ['run', 'package', '--silent']);
  const r = packaged
    ? nodeTestTier('e2e', ['test/e2e/*.e2e.ts'], ['--test-concurrency=1', '--test-timeout=600000'])
    : { ok: false, counts: { passed: 0, failed: 0, skipped: 0, todo: 0, error: 'the VSIX could not be packaged' } };
  results.push({ tier: 'e2e', ...r });
}

console.log('\n━━ summary ━━');
let passed = 0;
let failed = 0;
let allOk = staticOk;
for (const { tier, ok, counts } of results) {
  const ran = counts.passed + counts.failed;
  const problems = [];
  if (!ok) problems.push('runner exited non-zero');
  if (counts.error) problems.push(counts.error);
  if (ran === 0) problems.push('NO TESTS RAN');
  if (counts.skipped || counts.todo) problems.push(`${counts.skipped} skipped, ${counts.todo} todo (not allowed)`);
  allOk &&= problems.length === 0 && counts.failed === 0;
  passed += counts.passed;
  failed += counts.failed;
  console.log(`${tier.padEnd(12)} ${counts.passed} passed, ${counts.failed} failed${problems.length ? `  ✖ ${problems.join('; ')}` : ''}`);
}
if (!staticOk) console.log('static checks (typecheck, lint) failed');
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(allOk ? 0 : 1);
