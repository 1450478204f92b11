// The allocator's arenas, one row per lifetime: a buffer is not lent again while the arena that took it
// is live (the row's own lifetime nested inside it asks for the same size), and is lent again once the
// arena has ended. Then what is particular to graph arenas (a dropped graph, a forward under noGrad)
// and the refusals of a closed arena.
import { describe, expect, it } from 'vitest';
import {
  customOp,
  type DType,
  grad,
  mul,
  noGrad,
  sum,
  type Tensor,
  tensor,
  tidy,
  zeros,
} from '../src/index.js';
import {
  backwardScratch,
  callArena,
  type GraphArena,
  graphArena,
  type Lifetime,
  poisonRecycled,
} from '../src/kernels.js';
import { Arena } from '../src/memory/arena.js';

type TypedArray = Float32Array | Float64Array;

// saves(x) = x²/2, whose forward keeps x in a graph arena buffer that its backward reads: dx = g·x.
let lastSaved: TypedArray | null = null;
const savesOp = customOp<{ saved: GraphArena } | null>({
  name: 'saves',
  forward([x], { needsGrad }) {
    const saved = graphArena('saves');
    lastSaved = saved.take(x!.dtype, x!.size, { zeroed: false });
    lastSaved.set(x!.data);
    const output = tensor(
      Array.from(x!.data, (v) => (v * v) / 2),
      { dtype: x!.dtype, shape: [...x!.shape] },
    );
    saved.lendTo([output], needsGrad);
    return { outputs: output, residuals: needsGrad ? { saved } : null };
  },
  backward([g], residuals) {
    const [values] = residuals!.saved.buffers;
    return [
      tensor(
        Array.from(g!.data, (v, i) => v * values![i]!),
        { dtype: g!.dtype, shape: [...g!.shape] },
      ),
    ];
  },
  reference: (x) => mul(mul(x!, x!), 0.5),
});
const saves = (x: Tensor) => savesOp(x) as Tensor;

// runs(x) = x, whose backward runs `inBackward` with a pass's scratch of x's size.
let inBackward: (scratch: TypedArray) => void = () => {};
const runsOp = customOp<null>({
  name: 'runs',
  forward([x]) {
    return {
      outputs: tensor(Array.from(x!.data), { dtype: x!.dtype, shape: [...x!.shape] }),
      residuals: null,
    };
  },
  backward([g]) {
    inBackward(backwardScratch(g!.dtype, g!.size)!);
    return [g!];
  },
  reference: (x) => x!,
});

/** 8192 values: 32 KB or more, so that tidy's tensor buffers are recycled too (smaller ones are left to the GC). */
const SIZE = 8192;

interface Row {
  lifetime: Lifetime;
  /** Takes a buffer of `size` values for one run of the lifetime, hands it to `inside` while live, then ends it. */
  live(dtype: DType, size: number, inside: (buffer: TypedArray) => void): void;
}

const rows: Row[] = [
  {
    lifetime: 'call',
    live: (dtype, size, inside) => callArena('test call', (arena) => inside(arena.take(dtype, size))),
  },
  {
    // Nested, the row's own lifetime runs a pass inside the outer pass's backward (grad inside a vjp).
    lifetime: 'pass',
    live(dtype, size, inside) {
      const outer = inBackward;
      inBackward = (scratch) => {
        inBackward = outer;
        inside(scratch);
      };
      try {
        grad((x: Tensor) => sum(runsOp(x) as Tensor))(zeros([size], { dtype }));
      } finally {
        inBackward = outer;
      }
    },
  },
  {
    // Live from the forward that records the graph to the backward that frees its saved values.
    lifetime: 'graph',
    live(dtype, size, inside) {
      const x = zeros([size], { dtype, requiresGrad: true });
      const y = saves(x);
      inside(lastSaved!);
      sum(y).backward();
    },
  },
  {
    // A tensor made in the scope and not returned: its buffer goes back when the scope ends.
    lifetime: 'scope',
    live: (dtype, size, inside) =>
      tidy(() => {
        inside(zeros([size], { dtype }).data);
        return null;
      }),
  },
];

describe.each(['float32', 'float64'] as DType[])('arenas (%s)', (dtype) => {
  it.each(rows)('$lifetime: not lent again while live, lent again once ended', ({ live }) => {
    let first: TypedArray | null = null;
    let nested: TypedArray | null = null;
    live(dtype, SIZE, (buffer) => {
      first = buffer;
      live(dtype, SIZE, (other) => {
        nested = other;
      });
    });
    expect(nested).not.toBeNull();
    expect(nested!.buffer === first!.buffer && nested!.byteOffset === first!.byteOffset).toBe(false);
    // Ended: the same size is given the memory the first arena (or the nested one, freed last) held.
    let again: TypedArray | null = null;
    live(dtype, SIZE, (buffer) => {
      again = buffer;
    });
    const reused = [first!, nested!].some(
      (b) => b.buffer === again!.buffer && b.byteOffset === again!.byteOffset,
    );
    expect(reused).toBe(true);
  });

  it('graph: a graph dropped without a backward keeps its buffers', () => {
    const ramp = Array.from({ length: SIZE }, (_, i) => i % 7);
    const x = tensor(ramp, { dtype, requiresGrad: true });
    const dropped = saves(x);
    const held = lastSaved!;
    for (let i = 0; i < 3; i++) {
      const y = saves(zeros([SIZE], { dtype, requiresGrad: true }));
      expect(lastSaved).not.toBe(held);
      sum(y).backward();
    }
    // Still the graph's own: a backward through it reads what its forward saved, not the zeros since.
    sum(dropped).backward();
    expect(Array.from(x.grad!.data)).toEqual(ramp);
  });

  it('graph: a forward under noGrad gives its buffers back at once', () => {
    const x = zeros([SIZE], { dtype, requiresGrad: true });
    noGrad(() => saves(x));
    const first = lastSaved!;
    noGrad(() => saves(x));
    expect(lastSaved).toBe(first);
    // A recorded forward may take them too, and keeps them until its backward.
    const y = saves(x);
    expect(lastSaved).toBe(first);
    saves(x);
    expect(lastSaved).not.toBe(first);
    sum(y).backward();
  });
});

// An arena is lent the buffers of the last closed arena of its name while its asks match (an op asks
// for the same sizes every step); from the first ask that differs it takes from the free lists, and the
// rest of that set goes there too.
describe("an arena's name: the last set of buffers", () => {
  const same = (a: TypedArray, b: TypedArray) => a.buffer === b.buffer && a.byteOffset === b.byteOffset;

  it('is lent again in the order taken, zeroed unless asked not to', () => {
    const first = callArena('sets: order', (a) => [a.take('float32', 5), a.take('float64', 3)]);
    first[0]!.fill(7);
    first[1]!.fill(7);
    const again = callArena('sets: order', (a) => [
      a.take('float32', 5),
      a.take('float64', 3, { zeroed: false }),
    ]);
    expect(same(again[0]!, first[0]!) && same(again[1]!, first[1]!)).toBe(true);
    expect(Array.from(again[0]!)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(again[1]!)).toEqual([7, 7, 7]);
  });

  it('poisoned when recycled for a caller that writes every value', () => {
    callArena('sets: poison', (a) => a.take('float32', 4));
    poisonRecycled(true);
    try {
      const again = callArena('sets: poison', (a) => Array.from(a.take('float32', 4, { zeroed: false })));
      expect(again.every(Number.isNaN)).toBe(true);
    } finally {
      poisonRecycled(false);
    }
  });

  it('not to an arena of the name opened while another is open', () => {
    callArena('sets: nested', (a) => a.take('float64', 6));
    const [outer, inner] = callArena('sets: nested', (a) => {
      const o = a.take('float64', 6);
      return [o, callArena('sets: nested', (b) => b.take('float64', 6))];
    });
    expect(same(outer!, inner!)).toBe(false);
  });

  it('from the first ask that differs, to the free lists (where any arena may take it)', () => {
    const [a0, a1] = callArena('sets: change', (a) => [a.take('float64', 9), a.take('float64', 11)]);
    const [b0, b1] = callArena('sets: change', (a) => [a.take('float64', 9), a.take('float64', 12)]);
    expect(same(b0!, a0!)).toBe(true);
    expect(same(b1!, a1!)).toBe(false);
    // a1 went to the free lists: another name asking for its length is lent it.
    const other = callArena('sets: someone else', (a) => a.take('float64', 11));
    expect(same(other, a1!)).toBe(true);
  });
});

describe('a closed arena', () => {
  it.each([
    ['call', /^call arena 'late': asked for 4 float32 values after it closed \(its kernel call returned\)$/],
    ['pass', /^pass arena 'late': asked for 4 float32 values after it closed \(its backward pass ended\)$/],
    [
      'graph',
      /^graph arena 'late': asked for 4 float32 values after it closed \(its graph's saved values were freed, or its forward recorded nothing\)$/,
    ],
  ] as const)('%s: refuses take(), naming the arena and its lifetime', (lifetime, message) => {
    const arena = new Arena('late', lifetime);
    arena.take('float32', 4);
    arena.close();
    expect(() => arena.take('float32', 4)).toThrow(message);
  });

  it('call: an arena kept past its call refuses', () => {
    let kept: Arena | null = null;
    callArena('kept', (arena) => {
      kept = arena;
    });
    expect(() => kept!.take('float64', 2)).toThrow(
      /^call arena 'kept': asked for 2 float64 values after it closed/,
    );
  });

  it('graph: its buffers are refused once its forward recorded nothing', () => {
    const arena = graphArena('unrecorded');
    arena.take('float64', 3);
    arena.lendTo([tensor([1])], false);
    expect(() => arena.buffers).toThrow(/^graph arena 'unrecorded': its buffers were read after it closed/);
  });

  it('names the arena in a refused request', () => {
    expect(() => callArena('sizes', (arena) => arena.take('float32', -1))).toThrow(
      /^call arena 'sizes': size must be a whole number of values ≥ 0, got -1/,
    );
    expect(() => callArena('sizes', (arena) => arena.take('int8' as DType, 1))).toThrow(
      /^call arena 'sizes': unknown dtype int8/,
    );
  });
});
