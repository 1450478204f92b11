// Forward mode's check: jvp against the vjp through the transpose identity ⟨u, J·v⟩ = ⟨Jᵀu, v⟩, and
// against central differences along v, at random directions u and v drawn from a seed.
import { add, grad, jvp, mul, RandomState, sum, Tensor } from '@tapegrad/core';
import { centralDifference, type Outputs, outputList } from './finiteDiff.js';
import { defaultTolerance, type Tolerance } from './gradcheck.js';
import { type Judgement, ratio } from './judgement.js';

export interface JvpCheckOptions extends Partial<Tolerance> {
  /** Inputs not to differentiate (indices, masks); non-tensor arguments are skipped anyway. */
  nondiff?: readonly number[];
  /** Relative tolerance of the transpose identity, over Σ|terms| of both sides (default 1e-10). */
  transposeTolerance?: number;
  /** Seed of the directions u and v. */
  seed?: number;
}

/** A failed jvp check, with a judgement so that a property run shrinks to a witness as bad. */
export class JvpCheckError extends Error {
  override name = 'JvpCheckError';
  constructor(
    message: string,
    readonly judgement: Judgement,
  ) {
    super(message);
  }
}

/**
 * Σ a·b over every element of two lists of same-shaped tensors, Σ |a·b| for the tolerance, and how many
 * terms were summed.
 */
function dot(as: readonly Tensor[], bs: readonly Tensor[]): { value: number; scale: number; terms: number } {
  let value = 0;
  let scale = 0;
  let terms = 0;
  as.forEach((a, i) => {
    const b = bs[i]!;
    terms += a.size;
    for (let j = 0; j < a.size; j++) {
      const p = a.data[j]! * b.data[j]!;
      value += p;
      scale += Math.abs(p);
    }
  });
  return { value, scale, terms };
}

/**
 * Rounding error in the subnormal range is absolute, not relative: each rounding there may be off by
 * half of Number.MIN_VALUE whatever the values' size, so a relative tolerance alone fails inputs as small
 * as 1e-323 (a product rounds to 0 or to MIN_VALUE). Each term of ⟨u, J·v⟩ passes through a few roundings
 * (the rule's products and sums, then u's product and the sum): this many MIN_VALUEs a term are allowed.
 */
const SUBNORMAL_ROUNDINGS = 8;

/**
 * Checks f's jvp at args: ⟨u, J·v⟩ by jvp against ⟨Jᵀu, v⟩ by grad (the vjp), and J·v against central
 * differences (f(x + eps·v) - f(x - eps·v)) / 2eps, elementwise within atol + rtol·|numeric|
 * (gradcheck's defaults). Every tensor argument not in nondiff is differentiated; throws a
 * JvpCheckError naming what disagreed.
 */
export function checkJvp(
  f: (...args: unknown[]) => Outputs,
  args: readonly unknown[],
  options: JvpCheckOptions = {},
): void {
  const eps = options.eps ?? defaultTolerance.eps;
  const atol = options.atol ?? defaultTolerance.atol;
  const rtol = options.rtol ?? defaultTolerance.rtol;
  const transposeTolerance = options.transposeTolerance ?? 1e-10;
  const diff = args.flatMap((a, i) => (a instanceof Tensor && !options.nondiff?.includes(i) ? [i] : []));
  const call = (xs: readonly Tensor[]): Tensor[] => {
    const full = args.slice();
    diff.forEach((i, k) => {
      full[i] = xs[k];
    });
    return [...outputList(f(...full))];
  };
  const primals = diff.map((i) => args[i] as Tensor);
  const rng = new RandomState(options.seed ?? 0);
  const vs = primals.map((x) => rng.uniform(-1, 1, [...x.shape], { dtype: x.dtype }));
  const [outs, jv] = jvp((...xs: Tensor[]) => call(xs), primals, vs);
  const us = outs.map((o) => rng.uniform(-1, 1, [...o.shape], { dtype: o.dtype }));

  // ⟨Jᵀu, v⟩ by grad of x ↦ Σᵢ ⟨uᵢ, fᵢ(x)⟩, whose gradient is Jᵀu: through the ops' vjps.
  const pairing = (...xs: Tensor[]): Tensor =>
    call(xs)
      .map((o, i) => sum(mul(us[i]!, o)))
      .reduce((a, b) => add(a, b));
  const left = dot(us, jv);
  const jtu = diff.length === 0 ? [] : grad(pairing, { argnums: diff.map((_, k) => k) })(...primals);
  const right = dot(jtu, vs);
  const allowed =
    transposeTolerance * (left.scale + right.scale) +
    SUBNORMAL_ROUNDINGS * Number.MIN_VALUE * (left.terms + right.terms);
  const off = Math.abs(left.value - right.value);
  if (!(off <= allowed)) {
    const worst = `⟨u, J·v⟩ = ${left.value} by jvp, ⟨Jᵀu, v⟩ = ${right.value} by the vjp`;
    throw new JvpCheckError(
      `jvp check: the transpose identity fails: ${worst} (differ by ${off}, allowed ${allowed})`,
      { verdict: 'transpose identity', severity: ratio(off, allowed), worst, threw: false },
    );
  }

  // J·v by central differences: the sum over inputs of each one's directional difference.
  const signature = outs.map((o) => ({ shape: o.shape, dtype: o.dtype }));
  const numeric = outs.map((o) => new Float64Array(o.size));
  diff.forEach((index, k) => {
    const slopes = centralDifference(f, args, index, Float64Array.from(vs[k]!.data), eps, signature);
    if (!Array.isArray(slopes))
      throw new Error(`jvp check: output ${slopes.output} changed shape when nudged`);
    slopes.forEach((s, o) => {
      for (let j = 0; j < s.length; j++) numeric[o]![j]! += s[j]!;
    });
  });
  let worstRatio = 0;
  let worst = '';
  jv.forEach((t, o) => {
    for (let j = 0; j < t.size; j++) {
      const want = numeric[o]![j]!;
      const r = ratio(Math.abs(t.data[j]! - want), atol + rtol * Math.abs(want));
      if (r > worstRatio) {
        worstRatio = r;
        worst = `output ${o} element ${j}: jvp ${t.data[j]}, central differences ${want}`;
      }
    }
  });
  if (worstRatio > 1) {
    throw new JvpCheckError(
      `jvp check: J·v differs from central differences at ${worst} (atol ${atol}, rtol ${rtol}, eps ${eps})`,
      { verdict: 'jvp vs central differences', severity: worstRatio, worst, threw: false },
    );
  }
}
