/**
 * Where a training round's tensors live between session runs.
 * On WebGPU (resident): the base weights are uploaded once per round through an upload session (one Identity
 * per weight, outputs kept as GPU buffers) and every session of the round is fed those buffers; the step's
 * `*.next` outputs (LoRA weights, AdamW moments, gradient sums) are requested as GPU buffers and fed back as
 * the next step's inputs. A step then moves only token data, scalars and metrics between host and GPU.
 * On CPU, and on WebGPU when residency is off or sessions cannot share buffers, every tensor is a host tensor.
 * onnxruntime-node 1.30 cannot read a GPU buffer from JS (Tensor.getData() aborts the process), so reading
 * back goes through a download session: Identity per tensor, outputs in host memory.
 */
import * as ort from 'onnxruntime-node';
import { type DType, Graph, type Tensor } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import { serialize } from '../engine/graph/onnx.ts';
import { nextName } from '../train/adamw.ts';
import { type TrainDevice, sessionOptions } from '../train/session.ts';
import { firstLine } from '../inputError.ts';

/** Bytes fed to runs from host memory, and returned from runs into host memory. */
export interface HostTraffic {
  fedBytes: number;
  returnedBytes: number;
}

const ELEMENT_BYTES: Partial<Record<ort.Tensor.Type, number>> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int64: 8,
  int32: 4,
  bool: 1,
};
const onDevice = (t: ort.Tensor) => t.location === 'gpu-buffer';
const hostBytes = (t: ort.Tensor) => (onDevice(t) ? 0 : t.size * (ELEMENT_BYTES[t.type] ?? 0));
/**
 * A float16 host tensor from its bits. Where the JS runtime has Float16Array, onnxruntime-common 1.30 wraps the
 * bits in one, which the native binding does not recognise ("not enough space: expected N, got 0"); it reads
 * a Uint16Array of the same bits correctly.
 */
function halfTensor(bits: Uint16Array, shape: readonly number[]): ort.Tensor {
  const t = new ort.Tensor('float16', bits, shape);
  if (!(t.data instanceof Uint16Array)) (t as unknown as { cpuData: Uint16Array }).cpuData = bits;
  return t;
}

/** A weight the graph takes as an input (serialize's 'inputs' placement), as a host tensor. */
export const weightFeed = (t: Tensor): ort.Tensor =>
  t.dtype === 'float16' ? halfTensor(t.data as Uint16Array, t.shape) : new ort.Tensor(t.dtype as 'float32', t.data as Float32Array, t.shape);

/** The outputs a step carries over to the next one. */
const carriedOver = (name: string) => name.endsWith(nextName(''));

export class DeviceState {
  readonly device: TrainDevice;
  /** True when weights and training state stay on the GPU between runs. */
  resident: boolean;
  readonly traffic: HostTraffic = { fedBytes: 0, returnedBytes: 0 };
  /** Base weights by input name: GPU buffers when resident, host tensors otherwise. */
  readonly baseFeeds: Record<string, ort.Tensor> = {};
  /** Tensors owned for the whole round (never freed by `advance`). */
  private readonly pinned = new Set<ort.Tensor>();
  private readonly helpers = new Map<string, ort.InferenceSession>();
  private readonly threads: number;

  private constructor(device: TrainDevice, resident: boolean, threads: number) {
    this.device = device;
    this.resident = resident;
    this.threads = threads;
  }

  /**
   * Residency needs two sessions to share one GPU device: checked here by uploading a probe through one
   * session and reading it back through another. When that fails the round feeds from the host, and says so.
   */
  static async open(
    device: TrainDevice,
    options: { resident: boolean; threads: number; notice: (message: string) => void },
  ): Promise<DeviceState> {
    const state = new DeviceState(device, device === 'webgpu' && options.resident, options.threads);
    if (!state.resident) return state;
    const probe = Float32Array.of(1.5, -2.25, 3.125);
    try {
      const uploaded = await state.upload({ probe: new ort.Tensor('float32', probe, [3]) });
      const back = await state.read(new Map(Object.entries(uploaded)));
      for (const t of Object.values(uploaded)) t.dispose();
      const read = back.get('probe');
      if (!read || read.some((x, i) => x !== probe[i]))
        throw new Error(`read back [${read ? [...read].join(', ') : ''}]`);
    } catch (e) {
      state.resident = false;
      options.notice(
        `webgpu: training state stays in host memory: a GPU buffer made by one session could not be read through another (${firstLine(e)}); base weights and LoRA state are fed every step`,
      );
    }
    return state;
  }

  /** Session options for this device; outputs carried to the next step stay on the GPU when resident. */
  sessionOptions(
    outputNames: readonly string[],
    threads = this.threads,
  ): ort.InferenceSession.SessionOptions {
    const kept = this.resident ? outputNames.filter(carriedOver) : [];
    return {
      ...sessionOptions(this.device, threads),
      ...(kept.length > 0
        ? { preferredOutputLocation: Object.fromEntries(kept.map((n) => [n, 'gpu-buffer' as const])) }
        : {}),
    };
  }

  /** Makes base weights feedable: uploaded once when resident; weights already known are skipped. */
  async addBaseWeights(weights: ReadonlyMap<string, Tensor>): Promise<void> {
    const added: Record<string, ort.Tensor> = {};
    for (const [name, t] of weights) {
      if (!(name in this.baseFeeds))
        added[name] = weightFeed(t);
    }
    if (Object.keys(added).length === 0) return;
    const feeds = this.resident ? await this.upload(added) : added;
    for (const [name, t] of Object.entries(feeds)) {
      this.baseFeeds[name] = t;
      this.pinned.add(t);
    }
  }

  /** GPU copies of host tensors, owned by the round (freed by `release`). */
  async uploadPinned(tensors: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    if (!this.resident) return tensors;
    const uploaded = await this.upload(tensors);
    for (const t of Object.values(uploaded)) this.pinned.add(t);
    return uploaded;
  }

  /** Runs a session, fetching every output, and counts what crossed from and to host memory. */
  async run(
    session: ort.InferenceSession,
    feeds: Record<string, ort.Tensor>,
  ): Promise<ort.InferenceSession.ReturnType> {
    for (const t of Object.values(feeds)) this.traffic.fedBytes += hostBytes(t);
    const out = await session.run(feeds);
    for (const t of Object.values(out)) this.traffic.returnedBytes += hostBytes(t as ort.Tensor);
    return out;
  }

  /**
   * Replaces each tensor of `values` with its `.next` output of `out`, freeing the GPU buffer it held
   * (unless pinned: a pinned tensor can be the starting value of several steps).
   */
  advance(values: Map<string, ort.Tensor>, out: ort.InferenceSession.ReturnType): void {
    for (const [name, old] of values) {
      const next = out[nextName(name)] as ort.Tensor | undefined;
      if (!next) throw new Error(`training: the step did not return ${nextName(name)}`);
      values.set(name, next);
      this.dispose([old]);
    }
  }

  /** Host copies of the tensors (downloaded from the GPU where they live there). */
  async read(values: ReadonlyMap<string, ort.Tensor>): Promise<Map<string, Float32Array>> {
    const result = new Map<string, Float32Array>();
    const gpu = [...values].filter(([, t]) => onDevice(t));
    for (const [name, t] of values) if (!onDevice(t)) result.set(name, t.data as Float32Array);
    if (gpu.length === 0) return result;
    const session = await this.helper('download', gpu);
    const out = await session.run(Object.fromEntries(gpu));
    for (const [name] of gpu) {
      const t = out[`${name}.host`] as ort.Tensor;
      this.traffic.returnedBytes += hostBytes(t);
      result.set(name, t.data as Float32Array);
    }
    return result;
  }

  /** Frees GPU buffers now, except those the round owns (host tensors need nothing). */
  dispose(tensors: Iterable<ort.Tensor>): void {
    for (const t of tensors) if (onDevice(t) && !this.pinned.has(t)) t.dispose();
  }

  /** Frees the round's GPU buffers and helper sessions; call before releasing the sessions that used them. */
  async release(): Promise<void> {
    for (const t of this.pinned) if (onDevice(t)) t.dispose();
    this.pinned.clear();
    for (const name of Object.keys(this.baseFeeds)) delete this.baseFeeds[name];
    for (const s of this.helpers.values()) await s.release();
    this.helpers.clear();
  }

  private async upload(tensors: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
    const entries = Object.entries(tensors);
    const session = await this.helper('upload', entries);
    const out = await this.run(session, tensors);
    return Object.fromEntries(entries.map(([name]) => [name, out[`${name}.device`] as ort.Tensor]));
  }

  /**
   * Identity per tensor, one session per (kind, names, types, shapes); an upload session keeps its outputs on
   * the GPU, a download session returns them to the host.
   */
  private async helper(
    kind: 'upload' | 'download',
    tensors: readonly (readonly [string, ort.Tensor])[],
  ): Promise<ort.InferenceSession> {
    const key = `${kind}:${tensors.map(([n, t]) => `${n}:${t.type}:${t.dims.join('x')}`).join(',')}`;
    const found = this.helpers.get(key);
    if (found) return found;
    const g = new Graph(kind);
    const suffix = kind === 'upload' ? '.device' : '.host';
    for (const [name, t] of tensors)
      g.output(op.identity(g.input(name, t.type as DType, t.dims as number[])), `${name}${suffix}`);
    const session = await ort.InferenceSession.create(serialize(g).model, {
      ...this.sessionOptions([], 1),
      ...(kind === 'upload' ? { preferredOutputLocation: 'gpu-buffer' as const } : {}),
    });
    // kept until release(): the buffers an upload session allocated are freed before the session is
    this.helpers.set(key, session);
    return session;
  }
}
