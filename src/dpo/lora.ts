/**
 * LoRA on a model family's linears: y = W·x (+ bias) + s · B·(A·x), with A [r, in] and B [out, r] as graph
 * inputs in PEFT's layout and names, so gradients come out ready to save as a PEFT adapter. The base weights
 * stay the family's frozen initializers: nothing is copied and the autodiff never differentiates them.
 *   s = alpha / r            (PEFT's default)
 *   s = alpha / √r           (rsLoRA)
 * A starts as PEFT initializes it (Kaiming-uniform with a = √5: U(±1/√in)), B at zero, so a fresh adapter
 * leaves the model unchanged.
 */
import type { DType, Graph, Value } from '../engine/graph/ir.ts';
import * as op from '../engine/graph/ops.ts';
import type { LinearHook, LinearSite } from '../engine/models/family.ts';
import { uniformStream } from '../engine/models/seededStream.ts';

export interface LoraConfig {
  rank: number;
  alpha: number;
  /** Scale alpha/√r instead of alpha/r. */
  rsLora?: boolean;
  /**
   * PEFT-style target modules: a linear is adapted when its name equals a target or ends with `.target`
   * (`q_proj`, `mlp.c_proj`). Absent: every linear of attention and MLP.
   */
  targetModules?: readonly string[];
}

/** One adapted linear: its site and its two trainable matrices. */
export interface LoraLayer {
  site: LinearSite;
  a: Value;
  b: Value;
}

export function loraScale(config: LoraConfig): number {
  return config.rsLora ? config.alpha / Math.sqrt(config.rank) : config.alpha / config.rank;
}

/** PEFT's tensor name, e.g. base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight. */
export function peftTensorName(site: LinearSite, matrix: 'A' | 'B'): string {
  return `base_model.model.${site.name}.lora_${matrix}.weight`;
}

export function checkLoraConfig(config: LoraConfig): void {
  if (!Number.isInteger(config.rank) || config.rank < 1) throw new Error(`lora: rank must be a positive integer, got ${config.rank}`);
  if (!(config.alpha > 0) || !Number.isFinite(config.alpha)) throw new Error(`lora: alpha must be a positive number, got ${config.alpha}`);
  if (config.targetModules?.length === 0) throw new Error('lora: target modules must not be empty (omit them to adapt every linear)');
}

const targets = (config: LoraConfig, site: LinearSite) =>
  !config.targetModules || config.targetModules.some((t) => site.name === t || site.name.endsWith(`.${t}`));

/** Adapts a graph's linears: pass `hook` to the family's forward, then read the adapted `layers`. */
export class LoraAdapter {
  readonly config: LoraConfig;
  readonly scale: number;
  readonly layers: LoraLayer[] = [];
  private readonly graph: Graph;
  private readonly dtype: DType;
  private readonly seenSites: LinearSite[] = [];

  constructor(graph: Graph, config: LoraConfig, dtype: DType) {
    checkLoraConfig(config);
    this.graph = graph;
    this.config = config;
    this.dtype = dtype;
    this.scale = loraScale(config);
  }

  readonly hook: LinearHook = (site, x, y) => {
    this.seenSites.push(site);
    if (!targets(this.config, site)) return y;
    const r = this.config.rank;
    const a = this.graph.input(peftTensorName(site, 'A'), this.dtype, [r, site.inFeatures]);
    const b = this.graph.input(peftTensorName(site, 'B'), this.dtype, [site.outFeatures, r]);
    this.layers.push({ site, a, b });
    const down = op.mul(op.matmul(x, op.transpose(a, [1, 0])), this.scale); // scaled at rank r: the smallest tensor
    return op.add(y, op.matmul(down, op.transpose(b, [1, 0])));
  };

  /** Trainable values, in a stable order (A then B per layer, layers in graph order). */
  parameters(): Value[] {
    return this.layers.flatMap((l) => [l.a, l.b]);
  }

  /** Call after the forward pass: a target that matched no linear is a configuration error. */
  assertTargetsMatched(): void {
    if (this.layers.length === 0 && this.seenSites.length === 0) throw new Error('lora: the model exposed no linear layers (was the hook passed to forward?)');
    for (const t of this.config.targetModules ?? []) {
      if (!this.seenSites.some((s) => s.name === t || s.name.endsWith(`.${t}`))) {
        const known = [...new Set(this.seenSites.map((s) => s.name.split('.').pop()))].join(', ');
        throw new Error(`lora: target module ${t} matches no linear of this model (linears: ${known})`);
      }
    }
  }
}

/** Fresh adapter weights by PEFT tensor name: A ~ U(±1/√in) from `seed`, B = 0. */
export function initialLoraWeights(layers: readonly LoraLayer[], seed: number, dtype: 'float32' | 'float64' = 'float32'): Map<string, Float32Array | Float64Array> {
  const Arr = dtype === 'float64' ? Float64Array : Float32Array;
  const rand = uniformStream(seed);
  const weights = new Map<string, Float32Array | Float64Array>();
  for (const { site, a, b } of layers) {
    // kaiming_uniform_(a=√5) on [r, in]: gain √(2/(1+5)) · √(3/in) = 1/√in
    const bound = 1 / Math.sqrt(site.inFeatures);
    const initialA = new Arr((a.shape[0] as number) * site.inFeatures);
    for (let i = 0; i < initialA.length; i++) initialA[i] = bound * rand();
    weights.set(a.name, initialA);
    weights.set(b.name, new Arr(site.outFeatures * (b.shape[1] as number)));
  }
  return weights;
}
