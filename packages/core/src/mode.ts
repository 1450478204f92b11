// Grad mode: whether ops record onto the tape. noGrad turns it off for a function; the engine turns it
// off around each backward pass (a vjp computes values, not more graph), and on around a graph-building
// one (createGraph: the vjps' ops are recorded, so the grads can be differentiated again).

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

// How many traces (grad, valueAndGrad or vjp calling f) and graph-building backward passes are running.
// While any is, the pass of a grad or vjp run inside builds a graph, so that the outer one can
// differentiate through it: JAX's grad(grad(f)), with no flag to pass.
let higherOrder = 0;

/** @internal Whether a grad or vjp called now is differentiated by an outer one (and recording is on). */
export const isHigherOrder = (): boolean => higherOrder > 0 && gradEnabled;

/** @internal */
export function enterHigherOrder(): void {
  higherOrder++;
}

/** @internal */
export function exitHigherOrder(): void {
  higherOrder--;
}
