/**
 * ONNX writer: serializes a lowered graph (no Prefer composites left) to an opset-21 ModelProto. Model
 * weights go one of three ways:
 *   'embedded'  inside the model file (small test graphs),
 *   'external'  one side file, each tensor 4 KiB-aligned so ONNX Runtime can memory-map it,
 *   'inputs'    declared as graph inputs that the runtime feeds (zero-copy, shared between sessions).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import { type Attribute, type DType, type Graph, type Tensor, type Value, MS_DOMAIN, PREFER_DOMAIN } from './ir.ts';
import { ATTRIBUTE_TYPE, ModelProto } from './onnxProto.ts';

export const OPSET = 21;
const IR_VERSION = 10;
const EXTERNAL_ALIGNMENT = 4096;

export type WeightPlacement = 'embedded' | 'external' | 'inputs';

export const ONNX_DTYPE: Record<DType, number> = { float32: 1, uint8: 2, int32: 6, int64: 7, bool: 9, float16: 10, float64: 11 };

function bytesOf(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function valueInfo(v: Value) {
  return {
    name: v.name,
    type: {
      tensor_type: {
        elem_type: ONNX_DTYPE[v.dtype],
        shape: { dim: v.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) },
      },
    },
  };
}

function tensorProto(name: string, t: Tensor) {
  return { name, dims: t.shape, data_type: ONNX_DTYPE[t.dtype], raw_data: bytesOf(t) };
}

function attributeProto(name: string, a: Attribute) {
  const type = ATTRIBUTE_TYPE[a.kind];
  switch (a.kind) {
    case 'int':
      return { name, type, i: a.value };
    case 'float':
      return { name, type, f: a.value };
    case 'ints':
      return { name, type, ints: a.value };
    case 'floats':
      return { name, type, floats: a.value };
    case 'string':
      return { name, type, s: new TextEncoder().encode(a.value) };
    case 'tensor':
      return { name, type, t: tensorProto('', a.value) };
  }
}

export interface SerializedModel {
  model: Uint8Array;
  /** For 'external': the tensors to write to the side file, at their aligned offsets. */
  external: { offset: number; bytes: Uint8Array }[];
  /** For 'inputs': the weights the runtime must feed, by input name. */
  fedWeights: Map<string, Tensor>;
}

/** `externalFile` is the side file's name as written into the model (relative to the model file). */
export function serialize(graph: Graph, placement: WeightPlacement = 'embedded', externalFile = 'weights.bin'): SerializedModel {
  for (const n of graph.nodes) {
    if (n.domain === PREFER_DOMAIN) throw new Error(`serialize: composite ${n.opType} left in graph ${graph.name}; lower() it first`);
  }
  const external: SerializedModel['external'] = [];
  const fedWeights = new Map<string, Tensor>();
  const initializer = [];
  const weightInputs = [];
  let offset = 0;
  for (const [v, init] of graph.initializers) {
    if (!init.weight || placement === 'embedded') {
      initializer.push(tensorProto(v.name, init.tensor));
    } else if (placement === 'inputs') {
      fedWeights.set(v.name, init.tensor);
      weightInputs.push(valueInfo(v));
    } else {
      const bytes = bytesOf(init.tensor);
      external.push({ offset, bytes });
      initializer.push({
        name: v.name,
        dims: init.tensor.shape,
        data_type: ONNX_DTYPE[init.tensor.dtype],
        data_location: 1,
        external_data: [
          { key: 'location', value: externalFile },
          { key: 'offset', value: String(offset) },
          { key: 'length', value: String(bytes.byteLength) },
        ],
      });
      offset = Math.ceil((offset + bytes.byteLength) / EXTERNAL_ALIGNMENT) * EXTERNAL_ALIGNMENT;
    }
  }
  const usesMs = graph.nodes.some((n) => n.domain === MS_DOMAIN);
  const model = {
    ir_version: IR_VERSION,
    producer_name: 'prefer',
    producer_version: '0.1',
    opset_import: [{ domain: '', version: OPSET }, ...(usesMs ? [{ domain: MS_DOMAIN, version: 1 }] : [])],
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        op_type: n.opType,
        domain: n.domain,
        input: n.inputs.map((v) => v?.name ?? ''),
        output: n.outputs.map((v) => v.name),
        attribute: Object.entries(n.attributes).map(([k, a]) => attributeProto(k, a)),
      })),
      initializer,
      input: [...graph.inputs.map(valueInfo), ...weightInputs],
      output: graph.outputs.map(valueInfo),
    },
  };
  const err = ModelProto.verify(model);
  if (err) throw new Error(`serialize: ${graph.name}: ${err}`);
  return { model: ModelProto.encode(model).finish(), external, fedWeights };
}

/** Bytes per write(2) call: one call moves at most 2 GiB − 4 KiB, less than one tensor of a 7B model (its embedding). */
const WRITE_CHUNK_BYTES = 1 << 30;

/** Writes all of `bytes` at `position`, in calls of at most `chunk` bytes, resuming after short writes. */
export function writeFully(fd: number, bytes: Uint8Array, position: number, chunk = WRITE_CHUNK_BYTES): void {
  for (let done = 0; done < bytes.byteLength; ) done += writeSync(fd, bytes, done, Math.min(chunk, bytes.byteLength - done), position + done);
}

/** Writes `<path>` and, for 'external', `<path>.data` next to it. */
export function writeModel(graph: Graph, path: string, placement: WeightPlacement = 'embedded'): SerializedModel {
  const dataPath = `${path}.data`;
  const s = serialize(graph, placement, basename(dataPath));
  if (placement === 'external') {
    const fd = openSync(dataPath, 'w');
    try {
      for (const { offset, bytes } of s.external) writeFully(fd, bytes, offset);
    } finally {
      closeSync(fd);
    }
  }
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, s.model);
  } finally {
    closeSync(fd);
  }
  return s;
}
