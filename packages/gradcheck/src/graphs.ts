// Random computation graphs for gradcheck: 1–20 ops drawn from core's op table over broadcastable
// shapes, each op applied only where its domain holds and no kink is near (tracked by value bounds).
// A failing graph shrinks to the fewest ops and is printed as the TypeScript that rebuilds it.
import {
  abs,
  add,
  broadcastShapes,
  broadcastTo,
  clip,
  concat,
  div,
  exp,
  indexSelect,
  log,
  logSoftmax,
  logSumExp,
  matmul,
  maximum,
  mean,
  minimum,
  mul,
  neg,
  type OpName,
  permute,
  pow,
  relu,
  reshape,
  type Shape,
  sigmoid,
  slice,
  softmax,
  split,
  sqrt,
  squeeze,
  stack,
  sub,
  sum,
  type Tensor,
  tanh,
  tensor,
  transpose,
  unsqueeze,
} from '@tapegrad/core';
import * as fc from 'fast-check';
import { broadcastableShapes, defaultMargin } from './arbitraries.js';
import { assertGradcheck, type GradcheckReport } from './gradcheck.js';
import type { Judgement } from './judgement.js';
import {
  checkKeepingVerdict,
  defaultNumRuns,
  describeShrink,
  type Failed,
  type PropertyRunOptions,
} from './property.js';

/** What the generator knows of a value: its shape and bounds on its elements. */
export interface Bounds {
  shape: Shape;
  lo: number;
  hi: number;
}

/**
 * An op as the generator uses it. `infer` gives the result's shape and bounds, or null where the op
 * must not be applied (outside its domain, near a kink, shapes that do not fit, values too large
 * for central differences). Binary ops get a partner the generator finds among earlier values.
 */
export interface GraphOp {
  arity: 1 | 2;
  infer(param: number, a: Bounds, b: Bounds): Bounds | null;
  /** Runs the op; `at` and `bt` are what infer was given for a and b. */
  apply(param: number, a: Tensor, b: Tensor, at: Bounds, bt: Bounds): Tensor;
  /** The call as code, with every literal spelled out. */
  code(param: number, a: string, b: string, at: Bounds, bt: Bounds): string;
}

// Central differences at eps 1e-6 stay within tolerance for values up to this size.
const LIMIT = 50;
const within = (r: Bounds): Bounds | null =>
  Number.isFinite(r.lo) && Number.isFinite(r.hi) && r.lo >= -LIMIT && r.hi <= LIMIT ? r : null;
const sizeOf = (shape: Shape): number => shape.reduce((n, d) => n * d, 1);
const fmt = (shape: Shape): string => `[${shape.join(', ')}]`;

function broadcast(a: Shape, b: Shape): Shape | null {
  try {
    return broadcastShapes('graph', a, b);
  } catch {
    return null;
  }
}

/** Bounds of f over [lo, hi] for a monotone f (increasing or decreasing). */
const monotone = (shape: Shape, lo: number, hi: number, f: (v: number) => number): Bounds | null => {
  const [p, q] = [f(lo), f(hi)];
  return within({ shape, lo: Math.min(p, q), hi: Math.max(p, q) });
};

const products = (a: Bounds, lo: number, hi: number): [number, number] => {
  const ps = [a.lo * lo, a.lo * hi, a.hi * lo, a.hi * hi];
  return [Math.min(...ps), Math.max(...ps)];
};

const unary = (
  infer: (param: number, a: Bounds) => Bounds | null,
  apply: (param: number, a: Tensor, at: Bounds) => Tensor,
  code: (param: number, a: string, at: Bounds) => string,
): GraphOp => ({
  arity: 1,
  infer: (p, a) => infer(p, a),
  apply: (p, a, _, at) => apply(p, a, at),
  code: (p, a, _, at) => code(p, a, at),
});

const binary = (
  name: string,
  apply: (a: Tensor, b: Tensor) => Tensor,
  bounds: (a: Bounds, b: Bounds) => [number, number] | null,
): GraphOp => ({
  arity: 2,
  infer: (_, a, b) => {
    const shape = broadcast(a.shape, b.shape);
    const range = shape && bounds(a, b);
    return shape && range ? within({ shape, lo: range[0], hi: range[1] }) : null;
  },
  apply: (_, a, b) => apply(a, b),
  code: (_, a, b) => `${name}(${a}, ${b})`,
});

/** An axis of a value (param picks it), or null for rank 0. */
const axisOf = (param: number, shape: Shape): number | null =>
  shape.length === 0 ? null : param % shape.length;

/** A reduction over one axis (or all, for rank 0), keeping dims on odd params. */
function reduction(
  name: string,
  apply: (x: Tensor, options: { axis?: number; keepDims: boolean }) => Tensor,
  range: (a: Bounds, n: number) => [number, number],
): GraphOp {
  const plan = (param: number, shape: Shape) => {
    const axis = axisOf(param, shape);
    const keepDims = Math.floor(param / 3) % 2 === 1;
    const n = axis === null ? 1 : shape[axis]!;
    const out =
      axis === null
        ? []
        : shape.filter((_, i) => i !== axis || keepDims).map((d, i) => (keepDims && i === axis ? 1 : d));
    return { axis, keepDims, n, out };
  };
  return unary(
    (param, a) => {
      const { n, out } = plan(param, a.shape);
      const [lo, hi] = range(a, n);
      return within({ shape: out, lo, hi });
    },
    (param, x) => {
      const { axis, keepDims } = plan(param, x.shape);
      return apply(x, axis === null ? { keepDims } : { axis, keepDims });
    },
    (param, x, at) => {
      const { axis, keepDims } = plan(param, at.shape);
      return `${name}(${x}, { ${axis === null ? '' : `axis: ${axis}, `}keepDims: ${keepDims} })`;
    },
  );
}

/**
 * The core ops the generator draws from, by registry name. Typed by OpName, so an op added to
 * core must be placed here (null: left out, with the reason).
 */
export const graphOps: Record<OpName, GraphOp | null> = {
  add: binary('add', add, (a, b) => [a.lo + b.lo, a.hi + b.hi]),
  sub: binary('sub', sub, (a, b) => [a.lo - b.hi, a.hi - b.lo]),
  mul: binary('mul', mul, (a, b) => products(a, b.lo, b.hi)),
  // Denominators kept at least 0.3 from 0.
  div: binary('div', div, (a, b) => (b.lo > 0.3 || b.hi < -0.3 ? products(a, 1 / b.hi, 1 / b.lo) : null)),
  // No ties: the two operands' bounds are apart.
  maximum: binary('maximum', maximum, (a, b) =>
    a.lo > b.hi + defaultMargin || b.lo > a.hi + defaultMargin
      ? [Math.max(a.lo, b.lo), Math.max(a.hi, b.hi)]
      : null,
  ),
  minimum: binary('minimum', minimum, (a, b) =>
    a.lo > b.hi + defaultMargin || b.lo > a.hi + defaultMargin
      ? [Math.min(a.lo, b.lo), Math.min(a.hi, b.hi)]
      : null,
  ),
  neg: unary(
    (_, a) => within({ shape: a.shape, lo: -a.hi, hi: -a.lo }),
    (_, a) => neg(a),
    (_, a) => `neg(${a})`,
  ),
  exp: unary(
    (_, a) => monotone(a.shape, a.lo, a.hi, Math.exp),
    (_, a) => exp(a),
    (_, a) => `exp(${a})`,
  ),
  log: unary(
    (_, a) => (a.lo >= 0.1 ? monotone(a.shape, a.lo, a.hi, Math.log) : null),
    (_, a) => log(a),
    (_, a) => `log(${a})`,
  ),
  sqrt: unary(
    (_, a) => (a.lo >= 0.1 ? monotone(a.shape, a.lo, a.hi, Math.sqrt) : null),
    (_, a) => sqrt(a),
    (_, a) => `sqrt(${a})`,
  ),
  pow: unary(
    (param, a) => {
      const p = POWERS[param % POWERS.length]!;
      if (p === 2)
        return within({
          shape: a.shape,
          lo: a.lo > 0 || a.hi < 0 ? Math.min(a.lo ** 2, a.hi ** 2) : 0,
          hi: Math.max(a.lo ** 2, a.hi ** 2),
        });
      if (p === 3) return monotone(a.shape, a.lo, a.hi, (v) => v ** 3);
      return a.lo >= 0.2 ? monotone(a.shape, a.lo, a.hi, (v) => v ** p) : null; // fractional and negative powers of positives
    },
    (param, a) => pow(a, POWERS[param % POWERS.length]!),
    (param, a) => `pow(${a}, ${POWERS[param % POWERS.length]})`,
  ),
  tanh: unary(
    (_, a) => monotone(a.shape, a.lo, a.hi, Math.tanh),
    (_, a) => tanh(a),
    (_, a) => `tanh(${a})`,
  ),
  sigmoid: unary(
    (_, a) => monotone(a.shape, a.lo, a.hi, (v) => 1 / (1 + Math.exp(-v))),
    (_, a) => sigmoid(a),
    (_, a) => `sigmoid(${a})`,
  ),
  // relu and abs only on values wholly on one side of their kink at 0.
  relu: unary(
    (_, a) => (a.lo > defaultMargin ? a : a.hi < -defaultMargin ? { shape: a.shape, lo: 0, hi: 0 } : null),
    (_, a) => relu(a),
    (_, a) => `relu(${a})`,
  ),
  abs: unary(
    (_, a) =>
      a.lo > defaultMargin ? a : a.hi < -defaultMargin ? { shape: a.shape, lo: -a.hi, hi: -a.lo } : null,
    (_, a) => abs(a),
    (_, a) => `abs(${a})`,
  ),
  // Bounds 0.5 outside the value's range (the identity) or 0.5 above it (a constant): never at a kink.
  clip: unary(
    (param, a) => (param % 2 === 0 ? a : { shape: a.shape, lo: a.hi + 0.5, hi: a.hi + 0.5 }),
    (param, a, at) => clip(a, ...clipBounds(param, at)),
    (param, a, at) => `clip(${a}, ${clipBounds(param, at).join(', ')})`,
  ),
  where: null, // its mask is not differentiated and has its own spec; nothing here to compose
  astype: null, // a float32 cast defeats central differences at eps 1e-6 (its spec uses eps 1e-2)
  max: null, // broadcast copies and constant values tie exactly, and a tie is a kink
  min: null, // as max
  gather: null, // needs an index tensor shaped like its input; covered by its own spec
  matmul: {
    arity: 2,
    infer: (_, a, b) => {
      const shape = matmulShape(a.shape, b.shape);
      if (!shape) return null;
      const k = a.shape[a.shape.length - 1]!;
      const m = Math.max(Math.abs(a.lo), Math.abs(a.hi)) * Math.max(Math.abs(b.lo), Math.abs(b.hi)) * k;
      return within({ shape, lo: -m, hi: m });
    },
    apply: (_, a, b) => matmul(a, b),
    code: (_, a, b) => `matmul(${a}, ${b})`,
  },
  sum: reduction('sum', sum, (a, n) => [n * a.lo, n * a.hi]),
  mean: reduction('mean', mean, (a) => [a.lo, a.hi]),
  logSumExp: reduction('logSumExp', logSumExp, (a, n) => [a.lo, a.hi + Math.log(n)]),
  softmax: unary(
    (_, a) => (a.shape.length > 0 ? { shape: a.shape, lo: 0, hi: 1 } : null),
    (param, a) => softmax(a, axisOf(param, a.shape)!),
    (param, a, at) => `softmax(${a}, ${axisOf(param, at.shape)})`,
  ),
  logSoftmax: unary(
    (_, a) => {
      const n = Math.max(...a.shape, 1);
      return a.shape.length > 0 ? within({ shape: a.shape, lo: a.lo - a.hi - Math.log(n), hi: 0 }) : null;
    },
    (param, a) => logSoftmax(a, axisOf(param, a.shape)!),
    (param, a, at) => `logSoftmax(${a}, ${axisOf(param, at.shape)})`,
  ),
  reshape: unary(
    (_, a) => ({ ...a, shape: [sizeOf(a.shape)] }),
    (_, a) => reshape(a, [-1]),
    (_, a) => `reshape(${a}, [-1])`,
  ),
  transpose: unary(
    (_, a) => ({ ...a, shape: [...a.shape].reverse() }),
    (_, a) => transpose(a),
    (_, a) => `transpose(${a})`,
  ),
  // Axes rotated left by one.
  permute: unary(
    (_, a) => ({ ...a, shape: [...a.shape.slice(1), ...a.shape.slice(0, 1)] }),
    (_, a) => permute(a, rotation(a.shape.length)),
    (_, a, at) => `permute(${a}, ${fmt(rotation(at.shape.length))})`,
  ),
  unsqueeze: unary(
    (param, a) => {
      const axis = param % (a.shape.length + 1);
      return { ...a, shape: [...a.shape.slice(0, axis), 1, ...a.shape.slice(axis)] };
    },
    (param, a) => unsqueeze(a, param % (a.rank + 1)),
    (param, a, at) => `unsqueeze(${a}, ${param % (at.shape.length + 1)})`,
  ),
  squeeze: unary(
    (_, a) => (a.shape.includes(1) ? { ...a, shape: a.shape.filter((d) => d !== 1) } : null),
    (_, a) => squeeze(a),
    (_, a) => `squeeze(${a})`,
  ),
  // To the broadcast of its shape and the partner's (the partner's values are not used).
  broadcastTo: {
    arity: 2,
    infer: (_, a, b) => {
      const shape = broadcast(a.shape, b.shape);
      return shape ? { ...a, shape } : null;
    },
    apply: (_, a, b) => broadcastTo(a, broadcastShapes('broadcastTo', a.shape, b.shape)),
    code: (_, a, _b, at, bt) => `broadcastTo(${a}, ${fmt(broadcast(at.shape, bt.shape)!)})`,
  },
  // All but the first row along axis 0.
  slice: unary(
    (_, a) => ((a.shape[0] ?? 0) >= 2 ? { ...a, shape: [a.shape[0]! - 1, ...a.shape.slice(1)] } : null),
    (_, a) =>
      slice(
        a,
        a.shape.map((_, i) => (i === 0 ? 1 : 0)),
        [...a.shape],
      ),
    (_, a, at) => `slice(${a}, ${fmt(at.shape.map((_, i) => (i === 0 ? 1 : 0)))}, ${fmt(at.shape)})`,
  ),
  // The first or the second piece of axis 0 cut after its first row.
  split: unary(
    (param, a) => {
      const d = a.shape[0] ?? 0;
      return d >= 2 ? { ...a, shape: [param % 2 === 0 ? 1 : d - 1, ...a.shape.slice(1)] } : null;
    },
    (param, a) => split(a, [1, a.shape[0]! - 1], 0)[param % 2]!,
    (param, a, at) => `split(${a}, [1, ${at.shape[0]! - 1}], 0)[${param % 2}]`,
  ),
  concat: {
    arity: 2,
    infer: (_, a, b) =>
      a.shape.length > 0 &&
      a.shape.length === b.shape.length &&
      a.shape.slice(1).every((d, i) => d === b.shape[i + 1])
        ? {
            shape: [a.shape[0]! + b.shape[0]!, ...a.shape.slice(1)],
            lo: Math.min(a.lo, b.lo),
            hi: Math.max(a.hi, b.hi),
          }
        : null,
    apply: (_, a, b) => concat([a, b], 0),
    code: (_, a, b) => `concat([${a}, ${b}], 0)`,
  },
  stack: {
    arity: 2,
    infer: (_, a, b) =>
      a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i])
        ? { shape: [2, ...a.shape], lo: Math.min(a.lo, b.lo), hi: Math.max(a.hi, b.hi) }
        : null,
    apply: (_, a, b) => stack([a, b], 0),
    code: (_, a, b) => `stack([${a}, ${b}], 0)`,
  },
  // The last row, the first and the last again along axis 0 (a repeat, so grads must accumulate).
  indexSelect: unary(
    (_, a) => (a.shape.length > 0 ? { ...a, shape: [3, ...a.shape.slice(1)] } : null),
    (_, a) => indexSelect(a, 0, [a.shape[0]! - 1, 0, a.shape[0]! - 1]),
    (_, a, at) => `indexSelect(${a}, 0, [${at.shape[0]! - 1}, 0, ${at.shape[0]! - 1}])`,
  ),
};

const POWERS = [2, 3, 0.5, -1] as const;
const rotation = (rank: number): number[] => Array.from({ length: rank }, (_, i) => (i + 1) % rank);
const clipBounds = (param: number, a: Bounds): [number, number] =>
  param % 2 === 0 ? [a.lo - 0.5, a.hi + 0.5] : [a.hi + 0.5, a.hi + 1];

/** numpy matmul's result shape, or null when the shapes do not fit. */
function matmulShape(a: Shape, b: Shape): Shape | null {
  if (a.length === 0 || b.length === 0) return null;
  const k = a[a.length - 1]!;
  const kb = b.length === 1 ? b[0]! : b[b.length - 2]!;
  if (k !== kb) return null;
  const batch = broadcast(a.slice(0, -2), b.slice(0, -2));
  if (!batch) return null;
  return [
    ...batch,
    ...(a.length === 1 ? [] : [a[a.length - 2]!]),
    ...(b.length === 1 ? [] : [b[b.length - 1]!]),
  ];
}

/** One op of a graph: which op, its parameter, and the values (earlier indices) it reads. */
export interface GraphStep {
  op: string;
  param: number;
  operands: readonly [number] | readonly [number, number];
  /** What the generator knew of the operands, and of the result. */
  operandBounds: readonly [Bounds, Bounds];
  bounds: Bounds;
}

/** A graph: its inputs (float64 tensors), its ops in order, and its outputs: every value no op reads. */
export interface Graph {
  inputs: readonly Tensor[];
  steps: readonly GraphStep[];
  /** Indices of the output values (inputs first, then one value per step). */
  outputs: readonly number[];
  table: Readonly<Record<string, GraphOp | null>>;
}

export interface GraphOptions {
  /** Ops per graph (default 1 and 20). */
  minOps?: number;
  maxOps?: number;
  /** The ops to draw from (default graphOps; a test may add a planted op). */
  ops?: Readonly<Record<string, GraphOp | null>>;
}

interface Gene {
  op: number;
  pick: number;
  partner: number;
  param: number;
}

const MAX_INPUTS = 3;
const MAX_SIZE = 27; // 3 axes of 3

/**
 * Builds the graph a genome describes. Every genome builds a valid graph: operands are picked
 * counting back from the newest value, and an op whose domain, kink or shape rule fails gives way
 * to the next op of the table that applies (tanh, defined and smooth everywhere, if none does). Inputs no op reads are dropped.
 */
function build(
  table: Readonly<Record<string, GraphOp | null>>,
  shapes: readonly number[][],
  positive: readonly boolean[],
  raw: readonly (readonly number[])[],
  genes: readonly Gene[],
): Graph {
  const names = Object.keys(table).filter((n) => table[n]);
  const values: Bounds[] = shapes.map((shape, i) =>
    positive[i] ? { shape, lo: 0.2, hi: 2 } : { shape, lo: -2, hi: 2 },
  );
  const steps: GraphStep[] = [];
  for (const gene of genes) {
    const n = values.length;
    const a = n - 1 - (gene.pick % n);
    // The drawn op, or the next in the table that applies here.
    let step: GraphStep | null = null;
    for (let j = 0; j < names.length && !step; j++) {
      const op = names[(gene.op + j) % names.length]!;
      const spec = table[op]!;
      if (spec.arity === 1) {
        const bounds = spec.infer(gene.param, values[a]!, values[a]!);
        if (bounds)
          step = { op, param: gene.param, operands: [a], operandBounds: [values[a]!, values[a]!], bounds };
      } else {
        // The first partner that fits, searching back from the one the gene picks.
        for (let k = 0; k < n && !step; k++) {
          const b = n - 1 - ((gene.partner + k) % n);
          const bounds = spec.infer(gene.param, values[a]!, values[b]!);
          if (bounds)
            step = {
              op,
              param: gene.param,
              operands: [a, b],
              operandBounds: [values[a]!, values[b]!],
              bounds,
            };
        }
      }
    }
    step ??= {
      op: 'tanh',
      param: 0,
      operands: [a],
      operandBounds: [values[a]!, values[a]!],
      bounds: graphOps.tanh!.infer(0, values[a]!, values[a]!)!,
    };
    steps.push(step);
    values.push(step.bounds);
  }
  // Keep only the inputs read, renumbering the values.
  const used = [...new Set(steps.flatMap((s) => s.operands.filter((i) => i < shapes.length)))].sort(
    (x, y) => x - y,
  );
  const renumber = (i: number): number =>
    i < shapes.length ? used.indexOf(i) : i - shapes.length + used.length;
  const inputs = used.map((i) => {
    const { lo, hi } = values[i]!;
    const size = sizeOf(shapes[i]!);
    return tensor(
      raw[i]!.slice(0, size).map((u) => lo + u * (hi - lo)),
      { dtype: 'float64', shape: shapes[i]! },
    );
  });
  const renumbered = steps.map((s) => ({
    ...s,
    operands: s.operands.map(renumber) as [number] | [number, number],
  }));
  const read = new Set(renumbered.flatMap((s) => s.operands));
  const outputs = renumbered.flatMap((_, k) => (read.has(inputs.length + k) ? [] : [inputs.length + k]));
  return { inputs, steps: renumbered, outputs, table };
}

/** fast-check arbitrary of graphs; shrinking removes ops, simplifies shapes and moves values to bounds. */
export function graphs(options: GraphOptions = {}): fc.Arbitrary<Graph> {
  const { minOps = 1, maxOps = 20, ops = graphOps } = options;
  const gene = fc.record({ op: fc.nat(), pick: fc.nat(), partner: fc.nat(), param: fc.nat() });
  return fc
    .tuple(
      broadcastableShapes(MAX_INPUTS),
      fc.array(fc.boolean(), { minLength: MAX_INPUTS, maxLength: MAX_INPUTS }),
      fc.array(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: MAX_SIZE, maxLength: MAX_SIZE }),
        {
          minLength: MAX_INPUTS,
          maxLength: MAX_INPUTS,
        },
      ),
      fc.array(gene, { minLength: minOps, maxLength: maxOps, size: 'max' }),
    )
    .map(([shapes, positive, raw, genes]) => build(ops, shapes, positive, raw, genes));
}

/** Every value of a graph run on inputs (the graph's own, or others of the same shapes): inputs, then one per op. */
export function graphValues(graph: Graph, inputs: readonly Tensor[] = graph.inputs): Tensor[] {
  const values: Tensor[] = [...inputs];
  for (const step of graph.steps) {
    const spec = graph.table[step.op] ?? graphOps[step.op as OpName]!;
    const [a, b] = step.operands;
    values.push(spec.apply(step.param, values[a]!, values[b ?? a]!, ...step.operandBounds));
  }
  return values;
}

/** A graph's outputs on inputs (the graph's own by default). */
export function runGraph(graph: Graph, inputs: readonly Tensor[] = graph.inputs): Tensor[] {
  const values = graphValues(graph, inputs);
  return graph.outputs.map((i) => values[i]!);
}

/** The graph as TypeScript: its inputs as literals, one `const` per op, the output last. */
export function graphToCode(graph: Graph): string {
  const name = (i: number): string => (i < graph.inputs.length ? `x${i}` : `v${i - graph.inputs.length}`);
  const lines = graph.inputs.map(
    (x, i) =>
      `const x${i} = tensor(${JSON.stringify(x.toArray())}, { dtype: 'float64' }); // [${x.shape.join(', ')}]`,
  );
  graph.steps.forEach((step, k) => {
    const spec = graph.table[step.op] ?? graphOps[step.op as OpName]!;
    const [a, b] = step.operands;
    const text = spec.code(step.param, name(a), name(b ?? a), ...step.operandBounds);
    lines.push(`const v${k} = ${text}; // ${fmt(step.bounds.shape)}`);
  });
  const outputs = graph.outputs.map(name);
  lines.push(`return ${outputs.length === 1 ? outputs[0] : `[${outputs.join(', ')}]`};`);
  return lines.join('\n');
}

function graphRuns(): number {
  const env = typeof process === 'undefined' ? {} : process.env;
  if (env.TAPEGRAD_NUM_RUNS) return defaultNumRuns();
  return env.TAPEGRAD_DEEP && env.TAPEGRAD_DEEP !== '0' ? 3000 : 100;
}

/** A graph whose gradcheck failed: the shrunk graph, its code, the report and how to replay it. */
export class GraphFailure extends Error {
  override name = 'GraphFailure';
  constructor(
    message: string,
    readonly graph: Graph,
    readonly code: string,
    readonly report: GradcheckReport | undefined,
    readonly seed: number,
    readonly path: string,
    /** The graph that failed first, before shrinking, with its error and judgement. */
    readonly first: Failed<Graph>,
    /** The shrunk graph's verdict and severity (`first`'s verdict, unless that was an exception). */
    readonly judgement: Judgement,
  ) {
    super(message);
  }
}

/**
 * Gradchecks random graphs (100, or 3,000 under TAPEGRAD_DEEP=1; TAPEGRAD_NUM_RUNS overrides). On a failure,
 * fast-check shrinks the graph, keeping the first failure's verdict and most of its error (as every
 * property here does), and a GraphFailure prints the smallest one found as code beside the first failure.
 */
export function checkGraphs(options: GraphOptions & PropertyRunOptions = {}): {
  numRuns: number;
  seed: number;
} {
  const outcome = checkKeepingVerdict(
    graphs(options),
    (graph) => {
      assertGradcheck((...xs: Tensor[]) => runGraph(graph, xs), [...graph.inputs]);
    },
    { numRuns: options.numRuns ?? graphRuns(), seed: options.seed, path: options.path },
  );
  if (!outcome.failure) return { numRuns: outcome.numRuns, seed: outcome.seed };
  const { first, witness } = outcome.failure;
  const graph = witness.value;
  const code = graphToCode(graph);
  const cause = witness.error;
  const message = [
    `a random graph failed gradcheck after ${outcome.numRuns} run(s); shrunk ${outcome.numShrinks} time(s) to ${graph.steps.length} op(s):`,
    code.replace(/^/gm, '  '),
    cause instanceof Error ? cause.message : String(cause),
    describeShrink(first.judgement, witness.judgement),
    `replay with { seed: ${outcome.seed}, path: '${outcome.path}' }`,
  ].join('\n');
  throw new GraphFailure(
    message,
    graph,
    code,
    (cause as { report?: GradcheckReport } | null)?.report,
    outcome.seed,
    outcome.path,
    first,
    witness.judgement,
  );
}
