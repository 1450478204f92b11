// The functional API: grad, valueAndGrad and vjp over functions of tensors (JAX's shape of it).
// They are function transformations that work anywhere: under noGrad and inside a customOp's backward
// they record f all the same, and their pass walks only what f recorded (closed-over tensors are
// constants), so it neither reads nor frees a graph outside f. Nested (grad(grad(f)), a vjp inside a
// function that grad differentiates), the inner pass builds a graph that the outer one walks.

import { markLibraryCode } from './callSite.js';
import { DTypeError } from './dtype.js';
import { differentiable, isForwardActive, shareTangents } from './forward.js';
import { enterHigherOrder, exitHigherOrder, isHigherOrder, setGradEnabled } from './mode.js';
import { add, astype, mul } from './ops/elementwise.js';
import { sum } from './ops/reduce.js';
import { reshape, stack } from './ops/shape.js';
import { nextSeq, record, runBackward, seedFor } from './tape.js';
import { Tensor, zeros, zerosLike } from './tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

export interface GradOptions {
  /** Which arguments to differentiate: an index (one grad) or a list (a list of grads). Default 0. */
  argnums?: number | readonly number[];
}

// biome-ignore lint/suspicious/noExplicitAny: arguments other than the differentiated ones pass through untouched
type Fn = (...args: any[]) => Tensor;

function argIndices(args: readonly unknown[], argnums: number | readonly number[]): readonly number[] {
  const list = typeof argnums === 'number' ? [argnums] : argnums;
  for (const i of list) {
    if (!Number.isInteger(i) || i < 0 || i >= args.length) {
      throw new RangeError(`grad: argnums ${i} is out of range for ${args.length} arguments`);
    }
    if (!(args[i] instanceof Tensor)) throw new TypeError(`grad: argument ${i} is not a Tensor`);
  }
  return list;
}

interface Trace {
  value: Tensor;
  /** What f was called on for the differentiated arguments, in argnums order: fresh leaves, or stand-ins. */
  leaves: Tensor[];
  /** The stand-ins among leaves (recorded identities of arguments an outer grad differentiates), or null. */
  stops: ReadonlySet<Tensor> | null;
  /** The seq of the first node f could have recorded: the pullback walks only nodes from it on. */
  since: number;
}

/**
 * An argument's stand-in for a nested grad: its identity, recorded, so that the outer grad's pass reaches
 * the argument through it while the inner pass (which starts after it) stops there and returns its grad.
 */
export const standIn = differentiable(
  'argument',
  (x: Tensor): Tensor => record('argument', [x], new Tensor(x.data, x.shape), ([g]) => [g!]),
  ([t]): Tensor => t!, // an identity: under a jvp, it carries its argument's tangent
);

/**
 * Calls f on fresh leaves for the chosen arguments, with recording on whatever the caller's mode (a
 * noGrad, or a running backward, which turns recording off): without it f's ops would not be recorded
 * and every grad would be zeros. The caller's mode is restored after, also when f throws. Where an outer
 * grad differentiates an argument, f gets its stand-in instead, and the pass will build a graph.
 */
function trace(f: Fn, args: unknown[], indices: readonly number[]): Trace {
  const leaves: Tensor[] = [];
  const callArgs = args.slice();
  const nested = isHigherOrder();
  // Inside a jvp the leaves carry their arguments' tangents (a stand-in carries them by its jvp rule).
  const forward = isForwardActive();
  let stops: Set<Tensor> | null = null;
  for (const i of indices) {
    const arg = args[i] as Tensor;
    let leaf: Tensor;
    if (nested && arg.requiresGrad) {
      leaf = standIn(arg);
      stops ??= new Set();
      stops.add(leaf);
    } else {
      leaf = new Tensor(arg.data, arg.shape, true);
      if (forward) shareTangents(arg, leaf);
    }
    leaves.push(leaf);
    callArgs[i] = leaf;
  }
  const since = nextSeq();
  const previous = setGradEnabled(true);
  enterHigherOrder();
  let value: unknown;
  try {
    value = f(...callArgs);
  } finally {
    exitHigherOrder();
    setGradEnabled(previous);
  }
  if (!(value instanceof Tensor)) throw new TypeError('grad: the function must return a Tensor');
  return { value, leaves, stops, since };
}

/**
 * The grads of a trace's leaves for a seed of its value. Called where an outer grad is tracing (or a
 * graph-building pass runs), the pass builds a graph: the grads are differentiable in their turn.
 */
function pullback({ value, leaves, stops, since }: Trace, seed: Tensor, retainGraph: boolean): Tensor[] {
  if (!value.requiresGrad) return leaves.map((l) => zerosLike(l));
  // Inside a jvp too, so that the vjps run as recorded ops and carry tangents: jvp of grad (forward
  // over reverse) gives a Hessian-vector product.
  const createGraph = isHigherOrder() || isForwardActive();
  const grads = runBackward(
    [value],
    [seed],
    { retainGraph: retainGraph || createGraph, createGraph },
    since,
    stops,
  );
  // An input the output does not depend on gets zeros, as in JAX.
  return leaves.map((l) => grads.get(l) ?? zerosLike(l));
}

/** The value a transformation hands back: cut from f's graph, unless an outer grad or jvp differentiates it. */
const handedValue = ({ value }: Trace): Tensor =>
  isHigherOrder() || isForwardActive() ? value : value.detach();

/** One grad for a single argnum, a list for a list (so `grad(f)(x)` is typed as a Tensor). */
export type GradsOf<O extends GradOptions> = O extends { argnums: readonly number[] } ? Tensor[] : Tensor;

/** grad(f) is a function returning df/dx for a scalar-valued f (of argument argnums). */
export function grad<F extends Fn, const O extends GradOptions = { argnums: 0 }>(f: F, options?: O) {
  const vg = valueAndGrad<F, O>(f, options);
  return (...args: Parameters<F>): GradsOf<O> => vg(...args)[1];
}

/** Like grad, but returns [value, grads]. */
export function valueAndGrad<F extends Fn, const O extends GradOptions = { argnums: 0 }>(f: F, options?: O) {
  const argnums = options?.argnums ?? 0;
  return (...args: Parameters<F>): [Tensor, GradsOf<O>] => {
    const traced = trace(f, args, argIndices(args, argnums));
    const grads = pullback(traced, seedFor('grad', traced.value), false);
    return [handedValue(traced), (typeof argnums === 'number' ? grads[0]! : grads) as GradsOf<O>];
  };
}

/**
 * vjp(f, ...primals) → [out, vjpFn]: vjpFn(cotangent) gives the grad of every primal. It may be
 * called many times (the graph is retained).
 */
export function vjp(
  f: (...args: Tensor[]) => Tensor,
  ...primals: Tensor[]
): [Tensor, (ct: Tensor) => Tensor[]] {
  const traced = trace(
    f,
    primals,
    argIndices(
      primals,
      primals.map((_, i) => i),
    ),
  );
  const value = traced.value;
  const vjpFn = (cotangent: Tensor): Tensor[] => {
    if (!(cotangent instanceof Tensor)) throw new TypeError('vjp: the cotangent must be a Tensor');
    if (cotangent.dtype !== value.dtype) {
      throw new DTypeError(
        `vjp: cotangent dtype ${cotangent.dtype} differs from output dtype ${value.dtype}`,
      );
    }
    return pullback(traced, seedFor('vjp', value, cotangent), true);
  };
  return [handedValue(traced), vjpFn];
}

/**
 * The Hessian of a scalar-valued f at primals applied to tangents (one per primal, of its shape): the
 * grads of ⟨∇f, v⟩, reverse over reverse. Costs about a forward and two backwards, not a Hessian.
 */
export function hvp(
  f: (...args: Tensor[]) => Tensor,
  primals: readonly Tensor[],
  tangents: readonly Tensor[],
): Tensor[] {
  if (!Array.isArray(primals) || !Array.isArray(tangents) || primals.length !== tangents.length) {
    throw new TypeError('hvp: primals and tangents must be arrays of tensors of the same length');
  }
  tangents.forEach((v, i) => {
    const x = primals[i];
    if (!(v instanceof Tensor) || !(x instanceof Tensor)) {
      throw new TypeError(`hvp: primal and tangent ${i} must be Tensors`);
    }
    if (
      v.dtype !== x.dtype ||
      v.shape.length !== x.shape.length ||
      v.shape.some((d, k) => d !== x.shape[k])
    ) {
      throw new TypeError(
        `hvp: tangent ${i} is ${v.dtype} [${v.shape.join(',')}], its primal ${x.dtype} [${x.shape.join(',')}]`,
      );
    }
  });
  const argnums = primals.map((_, i) => i);
  const gradF = grad(f, { argnums });
  // ⟨∇f(x), v⟩, summed in float64 so that primals of mixed dtypes add.
  const directional = (...xs: Tensor[]): Tensor =>
    gradF(...xs)
      .map((g, i) => astype(sum(mul(g, tangents[i]!)), 'float64'))
      .reduce((total, term) => add(total, term));
  return grad(directional, { argnums })(...primals);
}

/**
 * hessian(f)(...args): the second derivatives of a scalar-valued f in argument argnums (default 0), of
 * shape [...x.shape, ...x.shape] (JAX's layout): the gradient's graph is built once, then walked back
 * once per element of x.
 */
export function hessian<F extends Fn>(f: F, options?: { argnums?: number }) {
  const argnum = options?.argnums ?? 0;
  return (...args: Parameters<F>): Tensor => {
    const x = argIndices(args, argnum).map((i) => args[i] as Tensor)[0]!;
    const shape = [...x.shape, ...x.shape];
    if (x.size === 0) return zeros(shape, { dtype: x.dtype });
    const gradAt = (y: Tensor): Tensor => {
      const call = args.slice();
      call[argnum] = y;
      return grad(f, { argnums: argnum })(...(call as Parameters<F>));
    };
    const [, pull] = vjp(gradAt, x);
    const rows: Tensor[] = [];
    for (let i = 0; i < x.size; i++) {
      const seed = new Float64Array(x.size);
      seed[i] = 1;
      rows.push(
        reshape(pull(new Tensor(x.dtype === 'float64' ? seed : Float32Array.from(seed), x.shape))[0]!, [-1]),
      );
    }
    return reshape(stack(rows), shape);
  };
}

markLibraryCode(codeStart, new Error()); // and where it ends
