// gradcheck's own checks, each shown failing on a function built to break exactly it, and passing
// on a correct one. Expected derivatives are closed forms (Math.tanh), not values gradcheck made.
import { add, astype, customOp, exp, mul, sub, type Tensor, tanh, tensor, zerosLike } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { assertGradcheck, formatReport, GradcheckError, gradcheck } from '../src/gradcheck.js';

const f64 = (values: number[][] | number[]) => tensor(values, { dtype: 'float64' });

/** A customOp with tanh's forward and the given backward (g, y, x) → dx. */
const tanhWith = (backward: (g: Tensor, y: Tensor, x: Tensor) => Tensor) =>
  customOp<Tensor>({
    name: 'tanhWith',
    forward: ([x]) => ({ outputs: tanh(x!), residuals: tanh(x!) }),
    backward: ([g], y, [x]) => [backward(g!, y, x!)],
  });

describe('gradcheck', () => {
  it('passes a correct op in both modes, and counts what it compared', () => {
    const x = f64([
      [0.5, -1.2],
      [0.3, 2],
    ]);
    const full = gradcheck((a: Tensor) => tanh(a), [x]);
    expect(full).toMatchObject({ ok: true, mode: 'full', checked: 16, promoted: [], skipped: [] });
    // Nothing was promoted, so there is nothing to note.
    expect(full.notes).toEqual([]);
    const fast = gradcheck((a: Tensor) => tanh(a), [x], { mode: 'fast' });
    expect(fast).toMatchObject({ ok: true, mode: 'fast', checked: 1 });
  });

  it('promotes float32 inputs to float64 and says so', () => {
    const x = tensor([0.25, -0.75], { dtype: 'float32' });
    const report = gradcheck((a: Tensor) => exp(a), [x]);
    expect(report.ok).toBe(true);
    expect(report.promoted).toEqual([0]);
    expect(report.notes.join()).toContain('promoted to float64');
  });

  it('names the input, element, values and tolerance of a wrong Jacobian entry', () => {
    const x = f64([0.5, -1.2]);
    const report = gradcheck(
      tanhWith((g, y) => mul(g, sub(1, y))),
      [x],
      { names: ['x'] },
    );
    expect(report.ok).toBe(false);
    expect(report.failures).toHaveLength(2);
    const [first] = report.failures;
    const y = Math.tanh(0.5);
    expect(first).toMatchObject({ kind: 'jacobian', input: 'x', inputIndex: 0, element: [0] });
    expect(first!.output).toEqual({ index: 0, element: [0] });
    expect(first!.analytic).toBeCloseTo(1 - y, 12);
    expect(first!.numeric).toBeCloseTo(1 - y * y, 8);
    expect(first!.allowed).toBeCloseTo(1e-5 + 1e-3 * (1 - y * y), 8);
    expect(first!.absError).toBeCloseTo(Math.abs(1 - y - (1 - y * y)), 8);
    expect(first!.relError).toBeCloseTo(Math.abs(1 - y - (1 - y * y)) / (1 - y * y), 7);
    expect(first!.message).toMatch(/d output 0\[0\] \/ d x\[0\]: analytic .* > atol 0.00001 \+ rtol 0.001/);
  });

  it('fast mode catches the same bug with one projection, then localises it', () => {
    const report = gradcheck(
      tanhWith((g, y) => mul(g, sub(1, y))),
      [f64([0.5, -1.2])],
      { mode: 'fast' },
    );
    expect(report.failures.map((f) => f.kind)).toEqual(['projection', 'jacobian', 'jacobian']);
    expect(report.failures.slice(1).map((f) => f.element)).toEqual([[0], [1]]);
  });

  it('assertGradcheck throws a readable GradcheckError carrying the report', () => {
    const run = () =>
      assertGradcheck(
        tanhWith((g, y) => mul(g, sub(1, y))),
        [f64([0.5])],
      );
    expect(run).toThrow(GradcheckError);
    expect(run).toThrow(/gradcheck \(full, float64, eps 0.000001, atol 0.00001, rtol 0.001\): 1 failure/);
  });

  it('formatReport: the verdict, at most `limit` failures and how many more, then the notes', () => {
    const x = tensor([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1], { dtype: 'float32' });
    const wrong = gradcheck(
      tanhWith((g, y) => mul(g, sub(1, y))),
      [x],
    );
    expect(wrong.failures).toHaveLength(10);
    const lines = formatReport(wrong).split('\n');
    expect(lines[0]).toBe(
      'gradcheck (full, float64, eps 0.000001, atol 0.00001, rtol 0.001): 10 failure(s) in 100 comparisons',
    );
    expect(lines.slice(1, 9).every((l) => l.startsWith('  jacobian: d output 0['))).toBe(true);
    expect(lines.slice(9)).toEqual([
      '  ... and 2 more',
      '  note: float32 inputs 0 were promoted to float64 for the check',
    ]);
    expect(formatReport(wrong, 10).split('\n')).toHaveLength(12);
    const right = gradcheck((a: Tensor) => tanh(a), [f64([0.5])]);
    expect(formatReport(right)).toBe(
      'gradcheck (full, float64, eps 0.000001, atol 0.00001, rtol 0.001): ok, 1 comparisons',
    );
  });

  it('checks every output of a function returning several', () => {
    const a = f64([0.5, -1]);
    const b = f64([2, 3]);
    expect(gradcheck((x: Tensor, y: Tensor) => [add(x, y), exp(x)], [a, b])).toMatchObject({
      ok: true,
      checked: 16,
    });
    // A cell whose second output's backward is wrong: d exp = g·e^x, written here as g.
    const twoOut = customOp<Tensor>({
      name: 'sumAndExp',
      forward: ([x, y]) => ({ outputs: [add(x!, y!), exp(x!)], residuals: exp(x!) }),
      backward: ([gs, ge]) => [add(gs!, ge!), gs!],
    });
    const report = gradcheck(twoOut, [a, b]);
    expect(report.failures.every((f) => f.kind === 'jacobian' && f.output!.index === 1)).toBe(true);
    expect(report.failures.map((f) => f.element)).toEqual([[0], [1]]);
  });

  it('skips non-differentiable inputs by option, and non-tensors always', () => {
    const mask = f64([1, 0]);
    const masked = (x: Tensor, m: Tensor, scale: number) => mul(mul(x, m), scale);
    const report = gradcheck(masked, [f64([0.5, 2]), mask, 3], { nondiff: [1] });
    expect(report).toMatchObject({ ok: true, skipped: [1, 2], checked: 4 });
  });

  it('flags a grad for an input the outputs do not depend on', () => {
    const leaky = customOp<null>({
      name: 'leaky',
      forward: ([x]) => ({ outputs: exp(x!), residuals: null }),
      backward: ([g], _, [x]) => [mul(g!, exp(x!)), mul(g!, 0.5)],
    });
    const report = gradcheck(leaky, [f64([0.1, 0.2]), f64([1, 2])]);
    expect(report.failures.map((f) => [f.kind, f.inputIndex])).toEqual([['no-influence', 1]]);
    expect(report.failures[0]!.message).toContain('do not depend on input 1');
    // A zero grad for it is right (core gives zeros, as JAX does).
    expect(gradcheck((x: Tensor, _unused: Tensor) => exp(x), [f64([0.1]), f64([1])]).ok).toBe(true);
  });

  it('flags a backward that is not deterministic', () => {
    let calls = 0;
    const drifting = tanhWith((g, y) => mul(mul(g, sub(1, mul(y, y))), 1 + 1e-12 * ++calls));
    const report = gradcheck(drifting, [f64([0.5])]);
    expect(report.failures.map((f) => f.kind)).toEqual(['nondeterministic']);
  });

  it('flags a backward that is not linear in the output grad (invisible to one-hot seeds)', () => {
    // g·|g|·(1 - y²) equals the right grad whenever g is 0 or 1, so only the linearity check sees it.
    const squared = tanhWith((g, y) => mul(mul(g, absOf(g)), sub(1, mul(y, y))));
    const report = gradcheck(squared, [f64([0.5, -0.3])]);
    expect(report.failures.map((f) => f.kind)).toEqual(['nonlinear']);
  });

  it('flags outputs that change dtype under a nudge', () => {
    const jumpy = (x: Tensor) =>
      x.data[0]! > 0.5 ? mul(x, 2) : astype(astype(mul(x, 2), 'float32'), 'float64');
    const sneaky = (x: Tensor) => (x.data[0]! > 0.5 ? mul(x, 2) : astype(mul(x, 2), 'float32'));
    expect(gradcheck(jumpy, [f64([0.75])]).ok).toBe(true);
    const report = gradcheck(sneaky, [f64([0.5])]);
    expect(report.failures[0]).toMatchObject({ kind: 'output-signature', inputIndex: 0 });
    expect(report.failures[0]!.message).toContain(
      'nudging input 0 by 0.000001 changed output 0 from float32 [1] to float64 [1]',
    );
    // Fast mode's one nudge (along a random direction) is refused the same way, not compared.
    const fast = gradcheck(sneaky, [f64([0.5])], { mode: 'fast' });
    expect(fast.failures.map((f) => [f.kind, f.inputIndex])).toEqual([['output-signature', 0]]);
    expect(fast.checked).toBe(0);
  });

  it('names the multi-index of a wrong element of a matrix input', () => {
    // y = 3x with a backward that is wrong at x[1][1] alone (flat index 4 of a [2, 3] input).
    const wrongAt = f64([
      [1, 1, 1],
      [1, 1.5, 1],
    ]);
    const op = scaleWith(3, (g) => mul(g, mul(wrongAt, 3)));
    const x = f64([
      [0.1, 0.2, 0.3],
      [0.4, 0.5, 0.6],
    ]);
    for (const mode of ['full', 'fast'] as const) {
      const report = gradcheck(op, [x], { mode });
      const jacobian = report.failures.filter((f) => f.kind === 'jacobian');
      expect(
        jacobian.map((f) => [f.element, f.output!.element]),
        mode,
      ).toEqual([
        [
          [1, 1],
          [1, 1],
        ],
      ]);
      expect(jacobian[0]!.message).toContain('d output 0[1,1] / d input 0[1,1]');
    }
  });

  it('fast mode projects on unit directions: with one element, vᵀ(Ju) is ±J itself', () => {
    // y = 1000x, backward 1002x: the projection's numbers are ±1000 and ±1002 whatever the seed.
    const report = gradcheck(
      scaleWith(1000, (g) => mul(g, 1002)),
      [f64([0.7])],
      { mode: 'fast' },
    );
    const projection = report.failures[0]!;
    expect(projection.kind).toBe('projection');
    expect(Math.abs(projection.numeric!)).toBeCloseTo(1000, 5);
    expect(Math.abs(projection.analytic!)).toBeCloseTo(1002, 9);
    expect(projection.absError).toBeCloseTo(2, 5);
    expect(projection.allowed).toBeCloseTo(1e-5 + 1e-3 * 1000, 7);
    expect(projection.relError).toBeCloseTo(2 / 1000, 7);
    expect(projection.message).toMatch(
      /^fast mode, input 0: \(vᵀJ\)u analytic -?1002, vᵀ\(Ju\) numeric -?1000/,
    );
  });
});

/** A customOp y = k·x (so the numeric Jacobian is k) whose backward is the given one. */
const scaleWith = (k: number, backward: (g: Tensor) => Tensor) =>
  customOp<null>({
    name: `scale(${k})`,
    forward: ([x]) => ({ outputs: mul(x!, k), residuals: null }),
    backward: ([g]) => [backward(g!)],
  });
const kinds = (report: { failures: { kind: string }[] }) => report.failures.map((f) => f.kind);

describe('gradcheck at the edges of its checks (issue 20)', () => {
  it('the tolerance is atol + rtol·|numeric|: a relative error just under rtol passes, just over fails', () => {
    // numeric = k = ±1000, so rtol·|numeric| = 1 and atol is negligible; rtol/|numeric| would allow 1e-6.
    for (const mode of ['full', 'fast'] as const) {
      for (const k of [1000, -1000]) {
        const off = (relative: number) => scaleWith(k, (g) => mul(g, k * (1 + relative)));
        const under = gradcheck(off(0.9e-3), [f64([0.7])], { mode });
        expect(under.ok, `${mode}, k ${k}, 0.9·rtol: ${formatReport(under)}`).toBe(true);
        const over = gradcheck(off(1.1e-3), [f64([0.7])], { mode });
        expect(kinds(over), `${mode}, k ${k}, 1.1·rtol`).toEqual(
          mode === 'full' ? ['jacobian'] : ['projection', 'jacobian'],
        );
        expect(over.failures.at(-1)!.allowed).toBeCloseTo(1e-5 + 1, 9);
      }
    }
  });

  // out0 = x·[1, 0] and out1 = 2y: x influences out0 only (and not through its element 1), y out1 only,
  // z nothing. `wrongZ` gives z a grad of g1/2 instead of zeros (linear in the output grads, as a grad is).
  const partlyUsed = (wrongZ: boolean) =>
    customOp<null>({
      name: 'partlyUsed',
      forward: ([x, y]) => ({ outputs: [mul(x!, f64([1, 0])), mul(y!, 2)], residuals: null }),
      backward: ([g0, g1], _, [, , z]) => [
        mul(g0!, f64([1, 0])),
        mul(g1!, 2),
        wrongZ ? mul(g1!, 0.5) : zerosLike(z!),
      ],
    });
  const partlyUsedInputs = () => [f64([0.3, -0.4]), f64([1.5, 2]), f64([-1, 0.25])];

  it('an input that influences no output: zeros pass, a nonzero grad is flagged, in both modes', () => {
    for (const mode of ['full', 'fast'] as const) {
      const right = gradcheck(partlyUsed(false), partlyUsedInputs(), { mode });
      // x and y each move one output only (and x's element 1 nothing): they still count as influencing.
      expect(right.ok, `${mode}: ${formatReport(right)}`).toBe(true);
      const wrong = gradcheck(partlyUsed(true), partlyUsedInputs(), { mode });
      expect(
        wrong.failures.map((f) => [f.kind, f.inputIndex, f.element]),
        mode,
      ).toEqual([['no-influence', 2, [0]]]);
    }
  });

  it('a backward that alternates between its grad and zeros is flagged as nondeterministic', () => {
    // Whichever of two successive runs gives zeros, and in both modes; the zeros run also fails other
    // checks (which depends on the order gradcheck calls backward in), but this is the one that names it.
    // One element and two: full mode's Jacobian takes one backward per output element.
    for (const mode of ['full', 'fast'] as const) {
      for (const x of [[0.5], [0.5, -1]]) {
        for (const zerosFirst of [true, false]) {
          let calls = 0;
          const alternating = scaleWith(3, (g) =>
            ++calls % 2 === (zerosFirst ? 1 : 0) ? mul(g, 0) : mul(g, 3),
          );
          const report = gradcheck(alternating, [f64(x)], { mode });
          expect(kinds(report), `${mode}, x [${x}], zeros ${zerosFirst ? 'first' : 'second'}`).toContain(
            'nondeterministic',
          );
        }
      }
    }
  });

  it('the bounds are inclusive: an error of exactly atol + rtol·|numeric|, or a stray grad of exactly atol, passes', () => {
    // A first run measures the error; a second, identical but for a tolerance set to that error, passes.
    for (const mode of ['full', 'fast'] as const) {
      const off = scaleWith(2, (g) => mul(g, 2.5));
      const measured = gradcheck(off, [f64([0.7])], { mode }).failures[0]!.absError!;
      expect(gradcheck(off, [f64([0.7])], { mode, atol: measured, rtol: 0 }).ok, mode).toBe(true);
      expect(kinds(gradcheck(off, [f64([0.7])], { mode, atol: measured * 0.999, rtol: 0 }))[0], mode).toBe(
        mode === 'full' ? 'jacobian' : 'projection',
      );
      // The unused input's stray grads, raised to one at a time: at the largest, atol equals it and passes.
      let atol = 1e-5;
      let stray = gradcheck(partlyUsed(true), partlyUsedInputs(), { mode, atol });
      for (let tries = 0; tries < 3 && !stray.ok; tries++) {
        atol = Math.abs(stray.failures[0]!.analytic!);
        stray = gradcheck(partlyUsed(true), partlyUsedInputs(), { mode, atol });
      }
      expect(stray.ok, `${mode}: ${formatReport(stray)}`).toBe(true);
    }
  });

  it('the linearity check allows 1e-9 (float64 outputs) and 1e-5 (float32) times 1 + 2|a| + 3|b|, no more', () => {
    // backward(g) = 2g + δ is affine: backward(2g1 - 3g2) - (2·backward(g1) - 3·backward(g2)) = 2δ. The
    // output has one element, so the seeds are ±1 and the scale is 1 + 2·2 + 3·2 = 11 (up to δ): the bound
    // is 1.1e-8 for float64 and 1.1e-4 for float32. 2δ sits a factor of about 3 either side of it, so a
    // tolerance 10 times looser or tighter fails one of the two. The Jacobian (2 + δ vs 2) passes.
    const affine = (dtype: 'float32' | 'float64', delta: number) =>
      customOp<null>({
        name: 'affine',
        forward: ([x]) => ({ outputs: astype(mul(x!, 2), dtype), residuals: null }),
        backward: ([g]) => [tensor([2 * g!.item() + delta], { dtype: 'float64' })],
      });
    // A float32 output rounds f(x ± eps): a wide step keeps the numeric Jacobian (of a line) accurate.
    const cases = [
      ['float64', 4e-9 / 2, 4e-8 / 2, 1e-6],
      ['float32', 4e-5 / 2, 4e-4 / 2, 1e-2],
    ] as const;
    for (const [dtype, under, over, eps] of cases) {
      for (const mode of ['full', 'fast'] as const) {
        const pass = gradcheck(affine(dtype, under), [f64([0.5])], { mode, eps });
        expect(pass.ok, `${dtype}, ${mode}, 2δ ${2 * under}: ${formatReport(pass)}`).toBe(true);
        const fail = gradcheck(affine(dtype, over), [f64([0.5])], { mode, eps });
        expect(kinds(fail), `${dtype}, ${mode}, 2δ ${2 * over}`).toEqual(['nonlinear']);
      }
    }
  });
});

describe('gradcheck at the edges of its checks, more (issue 20)', () => {
  it('the linearity bound grows with 2|a| + 3|b|: large grads allow a larger absolute gap', () => {
    // backward(g) = 1000g + δ: a, b ≈ ±1000, so the bound is 1e-9·(1 + 2000 + 3000) ≈ 5e-6, and the gap
    // 2δ = 4e-6 passes; with either term shrunk (2/|a| or 3/|b|) it would be 3e-6 or 2e-6 and fail.
    const large = (delta: number) =>
      customOp<null>({
        name: 'large',
        forward: ([x]) => ({ outputs: mul(x!, 1000), residuals: null }),
        backward: ([g]) => [tensor([1000 * g!.item() + delta], { dtype: 'float64' })],
      });
    for (const mode of ['full', 'fast'] as const) {
      const pass = gradcheck(large(2e-6), [f64([0.5])], { mode });
      expect(pass.ok, `${mode}: ${formatReport(pass)}`).toBe(true);
      expect(kinds(gradcheck(large(3e-6), [f64([0.5])], { mode })), mode).toEqual(['nonlinear']);
    }
  });

  it('one float32 output among float64 ones gives the linearity check float32’s tolerance', () => {
    // backward = 2·g0 + 2·g1 + δ, with 2δ = 2e-6: within 1e-5·scale, far past 1e-9·scale (scale ≤ 21).
    const mixed = customOp<null>({
      name: 'mixed',
      forward: ([x]) => ({ outputs: [astype(mul(x!, 2), 'float32'), mul(x!, 2)], residuals: null }),
      backward: ([g0, g1]) => [tensor([2 * g0!.item() + 2 * g1!.item() + 1e-6], { dtype: 'float64' })],
    });
    for (const mode of ['full', 'fast'] as const) {
      const report = gradcheck(mixed, [f64([0.5])], { mode, eps: 1e-2 });
      expect(report.ok, `${mode}: ${formatReport(report)}`).toBe(true);
    }
  });

  it('-0 and +0 from two runs are the same grad: the determinism check compares values, not bits, at 0', () => {
    // y = 2·x0 + 0·x1; the backward gives x1 a zero whose sign flips from call to call.
    let calls = 0;
    const signedZero = customOp<null>({
      name: 'signedZero',
      forward: ([x]) => ({ outputs: mul(x!, f64([2, 0])), residuals: null }),
      backward: ([g]) => [
        tensor(
          Array.from(g!.data, (v, i) => (i === 0 ? 2 * v : ++calls % 2 === 0 ? 0 : -0)),
          { dtype: 'float64' },
        ),
      ],
    });
    for (const mode of ['full', 'fast'] as const) {
      const report = gradcheck(signedZero, [f64([0.5, -1])], { mode });
      expect(report.ok, `${mode}: ${formatReport(report)}`).toBe(true);
    }
  });
});

const absOf = (g: Tensor): Tensor => tensor(Array.from(g.data, Math.abs), { dtype: g.dtype, shape: g.shape });
