// Forward mode's API, with JAX's semantics: jvp, linearize, and jacobian (forward or reverse, picked
// by shape). The engine is forward.ts; each op's jvp rule sits beside the op.
import { markLibraryCode } from './callSite.js';
import { DTypeError } from './dtype.js';
import { withLevel } from './forward.js';
import { type GradOptions, type GradsOf, vjp } from './grad.js';
import { allocate } from './memory/arena.js';
import { reshape, stack } from './ops/shape.js';
import { fmt, ShapeError, sameShape } from './shape.js';
import { Tensor, zeros, zerosLike } from './tensor.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

/** What a function under jvp may return: one tensor, or a list of them. */
export type JvpOutputs = Tensor | Tensor[];

function checkTensors(op: string, what: string, list: unknown): asserts list is readonly Tensor[] {
  if (!Array.isArray(list)) throw new TypeError(`${op}: ${what} must be an array of Tensors`);
  list.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw new TypeError(`${op}: ${what} ${i} is ${String(t)}, not a Tensor`);
  });
}

/** Tangents as JAX wants them: one per primal, each of its primal's shape and dtype. */
function checkTangents(op: string, primals: readonly Tensor[], tangents: readonly Tensor[]): void {
  checkTensors(op, 'tangent', tangents);
  if (tangents.length !== primals.length) {
    throw new TypeError(
      `${op}: ${primals.length} primal(s) but ${tangents.length} tangent(s); give one each`,
    );
  }
  primals.forEach((p, i) => {
    const t = tangents[i]!;
    if (t.dtype !== p.dtype) {
      throw new DTypeError(`${op}: tangent ${i} is ${t.dtype}, its primal ${p.dtype}; they must match`);
    }
    if (!sameShape(t.shape, p.shape)) {
      throw new ShapeError(
        `${op}: tangent ${i} has shape ${fmt(t.shape)}, its primal ${fmt(p.shape)}; they must match`,
      );
    }
  });
}

/**
 * f at the primals with their tangents (null: zero) pushed through it. Each primal enters f as a view
 * made outside the new level, so it keeps its graph and its tangents of any outer jvp, and a tensor f
 * closes over has no tangent here (a constant, as in JAX).
 */
function pushTangents<R extends JvpOutputs>(
  op: string,
  f: (...primals: Tensor[]) => R,
  primals: readonly Tensor[],
  tangents: readonly (Tensor | null)[],
): [R, R] {
  return withLevel(
    (attach) =>
      primals.map((p, i) => {
        const q = reshape(p, p.shape);
        attach(q, tangents[i]!);
        return q;
      }),
    (inputs, tangentOf): [R, R] => {
      const out = f(...inputs);
      const outs = Array.isArray(out) ? out : [out];
      if (!(out instanceof Tensor || Array.isArray(out)) || outs.some((o) => !(o instanceof Tensor))) {
        throw new TypeError(`${op}: the function must return a Tensor or an array of Tensors`);
      }
      const tangentsOut = outs.map((o) => tangentOf(o) ?? zerosLike(o));
      return [out, (Array.isArray(out) ? tangentsOut : tangentsOut[0]!) as R];
    },
  );
}

/**
 * jvp(f, primals, tangents) → [f(...primals), J·tangents]: forward mode, JAX's `jax.jvp`. f takes
 * tensors and returns a tensor or an array of them; the tangents match the primals one to one in shape
 * and dtype. The tangents are computed by recorded ops, so grad of a function that calls jvp works,
 * and jvps nest (each call is its own level: no perturbation confusion). Costs about one forward pass of
 * f plus the tangent arithmetic (two to three forward passes' work).
 */
export function jvp<R extends JvpOutputs>(
  f: (...primals: Tensor[]) => R,
  primals: readonly Tensor[],
  tangents: readonly Tensor[],
): [R, R] {
  if (typeof f !== 'function') throw new TypeError('jvp: f must be a function');
  checkTensors('jvp', 'primal', primals);
  checkTangents('jvp', primals, tangents);
  return pushTangents('jvp', f, primals, tangents);
}

/**
 * linearize(f, primals) → [f(...primals), fJvp], fJvp(...tangents) = J·tangents at those primals
 * (JAX's `jax.linearize`). Unlike JAX, which keeps only the linear part of f, fJvp runs f again under
 * jvp on every call: each costs what a jvp costs (about two to three forward passes of f), and f must
 * give the same result each time (no random draws) for the tangents to belong to the output returned.
 */
export function linearize<R extends JvpOutputs>(
  f: (...primals: Tensor[]) => R,
  primals: readonly Tensor[],
): [R, (...tangents: Tensor[]) => R] {
  if (typeof f !== 'function') throw new TypeError('linearize: f must be a function');
  checkTensors('linearize', 'primal', primals);
  const fixed = [...primals];
  const out = f(...fixed);
  const fJvp = (...tangents: Tensor[]): R => {
    checkTangents('linearize', fixed, tangents);
    return pushTangents('linearize', f, fixed, tangents)[1];
  };
  return [out, fJvp];
}

export interface JacobianOptions extends GradOptions {
  /**
   * 'fwd' (a jvp per input element) or 'rev' (a backward pass per output element). Default: forward
   * when the differentiated inputs have fewer elements than the output, reverse otherwise (JAX's rule).
   */
  mode?: 'fwd' | 'rev';
}

/** A one-hot tensor shaped like t, 1 at flat position i. */
function basis(t: Tensor, i: number): Tensor {
  const data = allocate(t.dtype, t.size);
  data[i] = 1;
  return new Tensor(data, t.shape);
}

/** A Jacobian's slices (rows of input shape, or columns of output shape), stacked along axis and shaped. */
function assemble(slices: Tensor[], axis: number, shape: readonly number[], dtype: Tensor['dtype']): Tensor {
  return slices.length === 0 ? zeros(shape, { dtype }) : reshape(stack(slices, axis), shape);
}

/**
 * jacobian(f, { argnums, mode }) is a function returning ∂f/∂x of shape f's output shape ++ x's shape,
 * for the argument argnums (default 0), or a list for a list of argnums (JAX's jacfwd/jacrev). f returns
 * one tensor. Forward mode runs f under jvp once per input element; reverse runs f once and a backward
 * pass per output element. Built by stack and reshape, so a forward-mode Jacobian is itself recorded
 * and differentiable (jacobian of jacobian in 'fwd' mode gives a Hessian).
 */
export function jacobian<
  // biome-ignore lint/suspicious/noExplicitAny: arguments other than the differentiated ones pass through untouched
  F extends (...args: any[]) => Tensor,
  const O extends JacobianOptions = { argnums: 0 },
>(f: F, options?: O) {
  if (typeof f !== 'function') throw new TypeError('jacobian: f must be a function');
  const argnums = options?.argnums ?? 0;
  const mode = options?.mode;
  if (mode !== undefined && mode !== 'fwd' && mode !== 'rev') {
    throw new RangeError(`jacobian: mode must be 'fwd' or 'rev', got ${String(mode)}`);
  }
  return (...args: Parameters<F>): GradsOf<O> => {
    const indices = typeof argnums === 'number' ? [argnums] : argnums;
    for (const i of indices) {
      if (!Number.isInteger(i) || i < 0 || i >= args.length) {
        throw new RangeError(`jacobian: argnums ${i} is out of range for ${args.length} arguments`);
      }
      if (!(args[i] instanceof Tensor)) throw new TypeError(`jacobian: argument ${i} is not a Tensor`);
    }
    const inputs = indices.map((i) => args[i] as Tensor);
    // f of the differentiated arguments only; the others pass through as they are.
    const g = (...xs: Tensor[]): Tensor => {
      const call = args.slice();
      indices.forEach((i, k) => {
        call[i] = xs[k];
      });
      const out = f(...call);
      if (!(out instanceof Tensor)) throw new TypeError('jacobian: the function must return one Tensor');
      return out;
    };
    const inSize = inputs.reduce((n, x) => n + x.size, 0);
    let jacobians: Tensor[] | undefined;
    if (mode !== 'fwd') {
      const [out, pull] = vjp(g, ...inputs);
      if (mode === 'rev' || inSize >= out.size) {
        const rows = inputs.map((): Tensor[] => []);
        for (let i = 0; i < out.size; i++) {
          pull(basis(out, i)).forEach((row, k) => {
            rows[k]!.push(row);
          });
        }
        jacobians = inputs.map((x, k) => assemble(rows[k]!, 0, [...out.shape, ...x.shape], x.dtype));
      }
    }
    if (jacobians === undefined) {
      let out: Tensor | undefined;
      const columns = inputs.map((x, k) => {
        const cols: Tensor[] = [];
        for (let j = 0; j < x.size; j++) {
          const tangents = inputs.map((_, m) => (m === k ? basis(x, j) : null));
          const [o, t] = pushTangents('jacobian', g, inputs, tangents);
          out = o;
          cols.push(t);
        }
        return cols;
      });
      out ??= g(...inputs); // every input was empty
      const o = out;
      jacobians = inputs.map((x, k) => assemble(columns[k]!, o.rank, [...o.shape, ...x.shape], o.dtype));
    }
    return (typeof argnums === 'number' ? jacobians[0]! : jacobians) as GradsOf<O>;
  };
}

markLibraryCode(codeStart, new Error()); // and where it ends
