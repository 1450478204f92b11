// Runs one check as a fast-check property (shrinking a failure to its smallest witness), measures the
// worst relative error of the passing cases, and lays the results out as a table.
import {
  assertGradcheck,
  checkOverrideAt,
  defaultTolerance,
  type GradcheckReport,
  gradcheck,
  OverrideError,
  PropertyFailure,
  runProperty,
} from '@tapegrad/gradcheck';
import { type Check, isOverride } from './checks.js';

export interface Row {
  name: string;
  group: string;
  /** 'override' (three oracles) or 'gradient' (finite differences). */
  kind: 'override' | 'gradient';
  cases: number;
  /** Worst |analytic − numeric| / max(|analytic|, |numeric|, atol) over the Jacobian entries compared. */
  worstRelError: number;
  ok: boolean;
  /** The shrunk failing inputs and what failed, when not ok. */
  witness?: string;
}

/** The worst relative error of f's gradient at args: a full gradcheck with zero tolerance, so every entry reports. */
function worstError(op: Check['op'], args: readonly unknown[], check: Check): number {
  const report: GradcheckReport = gradcheck(op as never, args as never, {
    ...check.options,
    mode: 'full',
    atol: 0,
    rtol: 0,
  });
  // Below atol an entry is judged by its absolute error (as gradcheck does), so it is the floor of the scale.
  const floor = check.options?.atol ?? defaultTolerance.atol;
  let worst = 0;
  for (const f of report.failures) {
    if (f.kind !== 'jacobian') continue;
    worst = Math.max(worst, f.absError! / Math.max(Math.abs(f.analytic!), Math.abs(f.numeric!), floor));
  }
  return worst;
}

export function runCheck(check: Check, numRuns: number): Row {
  const kind = isOverride(check.op) ? 'override' : 'gradient';
  let cases = 0;
  let failed = false;
  let worst = 0;
  const property = (args: readonly unknown[]): void => {
    if (!failed) cases++;
    try {
      if (isOverride(check.op)) {
        const report = checkOverrideAt(check.op, args, check.options);
        if (!report.ok) throw new OverrideError(report);
      } else {
        assertGradcheck(check.op as never, args as never, check.options);
      }
    } catch (error) {
      failed = true;
      throw error;
    }
    if (!failed) worst = Math.max(worst, worstError(check.op, args, check));
  };
  try {
    runProperty(`${kind} check of ${check.name}`, check.args, property, {
      numRuns,
      ...(check.options?.names ? { names: check.options.names } : {}),
    });
    return { name: check.name, group: check.group, kind, cases, worstRelError: worst, ok: true };
  } catch (error) {
    const witness = error instanceof PropertyFailure ? error.message : `${(error as Error).message}`;
    const failure = error instanceof PropertyFailure ? error.error : error;
    const reports =
      failure instanceof OverrideError
        ? [failure.report.handVsNumeric]
        : error instanceof PropertyFailure && error.report
          ? [error.report]
          : [];
    for (const report of reports) {
      for (const f of report.failures) {
        if (f.absError === undefined) continue;
        const scale = Math.max(Math.abs(f.analytic ?? 0), Math.abs(f.numeric ?? 0), report.tolerance.atol);
        worst = Math.max(worst, f.absError / scale);
      }
    }
    return { name: check.name, group: check.group, kind, cases, worstRelError: worst, ok: false, witness };
  }
}

const fmtError = (v: number): string => (v === 0 ? '0' : v.toExponential(1));

/**
 * The table, a row at a time as checks finish: name, group, check, cases run, worst relative error,
 * verdict. Widths come from the names and groups, known before anything runs.
 */
export function tableLayout(checks: readonly Pick<Check, 'name' | 'group'>[]) {
  const header = ['name', 'group', 'check', 'cases', 'worst rel. error', 'verdict'];
  const widths = [
    Math.max(4, ...checks.map((c) => c.name.length)),
    Math.max(5, ...checks.map((c) => c.group.length)),
    8,
    6,
    16,
    7,
  ];
  const numeric = new Set([3, 4]);
  const line = (cells: readonly string[]): string =>
    cells
      .map((v, i) => (numeric.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return {
    header: `${line(header)}\n${line(widths.map((w) => '-'.repeat(w)))}`,
    row: (r: Row): string =>
      line([r.name, r.group, r.kind, String(r.cases), fmtError(r.worstRelError), r.ok ? 'pass' : 'FAIL']),
  };
}

export function formatWitnesses(rows: readonly Row[]): string {
  return rows
    .filter((r) => !r.ok)
    .map((r) => `${r.name} FAILED; the smallest witness:\n${r.witness}`)
    .join('\n\n');
}
