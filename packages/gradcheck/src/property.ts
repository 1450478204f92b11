// Property-based gradcheck: fast-check draws the inputs and, on a failure, shrinks them to the smallest
// shapes and values that fail as badly (same verdict, most of the error); the error names them, the
// first failure beside them, and the seed and path to replay.
import { Tensor } from '@tapegrad/core';
import * as fc from 'fast-check';
import type { Outputs } from './finiteDiff.js';
import { assertGradcheck, GradcheckError, type GradcheckOptions, type GradcheckReport } from './gradcheck.js';
import { assertGradgradcheck } from './gradgradcheck.js';
import { asDamning, fmtSeverity, type Judgement, judge, witnessFloor } from './judgement.js';

export interface PropertyRunOptions {
  /** Runs before passing (default `defaultNumRuns()`). */
  numRuns?: number;
  /** fast-check's seed and path, to replay a reported failure. */
  seed?: number;
  path?: string;
}

/** Runs per property: 50, or 750 with TAPEGRAD_DEEP=1 (`pnpm test:deep`); TAPEGRAD_NUM_RUNS overrides. */
export function defaultNumRuns(base = 50): number {
  const env = typeof process === 'undefined' ? {} : process.env;
  const explicit = Number(env.TAPEGRAD_NUM_RUNS);
  if (Number.isInteger(explicit) && explicit > 0) return explicit;
  return env.TAPEGRAD_DEEP && env.TAPEGRAD_DEEP !== '0' ? base * 15 : base;
}

const fmtValue = (v: unknown): string => {
  if (v instanceof Tensor) return `${v.dtype} [${v.shape.join(',')}] = ${JSON.stringify(v.toArray())}`;
  if (typeof v === 'function') return v.name ? `function ${v.name}` : 'a function';
  return JSON.stringify(v) ?? String(v);
};

/** Inputs as text, one per line: dtype, shape and values of tensors, JSON for the rest. */
export function describeInputs(inputs: readonly unknown[], names?: readonly string[]): string {
  return inputs.map((v, i) => `  ${names?.[i] ?? `input ${i}`}: ${fmtValue(v)}`).join('\n');
}

/** One failing run of a check: its inputs, the error it threw and what that error says. */
export interface Failed<T> {
  value: T;
  error: unknown;
  judgement: Judgement;
}

/** What checkKeepingVerdict found: the run counts, and on a failure the first one and its shrunk witness. */
export interface ShrinkOutcome<T> {
  numRuns: number;
  numShrinks: number;
  seed: number;
  path: string;
  failure?: { first: Failed<T>; witness: Failed<T> };
}

/**
 * fc.check of `check` (which throws to fail) over `arbitrary`, where shrinking keeps the verdict: the
 * first failure sets the bar, and a shrink candidate counts as failing only if its error says the same
 * verdict with at least `witnessFraction` of the first failure's severity. A milder candidate (derivatives
 * that vanish at zeros or saturated gates, a failure of another kind) passes, so fast-check shrinks elsewhere.
 */
export function checkKeepingVerdict<T>(
  arbitrary: fc.Arbitrary<T>,
  check: (value: T) => void,
  options: PropertyRunOptions & { numRuns: number },
): ShrinkOutcome<T> {
  let first: Failed<T> | undefined;
  let witness: Failed<T> | undefined;
  const property = fc.property(arbitrary, (value) => {
    try {
      check(value);
    } catch (error) {
      const judgement = judge(error);
      if (!first) first = { value, error, judgement };
      else if (!asDamning(judgement, first.judgement)) return; // too mild to stand for the first failure
      witness = { value, error, judgement };
      throw error;
    }
  });
  const parameters: fc.Parameters<[T]> = { numRuns: options.numRuns };
  if (options.seed !== undefined) parameters.seed = options.seed;
  // A replayed path starts at the witness; its bar must still be the first failure's, which the
  // path's first segment (the run that failed, before any shrink) gives back without shrinking.
  if (options.path?.includes(':')) {
    fc.check(property, { ...parameters, path: options.path.split(':')[0]!, numRuns: 1, endOnFailure: true });
    witness = undefined;
  }
  if (options.path !== undefined) parameters.path = options.path;
  const details = fc.check(property, parameters);
  const outcome = {
    numRuns: details.numRuns,
    numShrinks: details.numShrinks,
    seed: details.seed,
    path: details.counterexamplePath ?? '',
  };
  if (!details.failed) return outcome;
  if (!first || !witness) throw details.errorInstance; // fast-check itself failed (a throwing arbitrary)
  return { ...outcome, failure: { first, witness } };
}

/** The first failure's verdict and worst error, then the witness's, so a reader sees both. */
export function describeShrink(first: Judgement, witness: Judgement): string {
  const lines = (label: string, j: Judgement): string[] => [
    `${label}: ${j.verdict}`,
    `  worst error ${fmtSeverity(j.severity)}${j.worst ? `: ${j.worst}` : ''}`,
  ];
  return [
    ...lines('the first failure, before shrinking', first),
    ...lines(
      `the shrunk witness (${first.threw ? "the same exception or a check's verdict" : 'same verdict'}, worst error at least ${fmtSeverity(witnessFloor(first))})`,
      witness,
    ),
  ].join('\n');
}

/** A property that failed: the shrunk inputs, the error they raise, and how to replay it. */
export class PropertyFailure extends Error {
  override name = 'PropertyFailure';
  constructor(
    message: string,
    readonly counterexample: readonly unknown[],
    readonly error: unknown,
    readonly seed: number,
    readonly path: string,
    /** The gradcheck report of the shrunk inputs, when a gradcheck failed (not an exception). */
    readonly report: GradcheckReport | undefined,
    /** The failure before shrinking: its inputs, error and judgement. */
    readonly first: Failed<readonly unknown[]>,
    /** The shrunk witness's verdict and severity (`first`'s verdict, unless that was an exception). */
    readonly judgement: Judgement,
  ) {
    super(message);
  }
}

/**
 * Runs `check` on inputs drawn from `inputs` (checkKeepingVerdict: shrinking keeps the first failure's
 * verdict and most of its severity) and throws a PropertyFailure naming the smallest failing inputs,
 * the check's own message, the first failure beside the witness, and the replay parameters.
 */
export function runProperty<A extends readonly unknown[]>(
  title: string,
  inputs: fc.Arbitrary<A>,
  check: (args: A) => void,
  options: PropertyRunOptions & { names?: readonly string[] } = {},
): { numRuns: number; seed: number } {
  const outcome = checkKeepingVerdict(inputs, check, {
    ...options,
    numRuns: options.numRuns ?? defaultNumRuns(),
  });
  if (!outcome.failure) return { numRuns: outcome.numRuns, seed: outcome.seed };
  const { first, witness } = outcome.failure;
  const cause = witness.error;
  const why = cause instanceof Error ? cause.message : String(cause);
  const message = [
    `${title} failed after ${outcome.numRuns} run(s); shrunk ${outcome.numShrinks} time(s) to these inputs:`,
    describeInputs(witness.value, options.names),
    why,
    describeShrink(first.judgement, witness.judgement),
    `replay with { seed: ${outcome.seed}, path: '${outcome.path}' }`,
  ].join('\n');
  const report = cause instanceof GradcheckError ? cause.report : undefined;
  throw new PropertyFailure(
    message,
    witness.value,
    cause,
    outcome.seed,
    outcome.path,
    report,
    first,
    witness.judgement,
  );
}

/**
 * runProperty of `assert` (assertGradcheck or assertGradgradcheck) on f at every input fast-check draws,
 * titled `<what> of <f's name>`.
 */
function assertProperty<A extends readonly unknown[]>(
  what: string,
  assert: (f: (...args: A) => Outputs, inputs: A, options: GradcheckOptions) => unknown,
  f: (...args: A) => Outputs,
  inputs: fc.Arbitrary<A>,
  options: GradcheckOptions & PropertyRunOptions,
): { numRuns: number; seed: number } {
  const { numRuns, seed, path, ...gradcheckOptions } = options;
  const name = (f as { opName?: string }).opName ?? f.name;
  return runProperty(
    `${what}${name ? ` of ${name}` : ''}`,
    inputs,
    (args) => {
      assert(f, args, gradcheckOptions);
    },
    { numRuns, seed, path, names: options.names },
  );
}

/** gradcheck at every input fast-check draws; on failure, throws with the shrunk witness. */
export function checkGradientsProperty<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: fc.Arbitrary<A>,
  options: GradcheckOptions & PropertyRunOptions = {},
): { numRuns: number; seed: number } {
  return assertProperty('gradient property', assertGradcheck, f, inputs, options);
}

/** gradgradcheck (second derivatives) at every input fast-check draws; on failure, throws with the shrunk witness. */
export function checkGradgradProperty<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: fc.Arbitrary<A>,
  options: GradcheckOptions & PropertyRunOptions = {},
): { numRuns: number; seed: number } {
  return assertProperty('second-order gradient property', assertGradgradcheck, f, inputs, options);
}
