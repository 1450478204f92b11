// F16 and BF16 checkpoints widen to float32 on load: a file PyTorch's tensors were written into
// (fixtures/torch_half.safetensors, by scripts/fixtures/safetensors_half.py) gives torch's own
// .float() bit for bit, and every one of the 65536 bit patterns of each format widens exactly.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { CheckpointError, loadSafetensors, saveSafetensors } from '../src/index.js';
import { fixture } from './assertClose.js';

interface Expected {
  torch: string;
  bytes: number;
  tensors: Record<
    string,
    { dtype: 'F16' | 'BF16' | 'F32' | 'F64'; shape: number[]; float32Bits?: number[]; values?: number[] }
  >;
}
const expected = fixture<Expected>('torch_half.json');
const torchFile = new Uint8Array(
  await readFile(new URL('./fixtures/torch_half.safetensors', import.meta.url)),
);

/** A float32 tensor's data as bit patterns, read from its own buffer (no NaN passes through a number). */
const bitsOf = (data: ArrayLike<number>): number[] => {
  const f = data as Float32Array;
  return Array.from(new Uint32Array(f.buffer, f.byteOffset, f.length));
};

/** A file of one tensor `w` of the given code, the header padded as the spec says. */
function oneTensor(code: string, shape: number[], data: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(
    `{"w":{"dtype":"${code}","shape":[${shape}],"data_offsets":[0,${data.length}]}}`,
  );
  const length = Math.ceil(header.length / 8) * 8;
  const out = new Uint8Array(8 + length + data.length).fill(0x20, 8, 8 + length);
  new DataView(out.buffer).setBigUint64(0, BigInt(length), true);
  out.set(header, 8);
  out.set(data, 8 + length);
  return out;
}

/** Every 16-bit pattern, little-endian. */
const allPatterns = new Uint8Array(new Uint16Array(65536).map((_, i) => i).buffer);

/** F16's value from its fields, independently of the reader's bit manipulation. */
function halfValue(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const mantissa = h & 0x3ff;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

describe('F16 and BF16 checkpoints, widened to float32', () => {
  it(`a file of torch ${expected.torch}'s float16 and bfloat16 tensors gives torch's .float() bit for bit`, () => {
    expect(torchFile.length).toBe(expected.bytes);
    const tensors = loadSafetensors(torchFile);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, want] of Object.entries(expected.tensors)) {
      const t = tensors[name]!;
      expect(t.shape, name).toEqual(want.shape);
      if (want.dtype === 'F64') {
        expect(t.dtype, name).toBe('float64');
        expect(Array.from(t.data), name).toEqual(want.values);
      } else {
        // F16, BF16 and F32 all become float32: the bit patterns say -0 from 0 and which NaN
        expect(t.dtype, name).toBe('float32');
        expect(bitsOf(t.data), name).toEqual(want.float32Bits);
      }
    }
  });

  it('the edge values: ±0, subnormals, 65504, ±Inf, NaN; bfloat16 rounded to nearest even by torch', () => {
    const tensors = loadSafetensors(torchFile);
    const half = Array.from(tensors['half.values']!.data);
    // rounded from 0, -0, 1, -2.5, 65504, -65504, 65519, 65520, Inf, -Inf, NaN, 2⁻²⁴, -2⁻²⁴, 1023·2⁻²⁴,
    // 2⁻¹⁴, 2⁻²⁵ (a tie: to the even 0), 3·2⁻²⁶ (up to 2⁻²⁴), 0.1, 1/3, 1e-8, 1 + 2⁻¹¹ (a tie: to 1),
    // 1 + 3·2⁻¹¹ (a tie: up to 1 + 2⁻⁹)
    expect(half.slice(0, 8)).toEqual([0, -0, 1, -2.5, 65504, -65504, 65504, Number.POSITIVE_INFINITY]);
    expect(Object.is(half[1], -0)).toBe(true);
    expect(Object.is(half[0], 0)).toBe(true);
    expect(half[8]).toBe(Number.POSITIVE_INFINITY);
    expect(half[9]).toBe(Number.NEGATIVE_INFINITY);
    expect(half[10]).toBeNaN();
    expect(half.slice(11, 17)).toEqual([2 ** -24, -(2 ** -24), 1023 * 2 ** -24, 2 ** -14, 0, 2 ** -24]);
    expect(half.slice(17)).toEqual([0.0999755859375, 0.333251953125, 0, 1, 1 + 2 ** -9]);

    const bf16 = Array.from(tensors['bf16.values']!.data);
    expect(bf16.slice(0, 7)).toEqual([
      0,
      -0,
      1,
      -2.5,
      65536, // 65504 has 11 significant bits; bfloat16 keeps 8
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
    expect(Object.is(bf16[1], -0)).toBe(true);
    expect(bf16[7]).toBeNaN();
    expect(bf16.slice(8, 11)).toEqual([0.10009765625, 0.333984375, 3.140625]);
    // the largest finite bfloat16; the one halfway past it rounds to even, which is Inf
    expect(bf16[11]).toBe(3.3895313892515355e38);
    expect(bf16[12]).toBe(Number.POSITIVE_INFINITY);
    // the smallest subnormal, 2⁻¹³³, and 1e-40 rounded to it
    expect(bf16.slice(13, 15)).toEqual([2 ** -133, 2 ** -133]);
    // ties to even: 1 + 2⁻⁸ to 1, 1 + 3·2⁻⁸ to 1 + 2⁻⁶; just past a tie rounds up
    expect(bf16.slice(15, 18)).toEqual([1, 1 + 2 ** -6, 1 + 2 ** -7]);
  });

  it('every F16 bit pattern widens to its exact value (NaN payloads kept, still NaN)', () => {
    const t = loadSafetensors(oneTensor('F16', [65536], allPatterns)).w!;
    expect(t.dtype).toBe('float32');
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, 65536);
    for (let h = 0; h < 65536; h++) {
      const v = t.data[h]!;
      const want = halfValue(h);
      if (Number.isNaN(want)) {
        expect(v).toBeNaN();
        // the payload moves up 13 bits, as c10's half → float; the quiet bit stays the quiet bit
        expect(bits[h]! & 0x7fffff).toBe((h & 0x3ff) << 13);
      } else if (!Object.is(v, want)) {
        expect.fail(`F16 0x${h.toString(16)}: got ${v}, want ${want}`);
      }
    }
  });

  it('every BF16 bit pattern widens to the float32 of the same upper 16 bits', () => {
    const t = loadSafetensors(oneTensor('BF16', [256, 256], allPatterns)).w!;
    expect(t.dtype).toBe('float32');
    expect(t.shape).toEqual([256, 256]);
    const bits = new Uint32Array(t.data.buffer, t.data.byteOffset, 65536);
    for (let h = 0; h < 65536; h++) {
      if (bits[h] !== h * 65536) expect.fail(`BF16 0x${h.toString(16)}: got bits 0x${bits[h]!.toString(16)}`);
    }
  });

  it('a loaded half checkpoint saves as F32 and loads back the same float32 values', () => {
    const loaded = loadSafetensors(torchFile);
    const again = loadSafetensors(saveSafetensors(loaded));
    for (const [name, t] of Object.entries(loaded)) {
      expect(again[name]!.dtype, name).toBe(t.dtype);
      if (t.dtype === 'float32') expect(bitsOf(again[name]!.data), name).toEqual(bitsOf(t.data));
      else expect(Array.from(again[name]!.data), name).toEqual(Array.from(t.data));
    }
  });

  it('sizes are checked at 2 bytes per element; other dtypes are still refused, naming what is read', () => {
    expect(() => loadSafetensors(oneTensor('F16', [3], new Uint8Array(8)))).toThrow(
      /'w': 8 bytes do not hold F16 \[3\] \(6 bytes\)/,
    );
    expect(() => loadSafetensors(oneTensor('BF16', [2, 2], new Uint8Array(4)))).toThrow(
      /'w': 4 bytes do not hold BF16 \[2,2\] \(8 bytes\)/,
    );
    for (const code of ['I64', 'U8', 'BOOL', 'F8_E4M3']) {
      const bytes = oneTensor(code, [0], new Uint8Array(0));
      expect(() => loadSafetensors(bytes)).toThrow(CheckpointError);
      expect(() => loadSafetensors(bytes)).toThrow(
        `'w' has dtype ${code}; tapegrad reads F32, F64, and F16 and BF16 (as float32) only`,
      );
    }
  });
});
