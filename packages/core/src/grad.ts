// The functional API: grad, valueAndGrad and vjp over functions of tensors (JAX's shape of it).
// They are function transformations that work anywhere: under noGrad and inside a customOp's backward
// they record f all the same, and their pass walks only what f recorded (closed-over tensors are
// constants), so it neither reads nor frees a graph outside f.
import { markLibraryCode } from './callSite.js';
import { DTypeError } from './dtype.js';
import { setGradEnabled } from './mode.js';
import { nextSeq, runBackward, seedFor } from './tape.js';
import { Tensor, zerosLike } from './tensor.js';

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
  /** The fresh leaves f was called on, in argnums order. */
  leaves: Tensor[];
  /** The seq of the first node f could have recorded: the pullback walks only nodes from it on. */
  since: number;
}

/**
 * Calls f on fresh leaves for the chosen arguments, with recording on whatever the caller's mode (a
 * noGrad, or a running backward, which turns recording off): without it f's ops would not be recorded
 * and every grad would be zeros. The caller's mode is restored after, also when f throws.
 */
function trace(f: Fn, args: unknown[], indices: readonly number[]): Trace {
  const leaves: Tensor[] = [];
  const callArgs = args.slice();
  for (const i of indices) {
    const leaf = new Tensor((args[i] as Tensor).data, (args[i] as Tensor).shape, true);
    leaves.push(leaf);
    callArgs[i] = leaf;
  }
  const since = nextSeq();
  const previous = setGradEnabled(true);
  let value: unknown;
  try {
    value = f(...callArgs);
  } finally {
    setGradEnabled(previous);
  }
  if (!(value instanceof Tensor)) throw new TypeError('grad: the function must return a Tensor');
  return { value, leaves, since };
}

/** The grads of a trace's leaves for a seed of its value. */
function pullback({ value, leaves, since }: Trace, seed: Tensor, retainGraph: boolean): Tensor[] {
  if (!value.requiresGrad) return leaves.map((l) => zerosLike(l));
  const grads = runBackward([value], [seed], { retainGraph }, since);
  // An input the output does not depend on gets zeros, as in JAX.
  return leaves.map((l) => grads.get(l) ?? zerosLike(l));
}

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
    return [traced.value.detach(), (typeof argnums === 'number' ? grads[0]! : grads) as GradsOf<O>];
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
  return [value.detach(), vjpFn];
}

markLibraryCode(codeStart, new Error()); // and where it ends
