// RandomState against numpy's legacy stream, recorded in test/fixtures/rng.json by scripts/fixtures/rng.py.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RandomState, type RandomStateSnapshot } from './rng.js';
import type { Tensor } from './tensor.js';

type Arg = number | number[] | null;
type Step =
  | { call: 'state'; pos: number; hasGauss: boolean; gauss: number; key?: number[] }
  | { call: string; args: Arg[]; shape: number[]; values: number[] };
interface Scenario {
  name: string;
  seed: number;
  steps: Step[];
}

const fixture = JSON.parse(readFileSync(new URL('../test/fixtures/rng.json', import.meta.url), 'utf8')) as {
  numpy: string;
  scenarios: Scenario[];
};
const scenario = (name: string): Scenario => fixture.scenarios.find((s) => s.name === name)!;

/** Runs one fixture call with the fixture's arguments, spelled as the TypeScript methods take them. */
function run(rs: RandomState, call: string, args: Arg[]): Tensor {
  const opt = (a: Arg | undefined) => a ?? undefined;
  switch (call) {
    case 'rand':
      return rs.rand(...(args as number[]));
    case 'randn':
      return rs.randn(...(args as number[]));
    case 'randint':
      return rs.randint(args[0] as number, opt(args[1]) as number | undefined, opt(args[2]));
    case 'permutation':
      return rs.permutation(args[0] as number);
    case 'normal':
      return rs.normal(args[0] as number, args[1] as number, opt(args[2]));
    case 'uniform':
      return rs.uniform(args[0] as number, args[1] as number, opt(args[2]));
    default:
      throw new Error(`unknown fixture call ${call}`);
  }
}

// Gaussians go through Math.log, which may differ from C's log by an ulp: allow a few ulps (relative 1e-15),
// measured against |loc| too for normal, where loc + scale * z can cancel.
function expectClose(actual: ArrayLike<number>, expected: number[], floor = 0): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i]!;
    const a = actual[i]!;
    if (Math.abs(a - e) > 1e-15 * Math.max(Math.abs(e), floor)) {
      expect.fail(`value ${i}: ${a} vs numpy ${e}`);
    }
  }
}

function expectState(actual: RandomStateSnapshot, step: Extract<Step, { call: 'state' }>): void {
  expect(actual.pos).toBe(step.pos);
  expect(actual.hasGauss).toBe(step.hasGauss);
  expectClose([actual.gauss], [step.gauss]);
  if (step.key) expect(actual.key).toEqual(step.key);
}

function replay(s: Scenario): void {
  const rs = new RandomState(s.seed);
  s.steps.forEach((step, i) => {
    if (step.call === 'state') {
      expectState(rs.getState(), step as Extract<Step, { call: 'state' }>);
      return;
    }
    const { call, args, shape, values } = step as Extract<Step, { args: Arg[] }>;
    const t = run(rs, call, args);
    expect(t.shape, `step ${i} ${call}`).toEqual(shape);
    expect(t.dtype).toBe('float64');
    if (call === 'randn' || call === 'normal') {
      expectClose(t.data, values, call === 'normal' ? Math.abs(args[0] as number) : 0);
    } else {
      expect(Array.from(t.data), `step ${i} ${call}(${JSON.stringify(args)})`).toEqual(values);
    }
  });
}

describe(`RandomState vs numpy ${fixture.numpy} legacy RandomState`, () => {
  for (const s of fixture.scenarios) {
    it(`${s.name} (seed ${s.seed})`, () => replay(s));
  }

  it("seed(1).randn(5, 10) is the notebook's np.random.seed(1); np.random.randn(5, 10)", () => {
    const t = new RandomState(1).randn(5, 10);
    expect(t.shape).toEqual([5, 10]);
    expectClose(t.data, (scenario('notebook randn(5,10)').steps[0] as { values: number[] }).values);
    expect(t.data[0]).toBeCloseTo(1.6243453636632417, 15);
  });

  it('keeps the cached gaussian across calls: randn(3) + randn(3) is randn(6)', () => {
    const rs = new RandomState(42);
    const joined = [...rs.randn(3).data, ...rs.randn(3).data];
    expect(joined).toEqual(Array.from(new RandomState(42).randn(6).data));
    expectClose(joined, (scenario('randn(6) in one call').steps[0] as { values: number[] }).values);
  });

  it('rand and randint do not reset the cached gaussian', () => {
    const a = new RandomState(9);
    const b = new RandomState(9);
    a.randn(1);
    b.randn(1);
    const cached = b.getState().gauss;
    b.rand(5);
    b.randint(0, 7, [3]);
    expect(b.getState().hasGauss).toBe(true);
    expect(b.getState().gauss).toBe(cached);
    expect(b.randn().item()).toBe(a.randn().item());
  });
});

describe('RandomState shapes and options', () => {
  it('gives shape [] for no dims or no size', () => {
    const rs = new RandomState(0);
    for (const t of [rs.rand(), rs.randn(), rs.normal(), rs.uniform(), rs.randint(3)])
      expect(t.shape).toEqual([]);
    expect(rs.randint(2, 5, 4).shape).toEqual([4]);
  });

  it('float32 rounds the float64 stream and rand stays below 1', () => {
    const a = new RandomState(3).randn(4, 5, { dtype: 'float32' });
    const b = new RandomState(3).randn(4, 5);
    expect(a.dtype).toBe('float32');
    expect(a.shape).toEqual([4, 5]);
    expect(Array.from(a.data)).toEqual(Array.from(b.data, Math.fround));
    const rs = new RandomState(0);
    rs.setState({ ...rs.getState(), pos: 0, key: Array(624).fill(0xffffffff) });
    expect(rs.rand(1, { dtype: 'float32' }).data[0]).toBeLessThan(1);
  });

  it('permutation covers 0..n-1 once', () => {
    const p = Array.from(new RandomState(1).permutation(1000).data).sort((x, y) => x - y);
    expect(p).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  it('getState/setState resume a run exactly, through JSON', () => {
    const rs = new RandomState(123);
    rs.randn(3); // leaves a cached gaussian
    rs.rand(700); // crosses a state refill
    const saved = JSON.parse(JSON.stringify(rs.getState())) as RandomStateSnapshot;
    const expected = [...rs.randn(5).data, ...rs.randint(0, 100, [5]).data];
    const resumed = new RandomState(0);
    resumed.setState(saved);
    expect([...resumed.randn(5).data, ...resumed.randint(0, 100, [5]).data]).toEqual(expected);
  });

  it('seed() restarts the stream and drops the cached gaussian', () => {
    const rs = new RandomState(5);
    const first = Array.from(rs.randn(3).data);
    rs.seed(5);
    expect(rs.getState().hasGauss).toBe(false);
    expect(Array.from(rs.randn(3).data)).toEqual(first);
  });
});

describe('RandomState bad input', () => {
  const rs = new RandomState(0);
  it.each([
    [() => new RandomState(-1), 'RandomState.seed: seed (-1)'],
    [() => new RandomState(2 ** 32), 'RandomState.seed: seed (4294967296)'],
    [() => new RandomState(1.5), 'RandomState.seed: seed (1.5)'],
    [() => new RandomState(Number.NaN), 'RandomState.seed: seed (NaN)'],
    [() => rs.rand(2, -1), 'RandomState.rand: size[1] (-1)'],
    [() => rs.randn(2.5), 'RandomState.randn: size[0] (2.5)'],
    [() => rs.randn(Number.NaN), 'RandomState.randn: size[0] (NaN)'],
    [() => rs.rand(2, { dtype: 'int32' as 'float32' }), 'RandomState.rand: dtype (int32)'],
    [() => rs.randint(5, 3), 'RandomState.randint: low (5) must be < high (3)'],
    [() => rs.randint(4, 4), 'RandomState.randint: low (4) must be < high (4)'],
    [() => rs.randint(0), 'RandomState.randint: high (0) must be > 0'],
    [() => rs.randint(0.5, 3), 'RandomState.randint: low (0.5)'],
    [() => rs.randint(0, Number.NaN), 'RandomState.randint: high (NaN)'],
    [() => rs.randint(-(2 ** 52), 2 ** 52), 'RandomState.randint: high - low'],
    [() => rs.randint(0, 3, [-2]), 'RandomState.randint: size[0] (-2)'],
    [() => rs.permutation(-1), 'RandomState.permutation: n (-1)'],
    [() => rs.permutation(2.5), 'RandomState.permutation: n (2.5)'],
    [() => rs.normal(0, -1), 'RandomState.normal: scale (-1)'],
    [() => rs.normal(Number.NaN, 1), 'RandomState.normal: loc (NaN)'],
    [() => rs.uniform(0, Number.POSITIVE_INFINITY), 'RandomState.uniform: low (0), high (Infinity)'],
    [() => rs.uniform(-Number.MAX_VALUE, Number.MAX_VALUE), 'RandomState.uniform:'],
    [() => rs.setState({ ...rs.getState(), pos: 625 }), 'RandomState.setState: pos (625)'],
    [() => rs.setState({ ...rs.getState(), key: [1, 2] }), 'RandomState.setState: key'],
  ])('%#: throws %s', (f, message) => {
    expect(f).toThrow(message);
  });
});
