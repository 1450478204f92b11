// Hostile checkpoints, fuzzed: truncations, bit flips, header lengths that claim terabytes, offsets
// that overlap or run past the end, deep or enormous JSON, __proto__ and constructor keys. Every
// load either succeeds on a file that is valid, or ends in a CheckpointError; the module keeps its
// weights, no prototype is polluted, and no more memory is taken than the file's size justifies.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomState } from '@tapegrad/core';
import * as fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CheckpointError,
  Linear,
  LSTM,
  load,
  loadSafetensors,
  Module,
  saveSafetensors,
} from '../src/index.js';

class Small extends Module {
  readonly lstm = this.registerModule('lstm', new LSTM(3, 2, { rng: new RandomState(0) }));
  readonly head = this.registerModule(
    'head',
    new Linear(2, 4, { rng: new RandomState(1), dtype: 'float64' }),
  );
}

const model = new Small();
const good = saveSafetensors(model, { format: 'pt' });
const headerLength = Number(new DataView(good.buffer).getBigUint64(0, true));
const runs = (base: number) =>
  process.env.TAPEGRAD_DEEP && process.env.TAPEGRAD_DEEP !== '0' ? base * 20 : base;

/** The file from a header text and data bytes, the length field as given (default: the header's). */
function file(header: string, data: Uint8Array = new Uint8Array(0), declared?: bigint): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const timings: number[] = [];
let largestGrowth = 0;

/**
 * Loads bytes into the model as a user would. Returns 'loaded' or 'refused'; anything thrown that is
 * not a CheckpointError fails the property. Checks the invariants every case must keep.
 */
function attempt(bytes: Uint8Array): 'loaded' | 'refused' {
  const weights = model.parameters().map((p) => p.data);
  const external = process.memoryUsage().arrayBuffers;
  const start = performance.now();
  let outcome: 'loaded' | 'refused';
  try {
    model.loadStateDict(loadSafetensors(bytes));
    outcome = 'loaded';
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    outcome = 'refused';
  }
  timings.push(performance.now() - start);
  // New buffers are at most the tensors copied out of the file (no gc ran in between to hide any).
  const growth = process.memoryUsage().arrayBuffers - external;
  largestGrowth = Math.max(largestGrowth, growth - bytes.length);
  expect(growth).toBeLessThanOrEqual(2 * bytes.length + 65536);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  if (outcome === 'refused') {
    model.parameters().forEach((p, i) => {
      expect(p.data).toBe(weights[i]);
    });
  }
  return outcome;
}

/** Puts the original weights back after a load that succeeded (a bit flip inside the data). */
const restore = () => model.loadStateDict(loadSafetensors(good));

afterAll(() => {
  timings.sort((a, b) => a - b);
  const at = (q: number) => timings[Math.floor(q * (timings.length - 1))]!.toFixed(3);
  console.log(
    `checkpoint fuzz: ${timings.length} loads, median ${at(0.5)} ms, max ${at(1)} ms; ` +
      `largest buffer growth beyond the file's size ${largestGrowth} bytes`,
  );
});

describe('hostile checkpoints (fuzzed)', () => {
  it('the good file loads (so each refusal below is the damage’s doing)', () => {
    expect(attempt(good)).toBe('loaded');
  });

  it('every truncation is refused', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), (length) => {
        expect(attempt(good.slice(0, length))).toBe('refused');
      }),
      { numRuns: runs(300) },
    );
  });

  it('bit flips: refused, or loaded only when the flips left the file valid (data, or header spaces)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 7 })), {
          minLength: 1,
          maxLength: 8,
        }),
        (flips) => {
          const bytes = good.slice();
          for (const [at, bit] of flips) bytes[at]! ^= 1 << bit;
          if (attempt(bytes) === 'loaded') {
            // Valid after all: the tensors it gave are a well-formed file's (it saves and reloads as is).
            const again = saveSafetensors(model);
            expect(loadSafetensors(again)).toBeTruthy();
            restore();
          }
        },
      ),
      { numRuns: runs(500) },
    );
  });

  it('a header length anywhere from past the end to 2^64 - 1 is refused without allocating it', () => {
    const claim = fc.oneof(
      fc.bigInt({ min: BigInt(good.length - 7), max: 2n ** 64n - 1n }),
      fc.constantFrom(2n ** 40n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 100_000_000n, 99_999_999n),
    );
    fc.assert(
      fc.property(claim, (declared) => {
        const bytes = good.slice();
        new DataView(bytes.buffer).setBigUint64(0, declared, true);
        expect(attempt(bytes)).toBe('refused');
      }),
      { numRuns: runs(200) },
    );
  });

  it('random offsets, shapes and dtypes: refused unless they tile the data exactly', () => {
    const entry = fc.record({
      name: fc.constantFrom('lstm.weight_ih_l0', 'a', 'b', 'head.bias', 'x.y'),
      dtype: fc.constantFrom('F32', 'F64', 'F16', 'I64'),
      shape: fc.array(fc.oneof(fc.nat(4), fc.constantFrom(2 ** 31, 2 ** 53, -1, 1.5)), { maxLength: 3 }),
      begin: fc.oneof(fc.nat(64), fc.constantFrom(2 ** 40, 2 ** 53, 2 ** 64, -8)),
      length: fc.oneof(fc.nat(64), fc.constantFrom(2 ** 40, 2 ** 53 - 1, -4)),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(entry, { maxLength: 4, selector: (e) => e.name }),
        fc.nat(96),
        (entries, dataLength) => {
          const fields = entries.map(
            (e) =>
              `${JSON.stringify(e.name)}:{"dtype":"${e.dtype}","shape":${JSON.stringify(e.shape)},"data_offsets":[${e.begin},${e.begin + e.length}]}`,
          );
          const bytes = file(`{${fields.join(',')}}`, new Uint8Array(dataLength));
          // Loading into this model needs its exact keys, which these never all are.
          expect(attempt(bytes)).toBe('refused');
          let valid = true;
          try {
            loadSafetensors(bytes);
          } catch (error) {
            expect(error).toBeInstanceOf(CheckpointError);
            valid = false;
          }
          if (valid) {
            // Accepted by the reader: then the entries really do tile the data (checked independently).
            const spans = entries
              .map((e) => [e.begin, e.begin + e.length] as const)
              .sort((p, q) => p[0] - q[0]);
            let covered = 0;
            for (const [b, end] of spans) {
              expect(b).toBe(covered);
              covered = end;
            }
            expect(covered).toBe(dataLength);
          }
        },
      ),
      { numRuns: runs(500) },
    );
  });

  it('deeply nested and enormous JSON headers are refused (no stack overflow escapes, no hang)', () => {
    const deep = (depth: number, open: string, close: string) =>
      `{"w":${open.repeat(depth)}1${close.repeat(depth)}}`;
    const shapes = fc.oneof(
      fc.integer({ min: 1, max: 200_000 }).map((d) => deep(d, '[', ']')),
      fc.integer({ min: 1, max: 200_000 }).map((d) => deep(d, '{"a":', '}')),
      fc
        .integer({ min: 1, max: 20_000 })
        .map((n) => `{${Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',')}}`),
      fc
        .integer({ min: 1, max: 1_000_000 })
        .map((n) => `{"__metadata__":{"note":"${'x'.repeat(n)}"},"w":[]}`),
      fc
        .integer({ min: 1, max: 10_000 })
        .map((n) => `{"w":{"dtype":"F32","shape":[${'1,'.repeat(n)}1],"data_offsets":[0,4]}}`),
    );
    fc.assert(
      fc.property(shapes, (header) => {
        expect(attempt(file(header, new Uint8Array(4)))).toBe('refused');
      }),
      { numRuns: runs(40) },
    );
  });

  it('a header nested deeper than the format allows is refused before JSON.parse walks it', () => {
    const header = `{"w":${'['.repeat(200_000)}1${']'.repeat(200_000)}}`;
    expect(() => loadSafetensors(file(header))).toThrow(/nests deeper than a safetensors header/);
    // The deepest valid header (an entry's shape list) still parses.
    expect(
      loadSafetensors(file('{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4))).w!
        .shape,
    ).toEqual([1]);
  });

  it('__proto__, constructor and prototype keys anywhere: refused, and no prototype is touched', () => {
    const evil = fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'toString',
      'hasOwnProperty',
      'polluted',
    );
    const payload = '{"polluted":1,"prototype":{"polluted":1}}';
    const headers = fc.oneof(
      // As a tensor name, as a field inside an entry, as metadata key, nested in metadata, as a dtype.
      evil.map((k) => `{"${k}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`),
      evil.map((k) => `{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"${k}":${payload}}}`),
      evil.map((k) => `{"__metadata__":{"${k}":"x"},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`),
      evil.map(
        (k) => `{"__metadata__":{"${k}":${payload}},"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`,
      ),
      evil.map((k) => `{"w":{"dtype":"${k}","shape":[1],"data_offsets":[0,4]},"${k}":${payload}}`),
      evil.map((k) => `{"__metadata__":${payload},"${k}":{"${k}":${payload}}}`),
    );
    fc.assert(
      fc.property(headers, (header) => {
        expect(attempt(file(header, new Uint8Array(4)))).toBe('refused');
        expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
        expect(({} as { constructor: unknown }).constructor).toBe(Object);
      }),
      { numRuns: runs(100) },
    );
  });
});

describe('hostile checkpoint files on disk (io/node load)', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('truncated or flipped files on disk are refused with a CheckpointError', async () => {
    dir = await mkdtemp(join(tmpdir(), 'tapegrad-fuzz-'));
    const path = join(dir, 'model.safetensors');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: headerLength + 7 }),
        fc.integer({ min: 0, max: 7 }),
        async (at, bit) => {
          const bytes = good.slice(0, at + 1);
          bytes[at]! ^= 1 << bit;
          await writeFile(path, bytes);
          await expect(load(path)).rejects.toBeInstanceOf(CheckpointError);
        },
      ),
      { numRuns: runs(40) },
    );
  });
});
