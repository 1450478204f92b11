// gradcheck: the tape's gradient (core's vjp) against central differences, in float64, with
// torch.autograd.gradcheck's defaults and checks; the report names input, element and tolerance.
import { add, astype, mul, ones, RandomState, type Shape, sum, Tensor, tensor, vjp } from '@tapegrad/core';
import {
  centralDifference,
  evaluate,
  type OutputSignature,
  type Outputs,
  outputList,
  toFloat64,
} from './finiteDiff.js';
import { type Judgement, ratio } from './judgement.js';

export interface Tolerance {
  /** Step of the central difference. */
  eps: number;
  atol: number;
  rtol: number;
}

/** torch.autograd.gradcheck's defaults. */
export const defaultTolerance: Readonly<Tolerance> = { eps: 1e-6, atol: 1e-5, rtol: 1e-3 };

export interface GradcheckOptions extends Partial<Tolerance> {
  /** full: the whole Jacobian by one-hot seeds; fast: one random projection vᵀJu per input. */
  mode?: 'full' | 'fast';
  /** Inputs not to differentiate (indices, masks); non-tensor arguments are skipped anyway. */
  nondiff?: readonly number[];
  /** Names for the inputs in the report (default `input <i>`). */
  names?: readonly string[];
  /** Seed of the random vectors (fast mode, determinism and linearity checks). */
  randomSeed?: number;
}

export type FailureKind =
  | 'jacobian' // an analytic and a numeric entry differ beyond atol + rtol·|numeric|
  | 'projection' // fast mode: (vᵀJ_an)u differs from vᵀ(J_num u)
  | 'no-influence' // the outputs do not depend on the input, yet its grad is not zero
  | 'output-signature' // an output changed shape or dtype under a nudge of size eps
  | 'nondeterministic' // two backwards with the same output grads differ
  | 'nonlinear'; // backward(a·g1 + b·g2) ≠ a·backward(g1) + b·backward(g2)

export interface GradcheckFailure {
  kind: FailureKind;
  /** The input's name, or `input <i>`. */
  input: string;
  inputIndex: number;
  /** Multi-index of the input element. */
  element?: readonly number[];
  /** The output element whose Jacobian row failed (full mode). */
  output?: { index: number; element: readonly number[] };
  analytic?: number;
  numeric?: number;
  absError?: number;
  relError?: number;
  /** The largest error the tolerance allowed there. */
  allowed?: number;
  message: string;
}

export interface GradcheckReport {
  ok: boolean;
  mode: 'full' | 'fast';
  failures: GradcheckFailure[];
  /** How many analytic-vs-numeric comparisons were made. */
  checked: number;
  /** Inputs that were float32 and were promoted to float64 for the check. */
  promoted: number[];
  /** Inputs not differentiated (by option, or not tensors). */
  skipped: number[];
  tolerance: Tolerance;
  notes: string[];
}

type Fn = (...args: unknown[]) => Outputs;

const fmtShape = (shape: Shape): string => `[${shape.join(',')}]`;
export const fmtNum = (v: number): string =>
  Number.isFinite(v) ? String(Number(v.toPrecision(6))) : String(v);

export function multiIndex(flat: number, shape: Shape): number[] {
  const index = new Array<number>(shape.length).fill(0);
  for (let ax = shape.length - 1; ax >= 0; ax--) {
    index[ax] = flat % shape[ax]!;
    flat = Math.floor(flat / shape[ax]!);
  }
  return index;
}

/** The grads of the differentiable inputs for given output grads, by core's vjp. */
export function pullback(f: Fn, args: readonly unknown[], diff: readonly number[]) {
  const call = (d: readonly Tensor[]): readonly Tensor[] =>
    outputList(f(...args.map((a, i) => (diff.includes(i) ? d[diff.indexOf(i)] : a))));
  const primals = diff.map((i) => args[i] as Tensor);
  if (evaluate(f, args).length === 1) {
    const [, vjpFn] = vjp((...d) => call(d)[0]!, ...primals);
    return (seeds: readonly Tensor[]): Tensor[] => vjpFn(seeds[0]!);
  }
  // Several outputs: the vjp of Σ_o sum(out_o · seed_o) at output grad 1 (a forward per call). Each term
  // is cast to float64 before the sum: outputs of mixed dtypes would not add (core casts nothing itself).
  return (seeds: readonly Tensor[]): Tensor[] => {
    const weighted = (...d: Tensor[]): Tensor =>
      call(d)
        .map((out, o) => astype(sum(mul(out, seeds[o]!)), 'float64'))
        .reduce((total, term) => add(total, term));
    const [value, vjpFn] = vjp(weighted, ...primals);
    return vjpFn(ones([], { dtype: value.dtype }));
  };
}

/** Inputs promoted to float64, and which of them are differentiated. */
export function prepareInputs(inputs: readonly unknown[], nondiff: readonly number[] = []) {
  const promoted: number[] = [];
  const args = inputs.map((x, i) => {
    if (!(x instanceof Tensor)) return x;
    if (x.dtype === 'float32') promoted.push(i);
    return toFloat64(x);
  });
  const diff = args.flatMap((a, i) => (a instanceof Tensor && !nondiff.includes(i) ? [i] : []));
  const skipped = args.flatMap((_, i) => (diff.includes(i) ? [] : [i]));
  return { args, diff, promoted, skipped };
}

/** The whole Jacobian, row by row: rows[o][e][k] is the grad of diff input k for output o, element e. */
export function jacobianRows(
  pull: (seeds: readonly Tensor[]) => Tensor[],
  signature: readonly OutputSignature[],
): Tensor[][][] {
  return signature.map((s, o) =>
    Array.from({ length: s.shape.reduce((n, d) => n * d, 1) }, (_, e) => pull(oneHotSeeds(signature, o, e))),
  );
}

/** Output grads that are one at output o, element e, and zero elsewhere. */
function oneHotSeeds(signature: readonly OutputSignature[], o: number, e: number): Tensor[] {
  return signature.map((s, k) => {
    const data = new Float64Array(s.shape.reduce((n, d) => n * d, 1));
    if (k === o) data[e] = 1;
    return tensor(data, { dtype: s.dtype, shape: s.shape });
  });
}

function randomUnit(rng: RandomState, size: number): Float64Array {
  const v = Float64Array.from(rng.randn(size, { dtype: 'float64' }).data);
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

const close = (analytic: number, numeric: number, tol: Tolerance): boolean =>
  Math.abs(analytic - numeric) <= tol.atol + tol.rtol * Math.abs(numeric);

/**
 * Checks the gradient of f at inputs (f is called as f(...inputs) and returns a tensor or a list).
 * Every comparison runs in float64; float32 inputs are promoted and the report says so.
 */
export function gradcheck<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: A,
  options: GradcheckOptions = {},
): GradcheckReport {
  const fn = f as unknown as Fn;
  const tol: Tolerance = {
    eps: options.eps ?? defaultTolerance.eps,
    atol: options.atol ?? defaultTolerance.atol,
    rtol: options.rtol ?? defaultTolerance.rtol,
  };
  const mode = options.mode ?? 'full';
  const nameOf = (i: number): string => options.names?.[i] ?? `input ${i}`;
  const { args, diff, promoted, skipped } = prepareInputs(inputs, options.nondiff);
  const notes = promoted.length
    ? [`float32 inputs ${promoted.join(', ')} were promoted to float64 for the check`]
    : [];
  const failures: GradcheckFailure[] = [];
  let checked = 0;
  const report = (): GradcheckReport => ({
    ok: failures.length === 0,
    mode,
    failures,
    checked,
    promoted,
    skipped,
    tolerance: tol,
    notes,
  });
  if (diff.length === 0) return report();

  const base = evaluate(fn, args);
  const signature: OutputSignature[] = base.map((t) => ({ shape: t.shape, dtype: t.dtype }));
  const pull = pullback(fn, args, diff);
  const rng = new RandomState(options.randomSeed ?? 0);
  const inputOf = (i: number): Tensor => args[i] as Tensor;

  // Numeric slopes of every output along a direction in input i; null when a nudge changed an output.
  const slopes = (i: number, direction: Float64Array): Float64Array[] | null => {
    const result = centralDifference(fn, args, i, direction, tol.eps, signature);
    if (Array.isArray(result)) return result;
    const { output, expected, got } = result;
    failures.push({
      kind: 'output-signature',
      input: nameOf(i),
      inputIndex: i,
      message:
        `nudging ${nameOf(i)} by ${tol.eps} changed output ${output} from ${expected.dtype} ` +
        `${fmtShape(expected.shape)} to ${got.dtype} ${fmtShape(got.shape)}`,
    });
    return null;
  };

  // Full Jacobian rows J_an[o][e] (grads of every input), by one-hot seeds, computed once on demand.
  let rows: Tensor[][][] | null = null;
  const analyticRows = (): Tensor[][][] => {
    rows ??= jacobianRows(pull, signature);
    return rows;
  };

  /** Element by element for input i: false if it does not influence the outputs, null if a nudge changed them. */
  const compareJacobian = (i: number, k: number): boolean | null => {
    const x = inputOf(i);
    const columns: Float64Array[][] = [];
    for (let j = 0; j < x.size; j++) {
      const direction = new Float64Array(x.size);
      direction[j] = 1;
      const column = slopes(i, direction);
      if (!column) return null;
      columns.push(column);
    }
    if (columns.every((c) => c.every((out) => out.every((v) => v === 0)))) return false;
    const J = analyticRows();
    for (let j = 0; j < x.size; j++) {
      signature.forEach((s, o) => {
        for (let e = 0; e < columns[j]![o]!.length; e++) {
          const analytic = J[o]![e]![k]!.data[j]!;
          const numeric = columns[j]![o]![e]!;
          checked++;
          if (close(analytic, numeric, tol)) continue;
          const absError = Math.abs(analytic - numeric);
          const allowed = tol.atol + tol.rtol * Math.abs(numeric);
          const element = multiIndex(j, x.shape);
          const outElement = multiIndex(e, s.shape);
          failures.push({
            kind: 'jacobian',
            input: nameOf(i),
            inputIndex: i,
            element,
            output: { index: o, element: outElement },
            analytic,
            numeric,
            absError,
            relError: absError / Math.abs(numeric),
            allowed,
            message:
              `d output ${o}${fmtShape(outElement)} / d ${nameOf(i)}${fmtShape(element)}: ` +
              `analytic ${fmtNum(analytic)}, numeric ${fmtNum(numeric)}, abs error ${fmtNum(absError)} ` +
              `> atol ${tol.atol} + rtol ${tol.rtol}·|numeric| = ${fmtNum(allowed)}`,
          });
        }
      });
    }
    return true;
  };

  // Random output grads for fast mode and for the determinism and linearity checks.
  const randomSeeds = (): Tensor[] =>
    signature.map((s) =>
      tensor(
        randomUnit(
          rng,
          s.shape.reduce((n, d) => n * d, 1),
        ),
        { dtype: s.dtype, shape: s.shape },
      ),
    );
  const seedA = randomSeeds();
  const gradsA = pull(seedA);
  // The repeat for the determinism check, next to the first run: with the Jacobian's backwards between
  // them, a backward that alternates (say, zeros every other call) could be compared with itself.
  const again = pull(seedA);

  const influences: boolean[] = [];
  diff.forEach((i, k) => {
    const x = inputOf(i);
    if (x.size === 0) return;
    if (mode === 'full') {
      const influenced = compareJacobian(i, k);
      if (influenced === null) return;
      influences[k] = influenced;
      return;
    }
    const u = randomUnit(rng, x.size);
    const column = slopes(i, u);
    if (!column) return;
    if (column.every((out) => out.every((v) => v === 0))) {
      influences[k] = false;
      return;
    }
    influences[k] = true;
    // vᵀ(J_num u) against (vᵀJ_an)u, with v = seedA.
    let numeric = 0;
    column.forEach((out, o) => {
      const v = seedA[o]!.data;
      for (let e = 0; e < out.length; e++) numeric += v[e]! * out[e]!;
    });
    let analytic = 0;
    const g = gradsA[k]!.data;
    for (let j = 0; j < u.length; j++) analytic += g[j]! * u[j]!;
    checked++;
    if (close(analytic, numeric, tol)) return;
    const absError = Math.abs(analytic - numeric);
    const allowed = tol.atol + tol.rtol * Math.abs(numeric);
    failures.push({
      kind: 'projection',
      input: nameOf(i),
      inputIndex: i,
      analytic,
      numeric,
      absError,
      relError: absError / Math.abs(numeric),
      allowed,
      message:
        `fast mode, ${nameOf(i)}: (vᵀJ)u analytic ${fmtNum(analytic)}, vᵀ(Ju) numeric ${fmtNum(numeric)}, ` +
        `abs error ${fmtNum(absError)} > ${fmtNum(allowed)}; the elements follow`,
    });
    // Localise: the projection says that input i is wrong, the Jacobian says where.
    compareJacobian(i, k);
  });

  // An input the outputs do not depend on must get a zero grad (to atol: a subnormal is not garbage).
  diff.forEach((i, k) => {
    if (influences[k] !== false) return;
    const g = gradsA[k]!.data;
    const j = g.findIndex((v) => !(Math.abs(v) <= tol.atol));
    if (j < 0) return;
    const element = multiIndex(j, inputOf(i).shape);
    failures.push({
      kind: 'no-influence',
      input: nameOf(i),
      inputIndex: i,
      element,
      analytic: g[j]!,
      numeric: 0,
      message: `the outputs do not depend on ${nameOf(i)}, yet its grad at ${fmtShape(element)} is ${fmtNum(g[j]!)}, not 0`,
    });
  });

  // Backward twice in a row with the same output grads: equal bit for bit (torch's nondet_tol = 0).
  diff.forEach((i, k) => {
    const a = gradsA[k]!.data;
    const b = again[k]!.data;
    const j = a.findIndex((v, n) => !Object.is(v, b[n]) && !(v === 0 && b[n] === 0));
    if (j < 0) return;
    const element = multiIndex(j, inputOf(i).shape);
    failures.push({
      kind: 'nondeterministic',
      input: nameOf(i),
      inputIndex: i,
      element,
      message: `backward is not deterministic: two runs gave ${nameOf(i)}${fmtShape(element)} = ${a[j]} and ${b[j]}`,
    });
  });

  // Linear in the output grad: backward(2·g1 - 3·g2) = 2·backward(g1) - 3·backward(g2).
  const seedB = randomSeeds();
  const gradsB = pull(seedB);
  const mixed = pull(seedA.map((s, o) => add(mul(s, 2), mul(seedB[o]!, -3))));
  // float32 outputs round the mixed seed itself, so they get float32's tolerance.
  const linearTol = signature.some((s) => s.dtype === 'float32') ? 1e-5 : 1e-9;
  diff.forEach((i, k) => {
    const a = gradsA[k]!.data;
    const b = gradsB[k]!.data;
    const m = mixed[k]!.data;
    for (let j = 0; j < m.length; j++) {
      const expected = 2 * a[j]! - 3 * b[j]!;
      const scale = 1 + 2 * Math.abs(a[j]!) + 3 * Math.abs(b[j]!);
      if (Math.abs(m[j]! - expected) <= linearTol * scale) continue;
      const element = multiIndex(j, inputOf(i).shape);
      failures.push({
        kind: 'nonlinear',
        input: nameOf(i),
        inputIndex: i,
        element,
        analytic: m[j]!,
        numeric: expected,
        message:
          `backward is not linear in the output grad: for ${nameOf(i)}${fmtShape(element)}, ` +
          `backward(2·g1 - 3·g2) = ${fmtNum(m[j]!)} but 2·backward(g1) - 3·backward(g2) = ${fmtNum(expected)}`,
      });
      break;
    }
  });

  return report();
}

/** The report as text: a verdict, then up to `limit` failures. */
export function formatReport(report: GradcheckReport, limit = 8): string {
  const { eps, atol, rtol } = report.tolerance;
  const head =
    `gradcheck (${report.mode}, float64, eps ${eps}, atol ${atol}, rtol ${rtol}): ` +
    (report.ok
      ? `ok, ${report.checked} comparisons`
      : `${report.failures.length} failure(s) in ${report.checked} comparisons`);
  const lines = report.failures.slice(0, limit).map((f) => `  ${f.kind}: ${f.message}`);
  if (report.failures.length > limit) lines.push(`  ... and ${report.failures.length - limit} more`);
  return [head, ...lines, ...report.notes.map((n) => `  note: ${n}`)].join('\n');
}

/** What each kind of failure says, as a verdict (a projection and its elements say the same). */
const verdicts: Record<FailureKind, string> = {
  jacobian: 'the gradient disagrees with finite differences',
  projection: 'the gradient disagrees with finite differences',
  'no-influence': 'a gradient for an input the outputs do not depend on',
  'output-signature': "a nudge of size eps changes an output's shape or dtype",
  nondeterministic: 'backward is not deterministic',
  nonlinear: 'backward is not linear in the output grad',
};

/** How far a failure is past its tolerance: error / allowed; a failure with no size is unbounded. */
function severityOf(f: GradcheckFailure, tolerance: Tolerance): number {
  if (f.absError !== undefined && f.allowed !== undefined) return ratio(f.absError, f.allowed);
  if (f.kind === 'no-influence') return ratio(Math.abs(f.analytic ?? NaN), tolerance.atol);
  return Infinity;
}

/** A failed report's verdict (from its worst failure) and severity; all zero for a report that passed. */
export function judgeReport(report: GradcheckReport): Judgement {
  let worst: GradcheckFailure | undefined;
  let severity = 0;
  for (const f of report.failures) {
    const s = severityOf(f, report.tolerance);
    if (!worst || s > severity) [worst, severity] = [f, s];
  }
  if (!worst) return { verdict: 'ok', severity: 0, worst: '', threw: false };
  return { verdict: verdicts[worst.kind], severity, worst: `${worst.kind}: ${worst.message}`, threw: false };
}

export class GradcheckError extends Error {
  override name = 'GradcheckError';
  /** The verdict and severity that shrinking keeps. */
  readonly judgement: Judgement;
  constructor(readonly report: GradcheckReport) {
    super(formatReport(report));
    this.judgement = judgeReport(report);
  }
}

/** gradcheck that throws a GradcheckError (with the report) when anything fails. */
export function assertGradcheck<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: A,
  options: GradcheckOptions = {},
): GradcheckReport {
  const report = gradcheck(f, inputs, options);
  if (!report.ok) throw new GradcheckError(report);
  return report;
}
