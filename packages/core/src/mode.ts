// Grad mode: whether ops record onto the tape. noGrad turns it off for a function; the engine turns it
// off around each backward pass (a vjp computes values, not more graph).
import { markLibraryCode } from './callSite.js';

// Where this module's code starts, so that its frames are known for core's in any bundle (callSite.ts).
const codeStart = new Error();

let gradEnabled = true;

export const isGradEnabled = (): boolean => gradEnabled;

/** Runs fn with recording off: nothing it computes is attached to the tape. */
export function noGrad<T>(fn: () => T): T {
  if (typeof fn !== 'function') throw new TypeError('noGrad: expected a function to run');
  const previous = setGradEnabled(false);
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * @internal noGrad without a closure, for the engine's own hot paths: sets recording on or off and
 * returns what it was, for the caller to restore in a finally.
 */
export function setGradEnabled(enabled: boolean): boolean {
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}

markLibraryCode(codeStart, new Error()); // and where it ends
