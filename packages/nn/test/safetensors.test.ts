// safetensors: files written by a Python writer built from the spec load here; what we write is
// byte for byte what that writer writes and passes its reader (fixtures/safetensors.json); every
// kind of damaged file is a CheckpointError and leaves the module's weights as they were.
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomState, tensor } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import {
  CheckpointError,
  decodeSafetensors,
  Linear,
  LSTM,
  load,
  loadSafetensors,
  safetensorsLimits,
  save,
  saveSafetensors,
} from '../src/index.js';
import { fixture } from './assertClose.js';
import { fixtureCheckpoint } from './safetensorsFixture.js';

interface Reference {
  pythonWritten: {
    sha256: string;
    metadata: Record<string, string>;
    tensors: Record<string, { dtype: 'F32' | 'F64'; shape: number[]; values: number[] }>;
  };
  tsWritten: { sha256: string; readerAccepted: boolean; canonicalLayout: boolean; valuesMatchNumpy: boolean };
}
const reference = fixture<Reference>('safetensors.json');
const pythonFile = new Uint8Array(
  await readFile(new URL('./fixtures/python_written.safetensors', import.meta.url)),
);
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A file from a header given as text (padded as the spec says unless told) and raw data bytes. */
function file(header: string, data: Uint8Array = new Uint8Array(0), declared?: bigint): Uint8Array {
  const text = new TextEncoder().encode(header);
  const length = Math.ceil(text.length / 8) * 8;
  const out = new Uint8Array(8 + length + data.length);
  new DataView(out.buffer).setBigUint64(0, declared ?? BigInt(length), true);
  out.fill(0x20, 8, 8 + length);
  out.set(text, 8);
  out.set(data, 8 + length);
  return out;
}
const f32 = (...values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

describe('files written by the Python reference writer', () => {
  it('load with dtypes, shapes, values and metadata kept (scalar, zero-size and integer-like names too)', () => {
    expect(sha256(pythonFile)).toBe(reference.pythonWritten.sha256);
    const { tensors, metadata } = decodeSafetensors(pythonFile);
    expect({ ...metadata }).toEqual(reference.pythonWritten.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(reference.pythonWritten.tensors).sort());
    for (const [name, want] of Object.entries(reference.pythonWritten.tensors)) {
      const t = tensors[name]!;
      expect(t.dtype).toBe(want.dtype === 'F32' ? 'float32' : 'float64');
      expect(t.shape).toEqual(want.shape);
      expect(Array.from(t.data)).toEqual(want.values);
    }
  });

  it('are exactly what saveSafetensors writes for the same tensors', () => {
    const tensors = loadSafetensors(pythonFile);
    expect(sha256(saveSafetensors(tensors, reference.pythonWritten.metadata))).toBe(
      reference.pythonWritten.sha256,
    );
  });
});

describe('files we write', () => {
  it('passed the Python reader: accepted, canonical layout, values equal to numpy draws', () => {
    expect(reference.tsWritten).toMatchObject({
      readerAccepted: true,
      canonicalLayout: true,
      valuesMatchNumpy: true,
    });
    // The bytes it judged are the bytes we still write.
    expect(sha256(fixtureCheckpoint())).toBe(reference.tsWritten.sha256);
  });

  it('round-trip a module: F32 and F64 kept, header padded to 8 bytes, data 8-aligned', () => {
    const lstm = new LSTM(3, 4, { numLayers: 2, rng: new RandomState(1) });
    const bytes = saveSafetensors(lstm, { epoch: '3' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    expect(bytes[8]).toBe(0x7b);
    const { tensors, metadata } = decodeSafetensors(bytes);
    expect(metadata.epoch).toBe('3');
    const copy = new LSTM(3, 4, { numLayers: 2, rng: new RandomState(2) });
    copy.loadStateDict(tensors);
    for (const [name, p] of copy.namedParameters()) {
      expect(Array.from(p.data)).toEqual(Array.from(lstm.stateDict()[name]!.data));
    }
    const wide = loadSafetensors(saveSafetensors({ w: tensor([[1.5, 2]], { dtype: 'float64' }) }));
    expect([wide.w!.dtype, wide.w!.shape, wide.w!.toArray()]).toEqual(['float64', [1, 2], [[1.5, 2]]]);
  });

  it('refuses names that could not be read back', () => {
    // A computed key is an own property (a literal `__proto__:` would set the prototype instead).
    expect(() => saveSafetensors({ ['__proto__']: tensor([1]) })).toThrow(/"__proto__" is not allowed/);
    expect(() => saveSafetensors({ constructor: tensor([1]) })).toThrow(CheckpointError);
    expect(() => saveSafetensors({ 'a b': tensor([1]) })).toThrow(/not allowed/);
    expect(() => saveSafetensors({ w: tensor([1]) }, { n: 1 as never })).toThrow(
      /metadata 'n' is not a string/,
    );
  });
});

describe('damaged or hostile files are a CheckpointError, and the module keeps its weights', () => {
  const good = file('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32(1, 2));
  const info = (dtype: string, shape: string, offsets: string) =>
    `{"dtype":"${dtype}","shape":${shape},"data_offsets":${offsets}}`;
  const cases: [string, Uint8Array, RegExp][] = [
    ['shorter than the length field', good.subarray(0, 5), /truncated: 5 bytes/],
    ['cut inside the header', good.subarray(0, 20), /runs past the end/],
    ['cut inside the data', good.subarray(0, good.length - 2), /past the 6 data bytes \(truncated\?\)/],
    ['header length past the end', file('{}', new Uint8Array(0), 64n), /header length 64 runs past the end/],
    ['header length of a terabyte', file('{}', new Uint8Array(0), 2n ** 40n), /exceeds 100000000 bytes/],
    ['header length of 2^64 - 1', file('{}', new Uint8Array(0), 2n ** 64n - 1n), /exceeds/],
    ['invalid JSON', file('{"w":{"dtype":"F32",'), /not valid JSON/],
    ['a JSON array', file('[1, 2]'), /does not start with \{/],
    [
      'not UTF-8',
      (() => {
        const b = file('{"w":1}   ');
        b[12] = 0xff;
        return b;
      })(),
      /not valid UTF-8/,
    ],
    [
      'offsets past the data',
      file(`{"w":${info('F32', '[2]', '[8,16]')}}`, f32(1, 2)),
      /gap before 'w'|past the/,
    ],
    [
      'overlapping offsets',
      file(`{"a":${info('F32', '[2]', '[0,8]')},"b":${info('F32', '[1]', '[4,8]')}}`, f32(1, 2)),
      /'b' overlaps/,
    ],
    [
      'a gap',
      file(`{"a":${info('F32', '[1]', '[0,4]')},"b":${info('F32', '[1]', '[8,12]')}}`, f32(1, 2, 3)),
      /a gap before 'b'/,
    ],
    [
      'bytes left over',
      file(`{"w":${info('F32', '[1]', '[0,4]')}}`, f32(1, 2)),
      /4 bytes after the last tensor/,
    ],
    [
      'size not shape × dtype',
      file(`{"w":${info('F64', '[2]', '[0,8]')}}`, f32(1, 2)),
      /8 bytes do not hold F64 \[2\] \(16 bytes\)/,
    ],
    ['offsets reversed', file(`{"w":${info('F32', '[0]', '[8,0]')}}`, f32(1, 2)), /invalid data_offsets/],
    ['negative shape', file(`{"w":${info('F32', '[-2]', '[0,8]')}}`, f32(1, 2)), /invalid shape/],
    ['huge shape', file(`{"w":${info('F32', '[4294967296,4294967296]', '[0,8]')}}`, f32(1, 2)), /too large/],
    ['unknown dtype', file(`{"w":${info('Q7', '[2]', '[0,8]')}}`, f32(1, 2)), /unknown dtype "Q7"/],
    [
      'unsupported dtype',
      file(`{"w":${info('I64', '[1]', '[0,8]')}}`, f32(1, 2)),
      /dtype I64; tapegrad reads F32, F64, and F16 and BF16 \(as float32\) only/,
    ],
    [
      '__proto__ as a name',
      file(`{"__proto__":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)),
      /"__proto__" is not allowed/,
    ],
    [
      'constructor as a name',
      file(`{"constructor":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)),
      /"constructor" is not allowed/,
    ],
    ['an empty name', file(`{"":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)), /"" is not allowed/],
    ['a control character', file(`{"w\\u0000":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)), /not allowed/],
    [
      'an extra field',
      file(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, f32(1, 2)),
      /unknown fields x/,
    ],
    [
      'a non-string metadata value',
      file(`{"__metadata__":{"a":1},"w":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)),
      /'a' is not a string/,
    ],
    [
      'a tensor named twice (same bytes, so only the name can tell)',
      file(`{"w":${info('F32', '[2]', '[0,8]')},"w":${info('F32', '[1,2]', '[0,8]')}}`, f32(1, 2)),
      /the header names 'w' twice$/,
    ],
    [
      'a tensor named twice, once escaped',
      file(`{"w":${info('F32', '[2]', '[0,8]')},"\\u0077":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)),
      /the header names 'w' twice/,
    ],
    [
      'a field given twice',
      file(`{"w":{"dtype":"F32","shape":[2],"shape":[1,2],"data_offsets":[0,8]}}`, f32(1, 2)),
      /the header names 'shape' twice in 'w'/,
    ],
    [
      'a metadata key given twice',
      file(`{"__metadata__":{"a":"1","a":"2"},"w":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)),
      /the header names 'a' twice in '__metadata__'/,
    ],
    [
      '__proto__ in metadata',
      file(`{"__metadata__":{"__proto__":"x"},"w":${info('F32', '[2]', '[0,8]')}}`, f32(1, 2)),
      /not allowed/,
    ],
  ];

  for (const [what, bytes, message] of cases) {
    it(what, () => {
      const model = new Linear(2, 1, { rng: new RandomState(0) });
      const before = model.weight.data;
      expect(() => model.loadStateDict(loadSafetensors(bytes))).toThrow(CheckpointError);
      expect(() => loadSafetensors(bytes)).toThrow(message);
      expect(model.weight.data).toBe(before);
      expect(({} as Record<string, unknown>).dtype).toBeUndefined();
    });
  }

  it('the good file of these cases does load (so each case fails for its own reason)', () => {
    expect(loadSafetensors(good).w!.toArray()).toEqual([1, 2]);
  });

  it('a valid file for another model: shape mismatch named, nothing loaded', () => {
    const model = new LSTM(3, 4, { rng: new RandomState(0) });
    const before = model.parameters().map((p) => p.data);
    const other = saveSafetensors(new LSTM(3, 5, { rng: new RandomState(0) }));
    expect(() => model.loadStateDict(loadSafetensors(other))).toThrow(
      /'weight_ih_l0': expected float32 \[16,3\], got float32 \[20,3\]/,
    );
    const wrongDtype = saveSafetensors(new LSTM(3, 4, { dtype: 'float64' }));
    expect(() => model.loadStateDict(loadSafetensors(wrongDtype))).toThrow(
      /expected float32 \[16,3\], got float64/,
    );
    model.parameters().forEach((p, i) => {
      expect(p.data).toBe(before[i]);
    });
  });
});

describe('headers that declare more than a real checkpoint holds are refused before they are parsed', () => {
  const limits = safetensorsLimits;
  const entry = '{"dtype":"F32","shape":[1],"data_offsets":[0,4]}';
  const list = (n: number, item: (i: number) => string) =>
    Array.from({ length: n }, (_, i) => item(i)).join(',');
  const meta = (n: number) => `"__metadata__":{${list(n, (i) => `"k${i}":"v"`)}}`;
  const cases: [string, Uint8Array, RegExp][] = [
    [
      'one metadata key too many',
      file(`{${meta(limits.metadataKeys + 1)},"w":${entry}}`, f32(1)),
      /^loadSafetensors: the header declares 10001 metadata keys, more than the 10000 this reader accepts$/,
    ],
    [
      'one tensor too many (each refused later anyway: the count comes first)',
      file(`{${meta(1)},${list(limits.tensors + 1, (i) => `"t${i}":{}`)}}`),
      /^loadSafetensors: the header declares 100001 tensors, more than the 100000 this reader accepts$/,
    ],
    [
      'an entry of 17 fields',
      file(`{"w":{${list(limits.entryFields + 1, (i) => `"f${i}":0`)}}}`),
      /'w' declares 17 fields, more than the 16 this reader accepts \(the format has 3\)/,
    ],
    [
      'an entry of 17 fields under a 10000-character name (the message keeps 80 of them)',
      file(`{"${'w'.repeat(10_000)}":{${list(limits.entryFields + 1, (i) => `"f${i}":0`)}}}`),
      /^loadSafetensors: 'w{80}…' declares 17 fields/,
    ],
    [
      'a shape of 65 dimensions',
      file(`{"w":{"dtype":"F32","shape":[${list(65, () => '1')}],"data_offsets":[0,4]}}`, f32(1)),
      /'w' 'shape' lists 65 items, more than the 64 this reader accepts/,
    ],
    [
      '__metadata__ written with escapes is still metadata',
      file(`{"\\u005f_metadata__":{${list(limits.metadataKeys + 1, (i) => `"k${i}":"v"`)}}}`),
      /declares 10001 metadata keys/,
    ],
    [
      'a header left open after too many keys (JSON.parse would read them all before refusing)',
      file(`{"__metadata__":{${list(limits.metadataKeys + 1, (i) => `"k${i}":"v"`)}`),
      /declares 10001 metadata keys/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      expect(() => loadSafetensors(bytes)).toThrow(CheckpointError);
      expect(() => loadSafetensors(bytes)).toThrow(message);
    });
  }

  it('at the limits a file loads: 10000 metadata keys, a 64-dimensional shape', () => {
    const { metadata } = decodeSafetensors(file(`{${meta(limits.metadataKeys)},"w":${entry}}`, f32(1)));
    expect(Object.keys(metadata)).toHaveLength(limits.metadataKeys);
    const deep = `{"w":{"dtype":"F32","shape":[${list(64, () => '1')}],"data_offsets":[0,4]}}`;
    expect(loadSafetensors(file(deep, f32(7))).w!.shape).toHaveLength(64);
  });

  it('commas, brackets and escaped quotes inside strings are not counted as items', () => {
    const commas = ','.repeat(limits.metadataKeys + 1);
    // JSON.stringify escapes the quotes and backslashes; the scan must step over them, not end there.
    const metadata = { a: 'x",[{,}],\\', [`b"${commas}`]: commas, [`c\\${commas}`]: '\\"' };
    const fields = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    const header = `{"__metadata__":{${fields.join(',')}},"w":${entry}}`;
    expect({ ...decodeSafetensors(file(header, f32(1))).metadata }).toEqual(metadata);
  });

  it('3M distinct metadata keys (41 MB of header, 16 s and 1.4 GB to parse) are refused in well under a second', () => {
    // `"k0000000":"",` with the digits written in place: building the header costs tens of ms.
    const count = 3_000_000;
    const item = new TextEncoder().encode('"k0000000":"",');
    const head = new TextEncoder().encode('{"__metadata__":{');
    const length = Math.ceil((head.length + count * item.length + 1) / 8) * 8;
    const bytes = new Uint8Array(8 + length).fill(0x20);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(length), true);
    bytes.set(head, 8);
    let at = 8 + head.length;
    for (let i = 0; i < count; i++, at += item.length) {
      bytes.set(item, at);
      for (let d = 8, n = i; n > 0; d--, n = Math.floor(n / 10)) bytes[at + d] = 0x30 + (n % 10);
    }
    bytes[at - 1] = 0x7d; // the last comma closes __metadata__; a second brace closes the header
    bytes[at] = 0x7d;
    const started = performance.now();
    expect(() => loadSafetensors(bytes)).toThrow(
      /the header declares 3000000 metadata keys, more than the 10000 this reader accepts/,
    );
    expect(performance.now() - started).toBeLessThan(2000);
  }, 10_000);
});

describe('save / load in Node', () => {
  it('writes atomically (no temp file left) and loads back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tapegrad-'));
    const path = join(dir, 'model.safetensors');
    const model = new Linear(3, 2, { rng: new RandomState(4) });
    await save(path, model, { step: '10' });
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    const copy = new Linear(3, 2, { rng: new RandomState(5) });
    copy.loadStateDict(await load(path));
    expect(Array.from(copy.weight.data)).toEqual(Array.from(model.weight.data));
  });

  it('a failed save leaves the previous file whole', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tapegrad-'));
    const path = join(dir, 'model.safetensors');
    await save(path, new Linear(3, 2));
    const before = await readFile(path);
    await expect(save(path, { 'bad name': tensor([1]) })).rejects.toThrow(CheckpointError);
    await expect(save(join(dir, 'missing', 'x.safetensors'), new Linear(3, 2))).rejects.toThrow(/ENOENT/);
    expect(await readdir(dir)).toEqual(['model.safetensors']);
    expect(Buffer.compare(await readFile(path), before)).toBe(0);
  });

  it('load refuses a damaged file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tapegrad-'));
    const path = join(dir, 'bad.safetensors');
    await writeFile(path, new Uint8Array([1, 2, 3]));
    await expect(load(path)).rejects.toThrow(CheckpointError);
  });

  it("nn's and core's sources import nothing from node: (their entries bundle for a browser)", async () => {
    const sources = async (dir: string): Promise<string[]> =>
      (await readdir(dir, { recursive: true }))
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
        .map((f) => join(dir, f));
    const packages = new URL('../../', import.meta.url).pathname;
    const files = [
      ...(await sources(join(packages, 'nn/src'))),
      ...(await sources(join(packages, 'core/src'))),
    ];
    expect(files.length).toBeGreaterThan(20);
    for (const file of files) {
      expect(await readFile(file, 'utf8'), file).not.toMatch(/^\s*(import|export)[^;]*from\s+['"]node:/m);
    }
  });

  it('outside Node, save and load say what to use instead', async () => {
    const host = process as { getBuiltinModule?: unknown };
    const builtin = host.getBuiltinModule;
    host.getBuiltinModule = undefined;
    try {
      await expect(save('x.safetensors', new Linear(3, 2))).rejects.toThrow(
        /^save: needs Node's file system .*saveSafetensors \/ loadSafetensors/,
      );
      await expect(load('x.safetensors')).rejects.toThrow(/^load: needs Node's file system/);
    } finally {
      host.getBuiltinModule = builtin;
    }
  });
});
