import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_CONTEXT } from '../../../src/engine/hf/config.ts';
import { inferenceGraph } from '../../../src/engine/models/inference.ts';
import { llamaConfig, randomWeights } from '../../../src/engine/models/random.ts';

test('the rotary tables cover the context the engine gives, never a max_position_embeddings of 10⁷ rows', () => {
  const config = llamaConfig({ maxPositions: 1e7 });
  const g = inferenceGraph(config, randomWeights(config));
  const tables = [...g.initializers.entries()].filter(([v]) => v.name.startsWith('rotary_'));
  assert.equal(tables.length, 2);
  for (const [, t] of tables) assert.deepEqual(t.tensor.shape, [MAX_CONTEXT, config.headDim / 2]);
  const small = llamaConfig({ maxPositions: 128 });
  const shapes = [...inferenceGraph(small, randomWeights(small)).initializers.entries()].filter(([v]) => v.name.startsWith('rotary_')).map(([, t]) => t.tensor.shape);
  assert.deepEqual(shapes, [[128, small.headDim / 2], [128, small.headDim / 2]]);
});
