/**
 * The graph IR every Prefer model is built in: typed values with shapes, nodes appended in topological order,
 * graph inputs / outputs / initializers. Op builders (ops.ts) create nodes; lowering (lower.ts) expands
 * Prefer's composite ops into standard ONNX ops; the writer (onnx.ts) serializes. A graph may keep growing
 * after its forward pass: autodiff appends the backward nodes to the same graph.
 */

import { float32ToHalfBits } from '../hf/halfPrecision.ts';

/** uint8: block-quantized weights' packed codes (MatMulNBits). */
export type DType = 'float32' | 'float64' | 'float16' | 'int64' | 'int32' | 'bool' | 'uint8';

/** A dimension: a size, or a name for a size only known at run time (e.g. the KV-cache length). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export type TensorData = Float32Array | Float64Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array;

/** A host tensor: constant data for initializers and tensor-valued attributes. float16 is stored as raw Uint16Array. */
export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export type Attribute =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'string'; value: string }
  | { kind: 'tensor'; value: Tensor };

export type Attributes = Record<string, Attribute>;

export const attr = {
  int: (value: number): Attribute => ({ kind: 'int', value }),
  float: (value: number): Attribute => ({ kind: 'float', value }),
  ints: (value: number[]): Attribute => ({ kind: 'ints', value }),
  floats: (value: number[]): Attribute => ({ kind: 'floats', value }),
  string: (value: string): Attribute => ({ kind: 'string', value }),
  tensor: (value: Tensor): Attribute => ({ kind: 'tensor', value }),
};

/** The ONNX domain of Prefer's composite ops; lowering removes every node of this domain before writing. */
export const PREFER_DOMAIN = 'ai.prefer';
export const MS_DOMAIN = 'com.microsoft';

/**
 * How a value enters the graph: a run-time `input`, a constant `initializer` (weights, tables, small constants),
 * or the output of a node.
 */
export type ValueRole = 'input' | 'initializer' | 'node';

export class Value {
  readonly graph: Graph;
  readonly id: number;
  name: string;
  readonly dtype: DType;
  readonly shape: Dim[];
  readonly role: ValueRole;
  /** The node computing this value; null for inputs and initializers. */
  producer: Node | null;

  constructor(graph: Graph, id: number, name: string, dtype: DType, shape: Shape, role: ValueRole) {
    this.graph = graph;
    this.id = id;
    this.name = name;
    this.dtype = dtype;
    this.shape = [...shape];
    this.role = role;
    this.producer = null;
  }

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}[${this.shape.join(', ')}]`;
  }
}

export interface Node {
  readonly id: number;
  readonly opType: string;
  /** '' for the standard ONNX domain, PREFER_DOMAIN for composites, MS_DOMAIN for contrib ops. */
  readonly domain: string;
  /** null marks an omitted optional input. */
  readonly inputs: readonly (Value | null)[];
  readonly outputs: readonly Value[];
  readonly attributes: Attributes;
  readonly name: string;
}

/** Initializer payload: the tensor, and whether it is a large model weight (kept out of the model file). */
export interface Initializer {
  tensor: Tensor;
  /** Model weights: written as external data or fed as graph inputs, by the writer's choice. */
  weight: boolean;
}

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
}

export class Graph {
  readonly name: string;
  readonly nodes: Node[] = [];
  readonly inputs: Value[] = [];
  readonly outputs: Value[] = [];
  readonly initializers = new Map<Value, Initializer>();
  private nextId = 0;
  private readonly names = new Set<string>();
  private readonly scalars = new Map<string, Value>();

  constructor(name = 'prefer') {
    this.name = name;
  }

  private uniqueName(base: string): string {
    let name = base;
    for (let k = 1; this.names.has(name); k++) name = `${base}_${k}`;
    this.names.add(name);
    return name;
  }

  /** A run-time input; its name is what the runtime feeds. */
  input(name: string, dtype: DType, shape: Shape): Value {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: duplicate input name ${name}`);
    const v = new Value(this, this.nextId++, this.uniqueName(name), dtype, shape, 'input');
    this.inputs.push(v);
    return v;
  }

  /** A named constant; `weight` marks model weights (external data or fed as inputs). */
  initializer(name: string, tensor: Tensor, options: { weight?: boolean } = {}): Value {
    checkTensor(tensor, name);
    const v = new Value(this, this.nextId++, this.uniqueName(name), tensor.dtype, tensor.shape, 'initializer');
    this.initializers.set(v, { tensor, weight: options.weight ?? false });
    return v;
  }

  /** A small constant tensor (index lists, shapes, scalars). */
  constant(tensor: Tensor, name = 'const'): Value {
    return this.initializer(name, tensor);
  }

  /** A scalar constant of the given dtype, shared between uses. */
  scalar(value: number, dtype: DType = 'float32'): Value {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : String(value)}`;
    const found = this.scalars.get(key);
    if (found) return found;
    const v = this.constant({ dtype, shape: [], data: typedArrayOf(dtype, [value]) }, 'scalar');
    this.scalars.set(key, v);
    return v;
  }

  /** A 1-D int64 constant (axes, shapes, starts/ends). */
  int64s(values: readonly number[]): Value {
    const key = `int64s:${values.join(',')}`;
    const found = this.scalars.get(key);
    if (found) return found;
    const v = this.constant({ dtype: 'int64', shape: [values.length], data: BigInt64Array.from(values, BigInt) }, 'ints');
    this.scalars.set(key, v);
    return v;
  }

  /** Appends a node; returns its outputs. Inputs must belong to this graph (topological order by construction). */
  addNode(
    opType: string,
    inputs: readonly (Value | null)[],
    outputs: readonly OutputSpec[],
    attributes: Attributes = {},
    domain = '',
  ): Value[] {
    for (const v of inputs) {
      if (v && v.graph !== this) throw new Error(`${opType}: input ${v.name} belongs to another graph`);
    }
    const id = this.nextId++;
    const name = this.uniqueName(`${opType}_${id}`);
    const outs = outputs.map((o) => new Value(this, this.nextId++, this.uniqueName(`${opType.toLowerCase()}_${id}`), o.dtype, o.shape, 'node'));
    const node: Node = { id, opType, domain, inputs: [...inputs], outputs: outs, attributes, name };
    for (const o of outs) o.producer = node;
    this.nodes.push(node);
    return outs;
  }

  /** Marks a value as a graph output under `name` (an Identity is inserted when the value is an input or reused). */
  output(value: Value, name: string): Value {
    if (value.graph !== this) throw new Error(`output ${name}: value belongs to another graph`);
    let v = value;
    if (v.role !== 'node' || this.outputs.includes(v)) {
      [v] = this.addNode('Identity', [value], [{ dtype: value.dtype, shape: value.shape }]) as [Value];
    }
    this.names.delete(v.name);
    if (this.names.has(name)) throw new Error(`graph ${this.name}: output name ${name} already used`);
    this.names.add(name);
    v.name = name;
    this.outputs.push(v);
    return v;
  }

  /** Values by name, for tests and the runtime. */
  find(name: string): Value | undefined {
    for (const v of this.inputs) if (v.name === name) return v;
    for (const v of this.initializers.keys()) if (v.name === name) return v;
    for (const n of this.nodes) for (const o of n.outputs) if (o.name === name) return o;
    return undefined;
  }
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function isFloat(dtype: DType): boolean {
  return dtype === 'float32' || dtype === 'float64' || dtype === 'float16';
}

export function typedArrayOf(dtype: DType, values: readonly number[]): TensorData {
  switch (dtype) {
    case 'float32':
      return Float32Array.from(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64':
      return BigInt64Array.from(values, (x) => BigInt(Math.trunc(x)));
    case 'int32':
      return Int32Array.from(values);
    case 'bool':
      return Uint8Array.from(values, (x) => (x ? 1 : 0));
    case 'uint8':
      return Uint8Array.from(values);
    case 'float16':
      return Uint16Array.from(values, float32ToHalfBits);
  }
}

function checkTensor(t: Tensor, name: string): void {
  for (const d of t.shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`initializer ${name}: bad dimension ${d} in [${t.shape.join(', ')}]`);
  }
  const n = elementCount(t.shape);
  if (t.data.length !== n) {
    throw new Error(`initializer ${name}: ${t.data.length} elements for shape [${t.shape.join(', ')}] (${n} expected)`);
  }
}
