/**
 * Compiling a checkpoint to an ONNX inference model, cached on disk: the cache key is the checkpoint hash
 * plus every option that changes the graph, so a second start loads the files and skips compilation.
 * Weights go to one 4 KiB-aligned external file that ONNX Runtime memory-maps.
 *
 * Why external data with MatMul pre-packing (measured by `npm run bench:sample -- --placement`, SmolLM2-135M
 * shapes, fp32, 1 thread, shared 2-core machine; two runs, best of 2 interleaved rounds each):
 *                                   session       TTFT 512     N=1 tok/s    N=4 tok/s (all)
 *   external data, pre-packed       1137–5940 ms  1678–1935 ms  17.3–17.4   54.4–60.4
 *   external data, no pre-packing    432–1783 ms  1730–1818 ms  20.5–23.1   34.9–40.3
 *   weights fed as graph inputs     1033–2363 ms  1801–2702 ms  12.1–18.7   22.8–36.3
 * Batched decode (N candidates, the product's case) is 1.35–1.7× faster pre-packed; the price is a slower
 * session start and a private packed copy of the weights. Weights as inputs are never faster here and keep a
 * JS copy of every weight resident.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Checkpoint } from '../hf/types.ts';
import type { DType } from '../graph/ir.ts';
import { type Target, lower } from '../graph/lower.ts';
import { writeModel } from '../graph/onnx.ts';
import { inferenceGraph } from '../models/inference.ts';
import type { WeightStorage } from '../models/weights.ts';

/** Bump when the emitted graphs change, so stale caches are not reused. */
export const COMPILER_VERSION = 9;

export interface CompileOptions {
  dtype: DType;
  target: Target;
  /** ONNX Runtime's fused kernels for RMSNorm and rotary embedding (default true; see LowerOptions). */
  fused?: boolean;
  /** How the linears' weights are stored (default fp32). */
  weights?: WeightStorage;
}

export interface CompiledModel {
  path: string;
  /** false when the files came from the cache */
  compiled: boolean;
  compileMs: number;
}

export function cacheKey(checkpointHash: string, options: CompileOptions): string {
  return createHash('sha256')
    .update(JSON.stringify({ checkpointHash, v: COMPILER_VERSION, dtype: options.dtype, target: options.target, fused: options.fused ?? true, weights: options.weights ?? 'fp32' }))
    .digest('hex')
    .slice(0, 24);
}

export function compileInference(checkpoint: Checkpoint, cacheDir: string, options: CompileOptions): CompiledModel {
  const dir = join(cacheDir, cacheKey(checkpoint.hash, options));
  const path = join(dir, 'model.onnx');
  if (existsSync(path) && existsSync(`${path}.data`)) return { path, compiled: false, compileMs: 0 };
  const started = performance.now();
  const tmp = `${dir}.tmp-${process.pid}`;
  writeInference(checkpoint, options, tmp);
  collectGarbage();
  // a complete directory appears at once, so a crash mid-write never leaves a half cache entry
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { path, compiled: true, compileMs: performance.now() - started };
}

/** Builds the inference graph and writes it into `tmp`; the graph, with weight arrays the size of the model, lives only in this call. */
function writeInference(checkpoint: Checkpoint, options: CompileOptions, tmp: string): void {
  // built before anything is written: a checkpoint the graph refuses leaves nothing in the cache
  const graph = lower(inferenceGraph(checkpoint.config, checkpoint.weights, options.dtype, options.weights), options.target, { fused: options.fused ?? true });
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    writeModel(graph, join(tmp, 'model.onnx'), 'external');
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}

/**
 * A full garbage collection after a compile, so that the graph's weight arrays are freed before a session maps the
 * model beside them: V8 sees no reason to collect before ONNX Runtime allocates outside its heap. Cold start at
 * 1.5B int4 (`npm run bench:sample -- --shape qwen2.5-1.5b --weights int4`): peak RSS 2619 MiB without, 1703 MiB
 * with (the compile alone peaks at ~1200 MiB).
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
