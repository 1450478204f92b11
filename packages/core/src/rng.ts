// RandomState: numpy's legacy MT19937 stream (`np.random.seed(s)` / `np.random.RandomState(s)`), replayed bit
// for bit, so a model seeded here starts from the same numbers as its numpy original.
import { type DType, isDType } from './dtype.js';
import { checkBytes, sizeOf } from './shape.js';
import { fromData, type Tensor } from './tensor.js';

const N = 624; // words of MT19937 state
const M = 397;
const TWO_32 = 4294967296;
// The largest float32 below 1: rounding rand() to float32 would give 1 about once in 2^25 draws,
// which [0, 1) forbids.
const FLOAT32_BELOW_ONE = 1 - 2 ** -24;

export interface RandomOptions {
  /** float64 by default; float32 rounds each float64 draw to nearest, so the stream stays numpy's. */
  dtype?: DType;
}

/** A plain, JSON-able copy of the generator: numpy's `get_state()` without the 'MT19937' tag. */
export interface RandomStateSnapshot {
  key: number[];
  pos: number;
  hasGauss: boolean;
  gauss: number;
}

type SizeArg = number | readonly number[] | null | undefined;

export class RandomState {
  private readonly key = new Uint32Array(N);
  private pos = N;
  // The polar method makes gaussians in pairs; numpy keeps the second for the next call, across any
  // other draws (rand, randint, ...), and so must we to stay on its stream.
  private hasGauss = false;
  private gauss = 0;

  constructor(seed: number) {
    this.seed(seed);
  }

  /** Re-seeds like `np.random.seed(seed)`: numpy's legacy seeding of an int is MT19937 init_genrand. */
  seed(seed: number): void {
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`RandomState.seed: seed (${seed}) must be an integer in [0, 2^32 - 1]`);
    }
    const key = this.key;
    key[0] = seed;
    for (let i = 1; i < N; i++) {
      const prev = key[i - 1]!;
      key[i] = Math.imul(1812433253, prev ^ (prev >>> 30)) + i; // the Uint32Array store wraps mod 2^32
    }
    this.pos = N;
    this.hasGauss = false;
    this.gauss = 0;
  }

  getState(): RandomStateSnapshot {
    return { key: Array.from(this.key), pos: this.pos, hasGauss: this.hasGauss, gauss: this.gauss };
  }

  setState(state: RandomStateSnapshot): void {
    const { key, pos, hasGauss, gauss } = state;
    if (
      !Array.isArray(key) ||
      key.length !== N ||
      !key.every((k) => Number.isInteger(k) && k >= 0 && k < TWO_32)
    ) {
      throw new Error(`RandomState.setState: key must be ${N} integers in [0, 2^32 - 1]`);
    }
    if (!Number.isInteger(pos) || pos < 0 || pos > N) {
      throw new Error(`RandomState.setState: pos (${pos}) must be an integer in [0, ${N}]`);
    }
    if (typeof hasGauss !== 'boolean' || !Number.isFinite(gauss)) {
      throw new Error(
        `RandomState.setState: hasGauss (${hasGauss}) must be a boolean and gauss (${gauss}) finite`,
      );
    }
    this.key.set(key);
    this.pos = pos;
    this.hasGauss = hasGauss;
    this.gauss = hasGauss ? gauss : 0;
  }

  /** Uniform [0, 1) like `np.random.rand(d0, d1, ...)`; no dims gives shape [] (numpy: a float). */
  rand(...args: [...shape: number[], options: RandomOptions] | number[]): Tensor {
    const [shape, dtype] = splitArgs('rand', args);
    const draw = dtype === 'float32' ? () => Math.min(this.double(), FLOAT32_BELOW_ONE) : () => this.double();
    return this.fill('rand', shape, dtype, draw);
  }

  /** Standard normal like `np.random.randn(d0, d1, ...)`; no dims gives shape [] (numpy: a float). */
  randn(...args: [...shape: number[], options: RandomOptions] | number[]): Tensor {
    const [shape, dtype] = splitArgs('randn', args);
    return this.fill('randn', shape, dtype, () => this.gaussian());
  }

  /** `loc + scale * z` for standard normal z, as numpy's legacy normal; no size gives shape []. */
  normal(loc = 0, scale = 1, size?: SizeArg, options: RandomOptions = {}): Tensor {
    if (!Number.isFinite(loc)) throw new Error(`RandomState.normal: loc (${loc}) must be finite`);
    if (!(scale >= 0 && Number.isFinite(scale))) {
      throw new Error(`RandomState.normal: scale (${scale}) must be finite and >= 0`);
    }
    const dtype = checkDType('normal', options.dtype);
    return this.fill('normal', sizeToShape('normal', size), dtype, () => loc + scale * this.gaussian());
  }

  /** `low + (high - low) * u` for u in [0, 1), as numpy's legacy uniform (which allows low > high). */
  uniform(low = 0, high = 1, size?: SizeArg, options: RandomOptions = {}): Tensor {
    const range = high - low;
    if (!Number.isFinite(low) || !Number.isFinite(high) || !Number.isFinite(range)) {
      throw new Error(`RandomState.uniform: low (${low}), high (${high}) and high - low must be finite`);
    }
    const dtype = checkDType('uniform', options.dtype);
    return this.fill('uniform', sizeToShape('uniform', size), dtype, () => low + range * this.double());
  }

  /**
   * Integers in [low, high), or [0, low) without high, as numpy's legacy `randint` (int64) draws them.
   * The values come back in a float64 tensor (tapegrad has no integer dtype), which is why high - low is
   * limited to 2^53 - 1: every integer in range must be exact. No size gives shape [].
   */
  randint(low: number, high?: number | null, size?: SizeArg): Tensor {
    if (high === undefined || high === null) {
      if (!(low > 0)) {
        throw new Error(`RandomState.randint: high (${low}) must be > 0 when it is the only bound`);
      }
      high = low;
      low = 0;
    }
    if (!Number.isSafeInteger(low)) {
      throw new Error(`RandomState.randint: low (${low}) must be a safe integer`);
    }
    if (!Number.isSafeInteger(high)) {
      throw new Error(`RandomState.randint: high (${high}) must be a safe integer`);
    }
    if (low >= high) throw new Error(`RandomState.randint: low (${low}) must be < high (${high})`);
    const span = high - low;
    if (!Number.isSafeInteger(span)) {
      throw new Error(`RandomState.randint: high - low (${high} - ${low}) must be at most 2^53 - 1`);
    }
    const base = low;
    return this.fill('randint', sizeToShape('randint', size), 'float64', () => base + this.bounded(span - 1));
  }

  /** A shuffled 0..n-1 (as float64), as numpy's legacy `permutation(n)`: Fisher-Yates from the end. */
  permutation(n: number): Tensor {
    if (!Number.isInteger(n) || n < 0) {
      throw new Error(`RandomState.permutation: n (${n}) must be a non-negative integer`);
    }
    checkBytes('RandomState.permutation', [n], 'float64');
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.bounded(i);
      const t = out[i]!;
      out[i] = out[j]!;
      out[j] = t;
    }
    return fromData(out, [n]);
  }

  private fill(method: string, shape: number[], dtype: DType, draw: () => number): Tensor {
    checkBytes(`RandomState.${method}`, shape, dtype);
    const size = sizeOf(shape);
    const data = dtype === 'float32' ? new Float32Array(size) : new Float64Array(size);
    for (let i = 0; i < size; i++) data[i] = draw();
    // The buffer is the tensor's own: no second copy (near the byte limit, that would double the peak).
    return fromData(data, shape);
  }

  /** The next tempered 32-bit word. */
  private next32(): number {
    if (this.pos === N) this.regenerate();
    let y = this.key[this.pos++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** Refills all 624 words (numpy's mt19937_gen; the modulo folds its three loops into one). */
  private regenerate(): void {
    const key = this.key;
    for (let i = 0; i < N; i++) {
      const y = (key[i]! & 0x80000000) | (key[(i + 1) % N]! & 0x7fffffff);
      key[i] = key[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.pos = 0;
  }

  /** A double in [0, 1) from 53 random bits: numpy's random_sample / legacy_double. */
  private double(): number {
    const a = this.next32() >>> 5;
    const b = this.next32() >>> 6;
    return (a * 67108864 + b) / 9007199254740992;
  }

  /**
   * A uniform integer in [0, max] by masked rejection, as numpy's legacy bounded draws (randint with
   * use_masked) and random_interval (shuffle) do: max 0 draws nothing, max < 2^32 uses one word per try,
   * larger max two words (high word first) per try. max must be a safe integer.
   */
  private bounded(max: number): number {
    if (max === 0) return 0;
    if (max <= 0xffffffff) {
      const mask = smear(max);
      let v: number;
      do v = (this.next32() & mask) >>> 0;
      while (v > max);
      return v;
    }
    const hiMask = smear(Math.floor(max / TWO_32));
    let v: number;
    do {
      const hi = (this.next32() & hiMask) >>> 0;
      v = hi * TWO_32 + this.next32();
    } while (v > max);
    return v;
  }

  /** numpy's legacy_gauss: polar Box-Muller, the second value of each pair kept for the next call. */
  private gaussian(): number {
    if (this.hasGauss) {
      this.hasGauss = false;
      const g = this.gauss;
      this.gauss = 0;
      return g;
    }
    let x1: number;
    let x2: number;
    let r2: number;
    do {
      x1 = 2 * this.double() - 1;
      x2 = 2 * this.double() - 1;
      r2 = x1 * x1 + x2 * x2;
    } while (r2 >= 1 || r2 === 0);
    const f = Math.sqrt((-2 * Math.log(r2)) / r2);
    this.gauss = f * x1;
    this.hasGauss = true;
    return f * x2;
  }
}

/** The smallest all-ones mask covering x (x < 2^32). */
function smear(x: number): number {
  x |= x >>> 1;
  x |= x >>> 2;
  x |= x >>> 4;
  x |= x >>> 8;
  x |= x >>> 16;
  return x >>> 0;
}

function checkDType(method: string, dtype: unknown): DType {
  if (dtype === undefined) return 'float64';
  if (!isDType(dtype)) {
    throw new Error(`RandomState.${method}: dtype (${String(dtype)}) must be 'float32' or 'float64'`);
  }
  return dtype;
}

function checkDims(method: string, dims: readonly unknown[]): number[] {
  dims.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0) {
      throw new Error(`RandomState.${method}: size[${i}] (${String(d)}) must be a non-negative integer`);
    }
  });
  return dims as number[];
}

/** numpy-style size: omitted for one draw (shape []), a number for 1-D, an array for a shape. */
function sizeToShape(method: string, size: SizeArg): number[] {
  if (size === undefined || size === null) return [];
  return checkDims(method, typeof size === 'number' ? [size] : [...size]);
}

/** rand/randn take dims as numbers, then optionally an options object. */
function splitArgs(method: string, args: readonly (number | RandomOptions)[]): [number[], DType] {
  const last = args[args.length - 1];
  // numpy's randn(2, 3); an array here would otherwise be read as the options and give one draw.
  if (args.some((a) => Array.isArray(a))) {
    throw new TypeError(
      `RandomState.${method}: takes dims as separate numbers (${method}(2, 3)), not an array; for a shape array use normal/uniform with size`,
    );
  }
  if (typeof last === 'object' && last !== null) {
    return [checkDims(method, args.slice(0, -1)), checkDType(method, last.dtype)];
  }
  return [checkDims(method, args), 'float64'];
}
