// Shrinking keeps the verdict (issue 20): a witness must fail as the first failure did, with the same
// verdict and most of its error, never at inputs where the planted bug's derivatives vanish.
import { customOp, mul, sub, type Tensor, tanh } from '@tapegrad/core';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensors } from '../src/arbitraries.js';
import {
  GradcheckError,
  type GradcheckFailure,
  type GradcheckReport,
  gradcheck,
  judgeReport,
} from '../src/gradcheck.js';
import {
  asDamning,
  checkGradientsProperty,
  checkOverride,
  defaultNumRuns,
  grossSeverity,
  type Judgement,
  witnessFloor,
  witnessFraction,
} from '../src/index.js';
import { checkOverrideAt, OverrideError } from '../src/override.js';
import { failure } from './failure.js';
import { cellInputNames, lstmCell, shrinkingCellInputs } from './lstm.js';

/** The worst relative error |analytic − numeric| / |numeric| among a report's Jacobian failures. */
const worstRelError = (report: GradcheckReport): number =>
  Math.max(0, ...report.failures.map((f) => f.relError ?? 0));

/** What plain fast-check shrinking (any failure is a witness) ends at: the last failing inputs' error. */
function plainShrink<A>(arbitrary: fc.Arbitrary<A>, check: (args: A) => void, seed: number): unknown {
  const details = fc.check(fc.property(arbitrary, check), { seed, numRuns: 50 });
  expect(details.failed).toBe(true);
  return details.errorInstance;
}

const judgement = (verdict: string, severity: number, threw = false): Judgement => ({
  verdict,
  severity,
  worst: '',
  threw,
});

describe("a report's verdict and severity (judgeReport)", () => {
  const report = (failures: GradcheckFailure[]): GradcheckReport => ({
    ok: failures.length === 0,
    mode: 'full',
    failures,
    checked: 4,
    promoted: [],
    skipped: [],
    tolerance: { eps: 1e-6, atol: 1e-5, rtol: 1e-3 },
    notes: [],
  });
  const sized = (kind: 'jacobian' | 'projection', absError: number, allowed: number): GradcheckFailure => ({
    kind,
    input: 'x',
    inputIndex: 0,
    absError,
    allowed,
    message: `${kind} ${absError}`,
  });
  const sizeless = (kind: GradcheckFailure['kind'], analytic?: number): GradcheckFailure => ({
    kind,
    input: 'x',
    inputIndex: 0,
    ...(analytic === undefined ? {} : { analytic }),
    message: `${kind} says so`,
  });

  it('a report that passed: verdict ok, severity 0', () => {
    expect(judgeReport(report([]))).toEqual({ verdict: 'ok', severity: 0, worst: '', threw: false });
  });

  it('the worst failure, by error over allowed, gives the verdict and the severity', () => {
    const disagrees = 'the gradient disagrees with finite differences';
    expect(
      judgeReport(report([sized('jacobian', 3, 2), sized('projection', 8, 2), sized('jacobian', 1, 2)])),
    ).toEqual({
      verdict: disagrees,
      severity: 4,
      worst: 'projection: projection 8',
      threw: false,
    });
    expect(judgeReport(report([sized('jacobian', 6, 2), sized('jacobian', 6, 3)])).severity).toBe(3);
    // A tie keeps the first failure as the worst.
    const tie = [sized('jacobian', 6, 2), sized('projection', 3, 1)];
    expect(judgeReport(report(tie)).worst).toBe('jacobian: jacobian 6');
    // A no-influence grad is measured against atol; the other kinds have no size, so they are unbounded.
    expect(judgeReport(report([sized('jacobian', 3, 2), sizeless('no-influence', -2e-4)]))).toEqual({
      verdict: 'a gradient for an input the outputs do not depend on',
      severity: 20,
      worst: 'no-influence: no-influence says so',
      threw: false,
    });
    // A nonlinear failure carries the values it compared (as gradcheck reports them): still no size.
    const unbounded: [GradcheckFailure['kind'], string, number?][] = [
      ['nondeterministic', 'backward is not deterministic'],
      ['nonlinear', 'backward is not linear in the output grad', 0.5],
      ['output-signature', "a nudge of size eps changes an output's shape or dtype"],
    ];
    for (const [kind, verdict, analytic] of unbounded) {
      expect(judgeReport(report([sized('jacobian', 1e9, 1), sizeless(kind, analytic)])), kind).toEqual({
        verdict,
        severity: Infinity,
        worst: `${kind}: ${kind} says so`,
        threw: false,
      });
    }
  });

  it('GradcheckError carries the judgement of its report', () => {
    const r = report([sized('jacobian', 5, 2)]);
    expect(new GradcheckError(r).judgement).toEqual(judgeReport(r));
    expect(new GradcheckError(r).name).toBe('GradcheckError');
  });
});

describe('the bar a shrunk witness must meet', () => {
  it(`is the first failure's verdict and ${witnessFraction} of its severity, capped at ${witnessFraction} of ${grossSeverity}`, () => {
    const first = judgement('the hand-written backward is wrong', 400);
    expect(witnessFloor(first)).toBe(100);
    expect(asDamning(judgement(first.verdict, 100), first)).toBe(true);
    expect(asDamning(judgement(first.verdict, 99), first)).toBe(false);
    expect(asDamning(judgement('one of them is slightly wrong', 1e9), first)).toBe(false);
    // A ratio past gross says how near zero the true derivative was more than how wrong the gradient is.
    expect(witnessFloor(judgement('x', 1e6))).toBe(250);
    expect(witnessFloor(judgement('x', Infinity))).toBe(250);
  });

  it('lets a check verdict stand for an exception, never an exception for a check verdict', () => {
    const threw = judgement('threw ShapeError', Infinity, true);
    expect(asDamning(judgement('the gradient disagrees with finite differences', 300), threw)).toBe(true);
    expect(asDamning(judgement('the gradient disagrees with finite differences', 20), threw)).toBe(false);
    expect(asDamning(judgement('threw ShapeError', Infinity, true), threw)).toBe(true);
    expect(asDamning(judgement('threw RangeError', Infinity, true), threw)).toBe(false);
    const wrong = judgement('the gradient disagrees with finite differences', 300);
    expect(asDamning(threw, wrong)).toBe(false);
  });
});

describe("an LSTM cell backward without the input gate's σ' (values shrink towards 0)", () => {
  const op = lstmCell('dit-misses-sigmoid-derivative');
  const options = { names: cellInputNames, numRuns: 20, seed: 3 };

  it('plain shrinking ends where the derivatives vanish, with the mild verdict', () => {
    const error = plainShrink(
      shrinkingCellInputs,
      (args) => {
        const report = checkOverrideAt(op, args, { names: cellInputNames });
        if (!report.ok) throw new OverrideError(report);
      },
      options.seed,
    );
    expect(error).toBeInstanceOf(OverrideError);
    expect((error as OverrideError).report.verdict).toMatch(/one of them is slightly wrong/);
  });

  it('the override check keeps blaming the hand-written backward, with a large error at a tiny witness', () => {
    const f = failure(() => checkOverride(op, shrinkingCellInputs, options));
    const report = (f.error as OverrideError).report;
    expect(report.verdict).toMatch(/^the hand-written backward is wrong/);
    expect(f.message).toContain('verdict: the hand-written backward is wrong');
    expect(f.message).not.toContain('slightly wrong');
    // The same verdict as the first failure, and at least the floor of its severity.
    expect(f.judgement.verdict).toBe(f.first.judgement.verdict);
    expect(f.judgement.severity).toBeGreaterThanOrEqual(witnessFloor(f.first.judgement));
    expect(f.judgement.severity).toBeGreaterThanOrEqual(100);
    // σ' ≤ ¼, so without it the gate's grads are 4× and more: a relative error of 3.
    expect(worstRelError(report.handVsNumeric)).toBeGreaterThan(0.5);
    // Not all zeros, and small: every dimension (hidden, input, batch) shrank to at most 2.
    const witness = f.counterexample as Tensor[];
    expect(witness.some((t) => t.data.some((v) => Math.abs(v) > 1e-3))).toBe(true);
    for (const t of witness.slice(0, 3)) for (const d of t.shape) expect(d).toBeLessThanOrEqual(2);
    // The message states both failures.
    expect(f.message).toMatch(
      /\nthe first failure, before shrinking: the hand-written backward is wrong[^\n]*\n {2}worst error \d\.\de\+\d × tolerance: hand-written backward vs finite differences: jacobian: d output/,
    );
    expect(f.message).toMatch(
      /\nthe shrunk witness \(same verdict, worst error at least \d\.\de\+\d × tolerance\): the hand-written backward is wrong[^\n]*\n {2}worst error/,
    );
  });

  it('replays the same witness from the printed seed and path (the bar is the first failure’s again)', () => {
    const f = failure(() => checkOverride(op, shrinkingCellInputs, options));
    const again = failure(() =>
      checkOverride(op, shrinkingCellInputs, { ...options, seed: f.seed, path: f.path }),
    );
    expect((again.counterexample as Tensor[]).map((t) => t.toArray())).toEqual(
      (f.counterexample as Tensor[]).map((t) => t.toArray()),
    );
    expect(again.first.judgement).toEqual(f.first.judgement);
  });
});

describe('a tanh vjp without its (1 - y²) factor (values shrink towards 0, where it is 1)', () => {
  const tanhOp = (factor: boolean) =>
    customOp<Tensor>({
      name: factor ? 'tanh' : 'tanh(no 1 - y²)',
      forward: ([x]) => {
        const y = tanh(x!);
        return { outputs: y, residuals: y };
      },
      // d tanh = g·(1 - y²); the bug returns g
      backward: ([g], y) => [factor ? mul(g!, sub(1, mul(y, y))) : g!],
      reference: (x) => tanh(x!),
    });
  const inputs = tensors({ min: -3, max: 3 }).map((x) => [x] as [Tensor]);
  const seed = 7;

  it('plain shrinking ends near 0, barely past the tolerance', () => {
    const error = plainShrink(
      inputs,
      ([x]) => {
        expectFails(tanhOp(false), x);
      },
      seed,
    );
    const x = (error as { x?: Tensor }).x!;
    expect(Math.max(...x.data.map(Math.abs))).toBeLessThan(0.1);
  });

  it('gradcheck keeps a witness far past the tolerance, at a value where the factor matters', () => {
    const f = failure(() => checkGradientsProperty(tanhOp(false), inputs, { seed }));
    expect(f.judgement.verdict).toBe('the gradient disagrees with finite differences');
    expect(f.judgement.verdict).toBe(f.first.judgement.verdict);
    expect(f.judgement.severity).toBeGreaterThanOrEqual(witnessFloor(f.first.judgement));
    expect(f.judgement.severity).toBeGreaterThanOrEqual(100);
    // At most two values (a pool keeps each value in place, so the one that fails may sit second),
    // and the failing one far enough from 0 that 1 - y² is well below 1.
    const [x] = f.counterexample as [Tensor];
    expect(x.size).toBeLessThanOrEqual(2);
    const worst = f.report!.failures[0]!;
    const at = worst.element!.reduce((pos, i, ax) => pos * x.shape[ax]! + i, 0);
    expect(Math.abs(x.data[at]!)).toBeGreaterThan(0.3);
    expect(worst.relError).toBeGreaterThan(0.1);
    expect(f.message).toMatch(
      /\nthe first failure, before shrinking: the gradient disagrees with finite differences\n/,
    );
  });

  it('the override check does too, blaming the hand-written backward', () => {
    const f = failure(() => checkOverride(tanhOp(false), inputs, { seed }));
    expect(f.message).toContain('verdict: the hand-written backward is wrong');
    expect(f.judgement.severity).toBeGreaterThanOrEqual(Math.max(100, witnessFloor(f.first.judgement)));
    expect(worstRelError((f.error as OverrideError).report.handVsNumeric)).toBeGreaterThan(0.1);
  });

  it('with the factor both checks pass', () => {
    // Every run (50, or more under TAPEGRAD_DEEP): a pass that stopped early would count fewer.
    expect(checkGradientsProperty(tanhOp(true), inputs, { seed }).numRuns).toBe(defaultNumRuns());
    expect(checkOverride(tanhOp(true), inputs, { seed }).numRuns).toBe(defaultNumRuns());
  });
});

/** Throws (an error carrying x) when gradcheck of op at x fails. */
function expectFails(op: (x: Tensor) => unknown, x: Tensor): void {
  const report = gradcheck(op as (x: Tensor) => Tensor, [x]);
  if (!report.ok) throw Object.assign(new Error(report.failures[0]!.message), { x });
}
