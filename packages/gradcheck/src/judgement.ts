// What a failed check says (its verdict) and how badly (its worst error over the tolerance it broke):
// shrinking keeps both, so that a witness stays as damning as the failure it was shrunk from.

/** A failure's verdict, its severity and the entry that sets the severity. */
export interface Judgement {
  /** What failed, in words; a witness must repeat it exactly. */
  verdict: string;
  /**
   * The worst error divided by the largest error its tolerance allowed there (above 1 for a failure);
   * Infinity for a failure that has no size (an exception, a nondeterministic backward) or a NaN.
   */
  severity: number;
  /** The entry with that error, as the report words it. */
  worst: string;
  /** An exception, not a check's verdict on a gradient (verdict `threw <name>`). */
  threw: boolean;
}

/**
 * A shrunk witness must keep at least this share of the first failure's severity. A quarter keeps the
 * witness within the first failure's order of magnitude (a dropped σ' = σ(1 - σ) ≤ ¼ errs 4× and more,
 * and shrinking without a floor found a witness 10⁹ times milder), while leaving room for what
 * shrinking shapes costs: the worst over fewer entries is lower, and a new draw of values moves it by
 * a factor of 2 or 3. At ½ shrinking more often stalls at larger shapes; far below ¼ the floor stops
 * being "as damning".
 */
export const witnessFraction = 1 / 4;

/**
 * Severities above this are all gross, and the floor for a witness is a share of at most this much.
 * At gradcheck's default rtol 1e-3 it is an error as large as the gradient itself; beyond it the ratio
 * mostly says how close to zero the true derivative happened to be (where the tolerance is just atol),
 * and a first failure at 10⁴ would forbid every small witness that is merely 300 times off.
 */
export const grossSeverity = 1000;

/** error / allowed, with a NaN or a zero tolerance read as unbounded. */
export function ratio(error: number, allowed: number): number {
  const r = error / allowed;
  return Number.isNaN(r) ? Infinity : r;
}

/** A check's error as a judgement: its own when it carries one, else a thrown exception's (no size). */
export function judge(error: unknown): Judgement {
  const carried = (error as { judgement?: Judgement } | null)?.judgement;
  if (carried && typeof carried.verdict === 'string') return carried;
  const name = error instanceof Error ? error.name : typeof error;
  const message = error instanceof Error ? error.message : String(error);
  return { verdict: `threw ${name}`, severity: Infinity, worst: message.split('\n')[0] ?? '', threw: true };
}

/** The least severity a witness of a first failure must have: a share of it, capped at a share of gross. */
export const witnessFloor = (first: Judgement): number =>
  witnessFraction * Math.min(first.severity, grossSeverity);

/**
 * Whether a candidate failure is as damning as the first: the same verdict, and at least its floor.
 * A first failure that threw says only that something broke, so a check's verdict past the floor may
 * stand for it too (smaller inputs that show the bug as a wrong gradient say more); never the reverse,
 * where an exception at a degenerate shape would hide a wrong gradient.
 */
export function asDamning(candidate: Judgement, first: Judgement): boolean {
  const verdictKept = candidate.verdict === first.verdict || (first.threw && !candidate.threw);
  return verdictKept && candidate.severity >= witnessFloor(first);
}

/** A severity as text: "3.1e+2 × tolerance", "unbounded" for Infinity. */
export function fmtSeverity(severity: number): string {
  return Number.isFinite(severity) ? `${severity.toExponential(1)} × tolerance` : 'unbounded';
}
