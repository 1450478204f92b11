// What the planted-bug tests share: a check that must fail, and the PropertyFailure it throws.
import { PropertyFailure } from '../src/index.js';

/** Runs a check that must fail and returns its PropertyFailure. */
export function failure(run: () => unknown): PropertyFailure {
  try {
    run();
  } catch (error) {
    if (error instanceof PropertyFailure) return error;
    throw error;
  }
  throw new Error('the check passed, but the backward is broken');
}
