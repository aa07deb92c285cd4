import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseModelConfig } from '../../../src/engine/models/families.ts';

const PATH = '/models/x/config.json';

const llama = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 49152,
  hidden_size: 576,
  intermediate_size: 1536,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  bos_token_id: 0,
  eos_token_id: 0,
  torch_dtype: 'bfloat16',
};

test('reads a Llama (SmolLM2-135M) config with GQA and derived head_dim', () => {
  const c = parseModelConfig(llama, PATH);
  assert.equal(c.family, 'llama');
  assert.equal(c.architecture, 'LlamaForCausalLM');
  assert.deepEqual(
    [c.vocabSize, c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.maxPositions],
    [49152, 576, 30, 9, 3, 64, 1536, 8192],
  );
  assert.equal(c.normEps, 1e-5);
  assert.equal(c.ropeTheta, 100000);
  assert.equal(c.ropeScaling, null);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.attentionBias, false);
  assert.equal(c.qkNorm, false);
  assert.equal(c.bosTokenId, 0);
  assert.deepEqual(c.eosTokenIds, [0]);
  assert.equal(c.torchDtype, 'bfloat16');
});

test('reads transformers-5 rope_parameters and its non-default rope type', () => {
  const { rope_theta: _, ...base } = llama;
  const plain = parseModelConfig({ ...base, rope_parameters: { rope_theta: 500000, rope_type: 'default' } }, PATH);
  assert.equal(plain.ropeTheta, 500000);
  assert.equal(plain.ropeScaling, null);
  const scaled = parseModelConfig(
    { ...base, rope_parameters: { rope_theta: 500000, rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } },
    PATH,
  );
  assert.equal(scaled.ropeTheta, 500000);
  assert.deepEqual(scaled.ropeScaling, { type: 'llama3', parameters: { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
});

test('reads legacy rope_scaling next to rope_theta', () => {
  const c = parseModelConfig({ ...llama, rope_scaling: { type: 'linear', factor: 2 } }, PATH);
  assert.equal(c.ropeTheta, 100000);
  assert.deepEqual(c.ropeScaling, { type: 'linear', parameters: { factor: 2 } });
});

test('Mistral keeps its sliding window; default rope_theta is 10000', () => {
  const { rope_theta: _, ...base } = llama;
  const c = parseModelConfig({ ...base, architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096, head_dim: null }, PATH);
  assert.equal(c.modelType, 'mistral');
  assert.equal(c.slidingWindow, 4096);
  assert.equal(c.ropeTheta, 10000);
  assert.equal(c.headDim, 64);
});

test('Qwen2 has q/k/v bias and ignores sliding_window unless use_sliding_window', () => {
  const qwen2 = { ...llama, architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', sliding_window: 32768, use_sliding_window: false, eos_token_id: [151643, 151645] };
  const c = parseModelConfig(qwen2, PATH);
  assert.equal(c.attentionBias, true);
  assert.equal(c.qkNorm, false);
  assert.equal(c.slidingWindow, null);
  assert.deepEqual(c.eosTokenIds, [151643, 151645]);
  assert.equal(parseModelConfig({ ...qwen2, use_sliding_window: true }, PATH).slidingWindow, 32768);
});

test('Qwen3 has q/k norm and an explicit head_dim different from hidden/heads', () => {
  const c = parseModelConfig({ ...llama, architectures: ['Qwen3ForCausalLM'], model_type: 'qwen3', hidden_size: 1024, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128, attention_bias: false }, PATH);
  assert.equal(c.qkNorm, true);
  assert.equal(c.attentionBias, false);
  assert.equal(c.headDim, 128);
  assert.notEqual(c.headDim, c.hiddenSize / c.numHeads);
});

test('reads a GPT-2 config with its own field names and defaults', () => {
  const c = parseModelConfig(
    { architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', vocab_size: 50257, n_embd: 768, n_layer: 12, n_head: 12, n_inner: null, n_positions: 1024, layer_norm_epsilon: 1e-5, bos_token_id: 50256, eos_token_id: 50256 },
    PATH,
  );
  assert.equal(c.family, 'gpt2');
  assert.deepEqual([c.hiddenSize, c.numLayers, c.numHeads, c.numKvHeads, c.headDim, c.intermediateSize, c.maxPositions], [768, 12, 12, 12, 64, 3072, 1024]);
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.attentionBias, true);
  assert.deepEqual(c.eosTokenIds, [50256]);
});

test('rejects an unknown architecture naming the file and the architecture', () => {
  assert.throws(() => parseModelConfig({ ...llama, architectures: ['MambaForCausalLM'] }, PATH), {
    message: /^\/models\/x\/config\.json: unknown architecture MambaForCausalLM \(supported: LlamaForCausalLM/,
  });
});

test('rejects a missing config field naming the field', () => {
  const { hidden_size: _, ...missing } = llama;
  assert.throws(() => parseModelConfig(missing, PATH), { message: '/models/x/config.json: missing config field "hidden_size"' });
  assert.throws(() => parseModelConfig({ ...llama, architectures: undefined }, PATH), { message: '/models/x/config.json: missing config field "architectures"' });
  const { rope_theta: __, ...noTheta } = llama;
  assert.throws(() => parseModelConfig({ ...noTheta, rope_parameters: { rope_type: 'default' } }, PATH), {
    message: '/models/x/config.json: missing config field "rope_parameters.rope_theta"',
  });
});

test('rejects wrongly typed fields and inconsistent head counts', () => {
  assert.throws(() => parseModelConfig({ ...llama, num_hidden_layers: '30' }, PATH), { message: /^\/models\/x\/config\.json: config field "num_hidden_layers" must be a positive integer, got "30"$/ });
  assert.throws(() => parseModelConfig({ ...llama, num_key_value_heads: 4 }, PATH), { message: /not a multiple of num_key_value_heads 4/ });
  assert.throws(() => parseModelConfig({ ...llama, hidden_size: 577, head_dim: undefined }, PATH), { message: /hidden_size 577 is not divisible by num_attention_heads 9/ });
  assert.throws(() => parseModelConfig([], PATH), { message: '/models/x/config.json: config is not a JSON object' });
});
