// Property-based gradcheck: fast-check draws the inputs and, on a failure, shrinks them to the
// smallest shapes and values that still fail; the error names them with the seed and path to replay.
import { Tensor } from '@tapegrad/core';
import * as fc from 'fast-check';
import type { Outputs } from './finiteDiff.js';
import { assertGradcheck, GradcheckError, type GradcheckOptions, type GradcheckReport } from './gradcheck.js';

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
  ) {
    super(message);
  }
}

/**
 * Runs `check` on inputs drawn from `inputs` (fc.check with shrinking) and throws a PropertyFailure
 * naming the smallest failing inputs, the check's own message and the replay parameters.
 */
export function runProperty<A extends readonly unknown[]>(
  title: string,
  inputs: fc.Arbitrary<A>,
  check: (args: A) => void,
  options: PropertyRunOptions & { names?: readonly string[] } = {},
): { numRuns: number; seed: number } {
  const parameters: fc.Parameters<[A]> = { numRuns: options.numRuns ?? defaultNumRuns() };
  if (options.seed !== undefined) parameters.seed = options.seed;
  if (options.path !== undefined) parameters.path = options.path;
  const details = fc.check(
    fc.property(inputs, (args) => {
      check(args);
    }),
    parameters,
  );
  if (!details.failed) return { numRuns: details.numRuns, seed: details.seed };
  const [counterexample] = details.counterexample ?? [[] as unknown as A];
  const cause = details.errorInstance;
  const why = cause instanceof Error ? cause.message : String(cause);
  const message = [
    `${title} failed after ${details.numRuns} run(s); shrunk ${details.numShrinks} time(s) to these inputs:`,
    describeInputs(counterexample, options.names),
    why,
    `replay with { seed: ${details.seed}, path: '${details.counterexamplePath}' }`,
  ].join('\n');
  const report = cause instanceof GradcheckError ? cause.report : undefined;
  throw new PropertyFailure(
    message,
    counterexample,
    cause,
    details.seed,
    details.counterexamplePath ?? '',
    report,
  );
}

/** gradcheck at every input fast-check draws; on failure, throws with the shrunk witness. */
export function checkGradientsProperty<A extends readonly unknown[]>(
  f: (...args: A) => Outputs,
  inputs: fc.Arbitrary<A>,
  options: GradcheckOptions & PropertyRunOptions = {},
): { numRuns: number; seed: number } {
  const { numRuns, seed, path, ...gradcheckOptions } = options;
  const name = (f as { opName?: string }).opName ?? f.name;
  return runProperty(
    `gradient property${name ? ` of ${name}` : ''}`,
    inputs,
    (args) => {
      assertGradcheck(f, args, gradcheckOptions);
    },
    { numRuns, seed, path, names: options.names },
  );
}
