/**
 * LoRA-DPO step time on WebGPU with the round's state resident on the GPU (base weights uploaded once, LoRA
 * weights and AdamW moments carried between steps as GPU buffers) against the same round fed from host memory
 * every step (the anchor: what every step did before residency). Each round runs in its own process, host-fed
 * and resident interleaved; per round: the median step time (the first step, which also feeds the initial LoRA
 * state, left out), the bytes each later step feeds from and returns to host memory, and peak RSS; at the end
 * the fastest and the median later step of each mode over all rounds, and their ratio.
 * Default shape: a small llama (hidden 256, 4 layers, vocab 8192, ~20 MB of weights), one pair per step at
 * length 64, LoRA r 16 on every linear: seconds per step under lavapipe (software Vulkan, no GPU).
 *
 *   npm run bench:train-webgpu -- --lavapipe [--rounds 2 --steps 6 --hidden 256 --layers 4 --vocab 8192 --length 64]
 *   (--lavapipe runs the rounds under Mesa lavapipe, set up by scripts/setup-lavapipe.sh; leave it out on a GPU)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ADAMW_DEFAULTS } from '../src/train/adamw.ts';
import type { HostTraffic } from '../src/dpo/deviceState.ts';
import { trainDpo } from '../src/dpo/trainer.ts';
import { llamaConfig, randomWeights } from '../src/engine/models/random.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    steps: { type: 'string', default: '6' },
    hidden: { type: 'string', default: '256' },
    layers: { type: 'string', default: '4' },
    vocab: { type: 'string', default: '8192' },
    length: { type: 'string', default: '64' },
    lavapipe: { type: 'boolean' },
    child: { type: 'string' },
  },
});
const hidden = Number(values.hidden);
const length = Number(values.length);
const config = llamaConfig({
  vocabSize: Number(values.vocab),
  hiddenSize: hidden,
  numLayers: Number(values.layers),
  numHeads: hidden / 64,
  numKvHeads: Math.max(1, hidden / 128),
  headDim: 64,
  intermediateSize: Math.round((hidden * 8) / 3 / 16) * 16,
  maxPositions: Math.max(128, length),
});

interface RoundReport {
  stepMs: number[];
  /** CPU time of the whole process per step (lavapipe's threads included): less disturbed by other load than wall time. */
  stepCpuMs: number[];
  traffic: HostTraffic[];
  maxRssMb: number;
}

async function child(resident: boolean): Promise<void> {
  const steps = Number(values.steps);
  // one pair per step, every pair filling the bucket: prompt + completion = length tokens
  let s = 7;
  const token = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) % (config.vocabSize - 2)) + 2;
  const half = length / 2;
  const examples = Array.from({ length: steps }, () => {
    const prompt = Array.from({ length: half }, token);
    return {
      prompt,
      chosen: Array.from({ length: half }, token),
      rejected: Array.from({ length: half }, token),
    };
  });
  const stamps: number[] = [];
  const cpuStamps: number[] = [];
  const stamp = () => {
    stamps.push(performance.now());
    const { user, system } = process.cpuUsage();
    cpuStamps.push((user + system) / 1000);
  };
  const traffic: HostTraffic[] = [];
  await trainDpo(
    config,
    randomWeights(config, 1, 0.02),
    examples,
    {
      loss: { type: 'sigmoid', beta: 0.1 },
      lora: { rank: 16, alpha: 32 },
      optimizer: ADAMW_DEFAULTS,
      learningRate: 1e-4,
      warmupRatio: 0,
      epochs: 1,
      pairsPerStep: 1,
      lengthStep: length,
      maxLength: length,
      evalFraction: 0,
      seed: 1,
      padId: 0,
      headChunks: 2,
      device: 'webgpu',
      deviceResident: resident,
    },
    {
      onPhase: (phase) => phase.kind === 'train' && stamp(),
      onStep: stamp,
      onHostTraffic: (_, t) => traffic.push(t),
      onNotice: (m) => console.error(m),
    },
  );
  const deltas = (xs: number[]) => xs.slice(1).map((t, i) => t - xs[i]!);
  const report: RoundReport = {
    stepMs: deltas(stamps),
    stepCpuMs: deltas(cpuStamps),
    traffic,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
  console.log(JSON.stringify(report));
}

function lavapipeEnv(): NodeJS.ProcessEnv {
  const root = join(import.meta.dirname, '..');
  const dir = execFileSync('bash', [join(root, 'scripts', 'setup-lavapipe.sh')], { encoding: 'utf8' }).trim();
  const runtime = join(root, '.cache', 'lavapipe', 'xdg-runtime');
  execFileSync('mkdir', ['-p', '-m', '700', runtime]);
  return {
    VK_ICD_FILENAMES: join(dir, 'root/usr/share/vulkan/icd.d/lvp_icd.json'),
    LD_LIBRARY_PATH: [join(dir, 'root/usr/lib/x86_64-linux-gnu'), process.env.LD_LIBRARY_PATH]
      .filter(Boolean)
      .join(':'),
    XDG_RUNTIME_DIR: runtime,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(2);
const size = (bytes: number) =>
  bytes < 1024 ? `${bytes} B` : bytes < 2 ** 20 ? `${(bytes / 1024).toFixed(1)} KiB` : `${mb(bytes)} MiB`;

async function main(): Promise<void> {
  if (values.child) return child(values.child === 'resident');
  const env = { ...process.env, ...(values.lavapipe ? lavapipeEnv() : {}) };
  const args = process.argv.slice(2).filter((a) => a !== '--lavapipe');
  const weightMb = mb(randomWeightsBytes());
  console.log(
    `LoRA-DPO step on WebGPU${values.lavapipe ? ' (lavapipe, software Vulkan)' : ''}: hidden ${hidden}, ${config.numLayers} layers, vocab ${config.vocabSize}, ${weightMb} MiB of base weights, 1 pair × length ${length}, LoRA r 16`,
  );
  const results: Record<'host' | 'resident', RoundReport[]> = { host: [], resident: [] };
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const mode of ['host', 'resident'] as const) {
      const out = spawnSync(process.execPath, [import.meta.filename, ...args, '--child', mode], {
        env,
        encoding: 'utf8',
        maxBuffer: 1 << 26,
      });
      const line = out.stdout.trim().split('\n').pop() ?? '';
      if (out.status !== 0 || !line.startsWith('{'))
        throw new Error(
          `${mode} round failed (exit ${out.status}): ${out.stderr
            .split('\n')
            .filter((l) => !l.startsWith('Warning'))
            .slice(-5)
            .join(' | ')}`,
        );
      const report = JSON.parse(line) as RoundReport;
      results[mode].push(report);
      const later = report.traffic.slice(1);
      console.log(
        `  round ${r + 1} ${mode.padEnd(8)} median step ${median(report.stepMs.slice(1)).toFixed(0)} ms, CPU ${median(report.stepCpuMs.slice(1)).toFixed(0)} ms (first ${report.stepMs[0]!.toFixed(0)} ms)` +
          `  per later step: fed ${size(median(later.map((t) => t.fedBytes)))}, returned ${size(median(later.map((t) => t.returnedBytes)))}  peak RSS ${report.maxRssMb.toFixed(0)} MB`,
      );
    }
  }
  // the machine is shared: the fastest later step of each mode is the least disturbed measurement
  const later = (mode: 'host' | 'resident', key: 'stepMs' | 'stepCpuMs') =>
    results[mode].flatMap((x) => x[key].slice(1));
  const fastest = (xs: number[]) => Math.min(...xs);
  for (const [label, key, pick] of [
    ['fastest later step', 'stepMs', fastest],
    ['median later step', 'stepMs', median],
    ['median CPU time per later step', 'stepCpuMs', median],
  ] as const) {
    const [host, resident] = [pick(later('host', key)), pick(later('resident', key))];
    console.log(
      `${label}: host-fed ${host.toFixed(0)} ms (anchor), resident ${resident.toFixed(0)} ms: ${(resident / host).toFixed(2)}× the anchor`,
    );
  }
}

function randomWeightsBytes(): number {
  const weights = randomWeights(config, 1, 0.02);
  return weights.names().reduce((total, name) => total + weights.get(name).data.byteLength, 0);
}

await main();
