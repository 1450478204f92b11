// The scopes of `pnpm mutate <scope>`: what Stryker mutates (files or `file:startLine-endLine` ranges,
// kept to backward code so each scope ends in about 20 minutes on 2 cores) and the test files that may
// kill those mutants (only these run: vitest.mutate.config.ts and Stryker's testFiles both read them).
// Line ranges go stale when a file changes: re-check them when a scope's report names odd lines.

const core = 'packages/core/src';
const nn = 'packages/nn/src';

export const scopes = {
  // Every op's vjp. The vjps sit beside their forwards, so whole op files are mutated; the forwards'
  // mutants (and their argument checks) are killed cheaply by the forward and error tests.
  vjps: {
    mutate: [
      `${core}/ops/elementwise.ts`,
      `${core}/ops/matmul.ts`,
      `${core}/ops/reduce.ts`,
      `${core}/ops/shape.ts`,
      `${core}/ops/util.ts`,
    ],
    tests: [
      'packages/core/test/ops-grad.test.ts',
      'packages/core/test/ops-forward.test.ts',
      'packages/core/src/ops/shape.test.ts',
      'packages/core/test/grad-api.test.ts',
      'packages/core/test/errors.test.ts',
      'packages/core/test/error-families.test.ts',
      'packages/core/test/buffer-limits.test.ts',
      'packages/core/test/tidy.test.ts',
      'packages/gradcheck/test/specs.test.ts',
    ],
  },
  // tape.ts's reverse pass: collecting the nodes, accumulating and fitting grads, delivering output
  // grads, runBackward, seedFor, backward (recording left out; grad mode lives in mode.ts), and the
  // backward scratch the pass lends and takes back (memory/arena.ts: the Arena class and the pass arenas).
  tape: {
    mutate: [`${core}/tape.ts:79-317`, `${core}/memory/arena.ts:41-165`],
    tests: [
      'packages/core/test/tape.test.ts',
      'packages/core/test/grad-api.test.ts',
      'packages/core/test/grad-mode.test.ts',
      'packages/core/test/custom.test.ts',
      'packages/core/test/errors.test.ts',
      'packages/core/test/scratch.test.ts',
      'packages/core/test/arena.test.ts',
      'packages/core/test/ops-grad.test.ts',
      'packages/core/test/error-families.test.ts',
      'packages/core/test/anomaly.test.ts',
      'packages/core/test/tidy.test.ts',
      'packages/core/test/buffer-limits.test.ts',
      'packages/core/test/replace-leaf.test.ts',
      'packages/nn/test/backwardScratch.test.ts',
      'packages/gradcheck/test/graphs.test.ts',
    ],
  },
  // The hand-written cell and sequence backwards: nn's customOp backwards and their helpers, and the
  // JS backward kernels they call (core/src/kernels/recurrent.ts; the wasm loops are not mutated).
  cells: {
    mutate: [
      `${nn}/cells/rnn.ts:54-63`,
      `${nn}/cells/lstm.ts:55-66`,
      `${nn}/cells/gru.ts:57-80`,
      `${nn}/cells/common.ts:188-226`,
      `${nn}/cells/sequence.ts:111-188`,
      `${nn}/cells/sequence.ts:236-265`,
      `${nn}/cells/sequence.ts:356-392`,
      `${nn}/cells/sequence.ts:447-484`,
      `${core}/kernels/recurrent.ts:87-121`,
      `${core}/kernels/recurrent.ts:188-254`,
      `${core}/kernels/recurrent.ts:311-401`,
      `${core}/kernels/recurrent.ts:429-457`,
      `${core}/kernels/recurrent.ts:491-525`,
      `${core}/kernels/recurrent.ts:555-598`,
    ],
    tests: [
      'packages/nn/test/cells.test.ts',
      'packages/nn/test/sequence.test.ts',
      'packages/nn/test/backwardScratch.test.ts',
      'packages/nn/test/recurrent.test.ts',
    ],
  },
  // stepByStep's backwards (rnnCellBackward, rnnBackward, lstmCellBackward, lstmBackward) and the
  // helpers only they use.
  stepByStep: {
    mutate: [`${nn}/stepByStep.ts:101-125`, `${nn}/stepByStep.ts:192-246`, `${nn}/stepByStep.ts:327-430`],
    tests: ['packages/nn/test/stepByStep.test.ts'],
  },
  // gradcheck's checker: pullback, the Jacobian rows, the full and fast modes, the report and its
  // verdict (judgeReport), GradcheckError and assertGradcheck.
  checker: {
    mutate: ['packages/gradcheck/src/gradcheck.ts:77-454'],
    tests: [
      'packages/gradcheck/test/gradcheck.test.ts',
      'packages/gradcheck/test/shrinkVerdict.test.ts',
      'packages/gradcheck/test/bugs.test.ts',
      'packages/gradcheck/test/property.test.ts',
      'packages/gradcheck/test/override.test.ts',
    ],
  },
};

/** The scope named by MUTATE_SCOPE (set by scripts/mutate/run.mjs), or an error naming the choices. */
export function currentScope() {
  const name = process.env.MUTATE_SCOPE;
  const scope = name === undefined ? undefined : scopes[name];
  if (scope === undefined) {
    throw new Error(`MUTATE_SCOPE must be one of ${Object.keys(scopes).join(', ')}; got ${name}`);
  }
  return { name, ...scope };
}
