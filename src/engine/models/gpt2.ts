/**
 * GPT-2: learned position embeddings; pre-LayerNorm blocks of fused-qkv attention and a GELU(tanh) MLP;
 * final LayerNorm; LM head tied to the token embedding. HF stores its linears as Conv1D weights [in, out],
 * which is already the layout MatMul wants.
 */
import type { ModelConfig, WeightSource } from '../hf/types.ts';
import type { DType, Graph, Value } from '../graph/ir.ts';
import * as op from '../graph/ops.ts';
import { attention } from './attention.ts';
import type { CausalLM, ForwardInputs, ForwardResult, LayerKv, LinearHook, PastContext } from './family.ts';
import { timesTransposed } from './llama.ts';
import { GraphWeights } from './weights.ts';

export function gpt2(g: Graph, config: ModelConfig, source: WeightSource, dtype: DType): CausalLM {
  const w = new GraphWeights(g, source, dtype);
  const { hiddenSize: C, numHeads: H, headDim: D, intermediateSize: F, normEps: eps } = config;
  // the original OpenAI export has no `transformer.` prefix; transformers' own saves do
  const prefix = source.has('transformer.wte.weight') ? 'transformer.' : '';

  function conv1d(x: Value, name: string, layer: number, inF: number, outF: number, hook?: LinearHook): Value {
    const y = op.add(op.matmul(x, w.tensor(`${prefix}${name}.weight`, [inF, outF])), w.tensor(`${prefix}${name}.bias`, [outF]));
    return hook ? hook({ name: `${prefix}${name}`, layer, inFeatures: inF, outFeatures: outF }, x, y) : y;
  }

  const layerNorm = (x: Value, name: string) => op.layerNorm(x, w.tensor(`${prefix}${name}.weight`, [C]), w.tensor(`${prefix}${name}.bias`, [C]), eps);
  const splitHeads = (x: Value) => op.transpose(op.reshape(x, [0, 0, H, D]), [0, 2, 1, 3]);

  function selfAttention(x: Value, i: number, bias: Value, past: PastContext | undefined, hook?: LinearHook) {
    const qkv = conv1d(x, `h.${i}.attn.c_attn`, i, C, 3 * C, hook);
    const q = splitHeads(op.slice(qkv, [0], [C], [-1]));
    const k = splitHeads(op.slice(qkv, [C], [2 * C], [-1]));
    const v = splitHeads(op.slice(qkv, [2 * C], [3 * C], [-1]));
    const cached = past ? { ...past.layers[i]!, bias: past.bias } : undefined;
    const context = attention(q, k, v, bias, cached, H, H, D);
    return { out: conv1d(context, `h.${i}.attn.c_proj`, i, C, C, hook), kv: { key: k, value: v } };
  }

  function mlp(x: Value, i: number, hook?: LinearHook): Value {
    const h = op.geluTanh(conv1d(x, `h.${i}.mlp.c_fc`, i, C, F, hook));
    return conv1d(h, `h.${i}.mlp.c_proj`, i, F, C, hook);
  }

  function forward({ inputIds, positions, attentionBias, past, linearHook }: ForwardInputs): ForwardResult {
    const wte = w.tensor(`${prefix}wte.weight`, [config.vocabSize, C]);
    let x = op.add(op.gather(wte, inputIds), op.gather(w.tensor(`${prefix}wpe.weight`, [config.maxPositions, C]), positions));
    const newKv: LayerKv[] = [];
    const layerBoundaries: Value[] = [];
    for (let i = 0; i < config.numLayers; i++) {
      layerBoundaries.push(x);
      const attn = selfAttention(layerNorm(x, `h.${i}.ln_1`), i, attentionBias, past, linearHook);
      x = op.add(x, attn.out);
      x = op.add(x, mlp(layerNorm(x, `h.${i}.ln_2`), i, linearHook));
      newKv.push(attn.kv);
    }
    layerBoundaries.push(x);
    return { hidden: layerNorm(x, 'ln_f'), newKv, layerBoundaries };
  }

  const lmHead = (hidden: Value) => timesTransposed(hidden, w.tensor(`${prefix}wte.weight`, [config.vocabSize, C]));

  return { config, dtype, forward, lmHead };
}
