// checkOverride: a customOp's hand-written backward against two oracles — the tape's gradient of
// its `reference` (tight, float64) and finite differences — and its forward against the reference's.
import type { CustomOp, Tensor } from '@tapegrad/core';
import type * as fc from 'fast-check';
import { evaluate, type Outputs } from './finiteDiff.js';
import {
  fmtNum,
  type GradcheckOptions,
  type GradcheckReport,
  gradcheck,
  jacobianRows,
  judgeReport,
  multiIndex,
  prepareInputs,
  pullback,
} from './gradcheck.js';
import { type Judgement, ratio } from './judgement.js';
import { type PropertyRunOptions, runProperty } from './property.js';

export interface OverrideOptions extends GradcheckOptions {
  /** How closely the hand-written backward must match the tape of `reference` (default 1e-10 both). */
  agreement?: { atol: number; rtol: number };
}

export interface OverrideReport {
  ok: boolean;
  /** Which oracle disagrees with which, in one sentence. */
  verdict: string;
  /** Output elements where op's forward and reference's differ. */
  forward: string[];
  /** Jacobian entries where the hand-written backward and the tape of reference differ. */
  handVsTape: string[];
  /** The hand-written backward against finite differences of op. */
  handVsNumeric: GradcheckReport;
  /** The tape's gradient of reference against finite differences of reference. */
  tapeVsNumeric: GradcheckReport;
  /**
   * The worst error over its tolerance in the comparisons the verdict rests on: forward (at `agreement`)
   * when it disagrees; else the finite-difference checks that failed (at gradcheck's tolerance); else
   * hand vs tape (at `agreement`). 0 when ok.
   */
  severity: number;
  /** The entry with that error, prefixed by its comparison. */
  worst: string;
}

type Fn = (...args: unknown[]) => Outputs;

const near = (a: number, b: number, tol: { atol: number; rtol: number }): boolean =>
  Math.abs(a - b) <= tol.atol + tol.rtol * Math.max(Math.abs(a), Math.abs(b));

/** The worst entry seen so far: its error over the tolerance and its message. */
interface Worst {
  severity: number;
  message: string;
}

const worse = (a: Worst, b: Worst): Worst => (b.severity > a.severity ? b : a);
const none: Worst = { severity: 0, message: '' };

/**
 * Entries where two lists of same-signature tensors differ, as messages (at most `limit`), and the
 * worst of all of them (every entry is measured, not only those listed).
 */
function differences(
  what: (o: number, e: number) => string,
  left: readonly Tensor[],
  right: readonly Tensor[],
  tol: { atol: number; rtol: number },
  names: [string, string],
  limit = 4,
): { found: string[]; worst: Worst } {
  const found: string[] = [];
  let worst = none;
  const add = (severity: number, message: string): void => {
    if (found.length < limit) found.push(message);
    worst = worse(worst, { severity, message });
  };
  left.forEach((l, o) => {
    const r = right[o];
    if (!r || r.shape.join() !== l.shape.join()) {
      add(
        Infinity,
        `${what(o, -1)}: ${names[0]} has shape [${l.shape}], ${names[1]} [${r?.shape ?? 'none'}]`,
      );
      return;
    }
    for (let e = 0; e < l.size; e++) {
      const a = l.data[e]!;
      const b = r.data[e]!;
      if (near(a, b, tol)) continue;
      // Full precision: these may differ far below what six digits show.
      const message = `${what(o, e)}: ${names[0]} ${a}, ${names[1]} ${b} (differ by ${fmtNum(a - b)})`;
      add(ratio(Math.abs(a - b), tol.atol + tol.rtol * Math.max(Math.abs(a), Math.abs(b))), message);
    }
  });
  if (right.length !== left.length)
    add(Infinity, `${names[0]} gives ${left.length} outputs, ${names[1]} ${right.length}`);
  return { found, worst };
}

function verdictOf(forward: boolean, handTape: boolean, handNumeric: boolean, tapeNumeric: boolean): string {
  if (!forward)
    return 'the forward of the op and of its reference disagree, so no gradient comparison means anything';
  if (handTape && handNumeric && tapeNumeric) return 'all three oracles agree';
  if (!handTape && !handNumeric && tapeNumeric)
    return 'the hand-written backward is wrong: it disagrees with the tape gradient of reference and with finite differences, which agree with each other';
  if (!handTape && handNumeric && !tapeNumeric)
    return 'the tape gradient of reference is wrong (a core vjp?): it disagrees with the hand-written backward and with finite differences, which agree with each other';
  if (handTape && !handNumeric && !tapeNumeric)
    return 'the hand-written backward and the tape of reference agree with each other but not with finite differences (a kink, or a step too coarse for this function)';
  if (!handTape && handNumeric && tapeNumeric)
    return 'the hand-written backward and the tape of reference differ beyond the tight tolerance, by less than finite differences can see: one of them is slightly wrong';
  return 'the hand-written backward, the tape gradient of reference and finite differences all disagree';
}

/** The three-oracle check at one point. */
export function checkOverrideAt(
  op: CustomOp,
  inputs: readonly unknown[],
  options: OverrideOptions = {},
): OverrideReport {
  const reference = op.reference as Fn | undefined;
  if (!reference)
    throw new TypeError(`checkOverride: customOp '${op.opName}' has no reference to check against`);
  const hand = op as unknown as Fn;
  const { agreement = { atol: 1e-10, rtol: 1e-10 }, ...gradcheckOptions } = options;
  const { args, diff } = prepareInputs(inputs, options.nondiff);
  const nameOf = (k: number): string => options.names?.[diff[k]!] ?? `input ${diff[k]}`;

  const opOut = evaluate(hand, args);
  const refOut = evaluate(reference, args);
  const { found: forward, worst: forwardWorst } = differences(
    (o, e) => `output ${o}${e < 0 ? '' : ` [${multiIndex(e, opOut[o]!.shape)}]`}`,
    opOut,
    refOut,
    agreement,
    ['op', 'reference'],
  );

  const handVsTape: string[] = [];
  let handTapeWorst = none;
  if (forward.length === 0 && diff.length > 0) {
    const signature = opOut.map((t) => ({ shape: t.shape, dtype: t.dtype }));
    const handRows = jacobianRows(pullback(hand, args, diff), signature);
    const tapeRows = jacobianRows(pullback(reference, args, diff), signature);
    handRows.forEach((perElement, o) => {
      perElement.forEach((grads, e) => {
        const where = (k: number, j: number): string =>
          `d output ${o}[${multiIndex(e, signature[o]!.shape)}] / d ${nameOf(k)}` +
          (j < 0 ? '' : `[${multiIndex(j, grads[k]!.shape)}]`);
        grads.forEach((g, k) => {
          const { found, worst } = differences(
            (_, j) => where(k, j),
            [g],
            [tapeRows[o]![e]![k]!],
            agreement,
            ['hand-written', 'tape'],
          );
          handVsTape.push(...found.slice(0, Math.max(0, 4 - handVsTape.length)));
          handTapeWorst = worse(handTapeWorst, worst);
        });
      });
    });
  }
  const handVsNumeric = gradcheck(hand, [...inputs], gradcheckOptions);
  const tapeVsNumeric = gradcheck(reference, [...inputs], gradcheckOptions);
  const verdict = verdictOf(
    forward.length === 0,
    handVsTape.length === 0,
    handVsNumeric.ok,
    tapeVsNumeric.ok,
  );
  // The severity of the comparisons the verdict rests on: the forward's when it disagrees; else finite
  // differences' where they failed (their tolerance is what a user can see, where the tight agreement
  // would rate a 4× error at 1e-5 as 10⁵); else, for the slight disagreement, hand vs tape at `agreement`.
  const judged = (title: string, r: GradcheckReport): Worst => {
    const j = judgeReport(r);
    return { severity: j.severity, message: j.worst && `${title}: ${j.worst}` };
  };
  const worst =
    forward.length > 0
      ? { severity: forwardWorst.severity, message: `forward, op vs reference: ${forwardWorst.message}` }
      : !handVsNumeric.ok || !tapeVsNumeric.ok
        ? worse(
            judged('hand-written backward vs finite differences', handVsNumeric),
            judged('tape of reference vs finite differences', tapeVsNumeric),
          )
        : {
            severity: handTapeWorst.severity,
            message:
              handTapeWorst.message && `hand-written backward vs tape of reference: ${handTapeWorst.message}`,
          };
  return {
    ok: forward.length === 0 && handVsTape.length === 0 && handVsNumeric.ok && tapeVsNumeric.ok,
    verdict,
    forward,
    handVsTape,
    handVsNumeric,
    tapeVsNumeric,
    severity: worst.severity,
    worst: worst.message,
  };
}

/** The report as text: the verdict, then what each comparison found. */
export function formatOverrideReport(report: OverrideReport): string {
  const section = (title: string, lines: readonly string[]): string[] =>
    lines.length ? [`${title}:`, ...lines.map((l) => `  ${l}`)] : [];
  const numeric = (title: string, r: GradcheckReport): string[] =>
    r.ok ? [] : [`${title}:`, ...r.failures.slice(0, 4).map((f) => `  ${f.kind}: ${f.message}`)];
  return [
    `verdict: ${report.verdict}`,
    ...section('forward, op vs reference', report.forward),
    ...section('hand-written backward vs tape of reference', report.handVsTape),
    ...numeric('hand-written backward vs finite differences', report.handVsNumeric),
    ...numeric('tape of reference vs finite differences', report.tapeVsNumeric),
  ].join('\n');
}

export class OverrideError extends Error {
  override name = 'OverrideError';
  /** The verdict and severity that shrinking keeps. */
  readonly judgement: Judgement;
  constructor(readonly report: OverrideReport) {
    super(formatOverrideReport(report));
    this.judgement = {
      verdict: report.verdict,
      severity: report.severity,
      worst: report.worst,
      threw: false,
    };
  }
}

/** checkOverrideAt at every input fast-check draws; on failure, throws with the shrunk witness. */
export function checkOverride<A extends readonly unknown[]>(
  op: CustomOp,
  inputs: fc.Arbitrary<A>,
  options: OverrideOptions & PropertyRunOptions = {},
): { numRuns: number; seed: number } {
  const { numRuns, seed, path, ...overrideOptions } = options;
  return runProperty(
    `override check of ${op.opName}`,
    inputs,
    (args) => {
      const report = checkOverrideAt(op, args, overrideOptions);
      if (!report.ok) throw new OverrideError(report);
    },
    { numRuns, seed, path, names: options.names },
  );
}
