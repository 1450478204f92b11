// safetensors checkpoints (the format PyTorch, JAX and others read), laid out as the reference
// writer lays them out; the reader checks the whole file before it returns a single tensor.

import { type DType, Tensor, type TypedArray } from '@tapegrad/core';
import { markLibraryCode } from '@tapegrad/core/kernels';
import { CheckpointError, Module, type StateDict } from '../module.js';

// Where this module's code starts, so that anomaly mode knows its frames for nn's (markLibraryCode).
const codeStart = new Error();

export { CheckpointError };

/**
 * What this reader accepts, so that a hostile header costs time and memory in proportion to a real
 * checkpoint rather than to what it declares (JSON.parse of a header of 3M metadata keys took time and
 * memory out of all proportion to any checkpoint; bench/README).
 * headerBytes is the reference implementation's MAX_HEADER_SIZE. The counts are far above any real
 * file (a checkpoint holds tens to a few thousand tensors; writers store a handful of metadata keys)
 * and are checked by a character scan before JSON.parse builds anything per key.
 */
export const safetensorsLimits = Object.freeze({
  /**
   * The largest file load reads (bytes in memory are not held to it): fs.readFile's own ceiling,
   * which load had before it read files itself. Loading holds the file and the tensors copied out.
   */
  fileBytes: 2 ** 31 - 1,
  headerBytes: 100_000_000,
  tensors: 100_000,
  metadataKeys: 10_000,
  /** Fields of one tensor's entry: the format has 3; a few more still get the message naming them. */
  entryFields: 16,
  /** Items of one array: a shape's dimensions (numpy allows 64), data_offsets' two. */
  arrayItems: 64,
});
const LIMITS = safetensorsLimits;
const CODES: Record<DType, 'F32' | 'F64'> = { float32: 'F32', float64: 'F64' };
/** The codes read, and the dtype each becomes: half precision (PyTorch's float16, bfloat16) widens to float32. */
const DTYPES: Record<string, DType> = { F32: 'float32', F64: 'float64', F16: 'float32', BF16: 'float32' };
const BYTES: Record<DType, number> = { float32: 4, float64: 8 };
/** Bytes per element in the file, by code. */
const CODE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2 };
// The other dtypes of the format: valid files, but not ones tapegrad can hold.
const OTHER_CODES = new Set(['BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'I16', 'U16']);
for (const code of ['I32', 'U32', 'I64', 'U64']) OTHER_CODES.add(code);
// Printable names that are not Object.prototype's own (no `__proto__`, `constructor`, `toString`).
const NAME = /^[A-Za-z0-9_.:/-]+$/;

export interface Safetensors {
  tensors: StateDict;
  metadata: Record<string, string>;
}

/**
 * A flaw in a file or a state dict, said without the name of the function that found it: each public
 * entry turns it into a CheckpointError that starts with its own name (or a file's path, for load).
 */
class Flaw extends Error {}

const fail = (reason: string): never => {
  throw new Flaw(reason);
};

/** fn's result, or its Flaw as a CheckpointError that starts with `where`. */
function flawsAs<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof Flaw) throw new CheckpointError(`${where}: ${error.message}`);
    throw error;
  }
}

function checkName(name: string): void {
  if (!NAME.test(name) || name in Object.prototype || name === '__metadata__') {
    fail(`tensor name ${JSON.stringify(name)} is not allowed (letters, digits, _ . : / -; not a built-in)`);
  }
}

// The format is little-endian; every platform Node runs on is too, so bytes are copied as they are.
function bytesOf(data: TypedArray): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * The file's bytes: tensors sorted by dtype (F64 first) then name, as the reference writer sorts
 * them, a compact JSON header padded with spaces to a multiple of 8 bytes, then the data.
 */
export function saveSafetensors(
  source: Module | StateDict,
  metadata: Record<string, string> = {},
): Uint8Array {
  return encodeAs(source, metadata, 'saveSafetensors');
}

/** saveSafetensors with its errors starting with `where` (save puts the file's path there). */
export function encodeAs(
  source: Module | StateDict,
  metadata: Record<string, string>,
  where: string,
): Uint8Array {
  return flawsAs(where, () => encode(source, metadata));
}

function encode(source: Module | StateDict, metadata: Record<string, string>): Uint8Array {
  if (typeof source !== 'object' || source === null) {
    fail('expected a Module or a record of name → Tensor');
  }
  const dict = source instanceof Module ? source.stateDict() : source;
  const entries = Object.keys(dict).map((name): [string, Tensor] => {
    checkName(name);
    const t = dict[name];
    if (!(t instanceof Tensor)) fail(`'${name}' is not a Tensor`);
    return [name, t as Tensor];
  });
  entries.sort(([a, x], [b, y]) => BYTES[y.dtype] - BYTES[x.dtype] || (a < b ? -1 : a > b ? 1 : 0));
  // Built by hand: a JS object would move integer-like names ahead of the others.
  const fields: string[] = [];
  const metaKeys = Object.keys(metadata).sort();
  if (metaKeys.length > 0) {
    const meta = metaKeys.map((key) => {
      const value = metadata[key];
      if (typeof value !== 'string') fail(`metadata '${key}' is not a string`);
      return `${JSON.stringify(key)}:${JSON.stringify(value)}`;
    });
    fields.push(`"__metadata__":{${meta.join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const info = {
      dtype: CODES[t.dtype],
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    fields.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const [, t] of entries) {
    out.set(bytesOf(t.data), position);
    position += t.data.byteLength;
  }
  return out;
}

/** An object or array the bounds scan is inside, and where the key it is the value of lies in the text. */
interface Open {
  parent: Open | undefined;
  keyStart: number;
  keyEnd: number;
  /** Items so far: commas at this level, plus one once anything is inside. */
  commas: number;
  nonEmpty: boolean;
  /** Objects only: whether a string at this level is a key (true) or a value. */
  expectKey: boolean;
  object: boolean;
  limit: number;
  what: 'tensors' | 'metadata' | 'entry' | 'array';
}

/**
 * One pass over a header's JSON text, strings skipped, before anything is decoded or allocated per key:
 * the first bound it breaks, as a reason, or null. Arrays and objects may not nest deeper than a
 * safetensors header does (3 levels, { name: { shape: [...] } }; it stops there, so a hostile
 * 10^5-deep header costs neither JSON.parse's time nor this pass's memory), and no object or array
 * may hold more items than safetensorsLimits allows. A container over its limit is counted to its end
 * (a linear scan, cheap beside JSON.parse of the same text; bench/README) so that the message can say
 * how many it declares.
 */
function checkBounds(text: string): string | null {
  // A key for a message, cut short: a hostile name may be megabytes long.
  const keyAt = (start: number, end: number): string => {
    const raw = text.slice(start, Math.min(end + 1, start + 200));
    let key: string;
    try {
      key = end + 1 - start > 200 ? raw.slice(1) : (JSON.parse(raw) as string);
    } catch {
      key = raw.slice(1, -1);
    }
    return key.length > 80 ? `${key.slice(0, 80)}…` : key;
  };
  let hasMetadata = false;
  // The top level holds __metadata__ beside the tensors.
  const itemsOf = (o: Open) =>
    o.commas + (o.nonEmpty ? 1 : 0) - (o.what === 'tensors' && hasMetadata ? 1 : 0);
  const open: Open[] = [];
  let top: Open | undefined;
  let keyStart = -1;
  let keyEnd = -1;
  let keyEscaped = false;
  // The closing quote of the string opened at `start`, found by indexOf rather than a character loop
  // (strings are most of a header). nextBackslash only moves forward, so finding escapes stays linear.
  let nextBackslash = text.indexOf('\\');
  const stringEnd = (start: number): number => {
    if (nextBackslash !== -1 && nextBackslash < start) nextBackslash = text.indexOf('\\', start);
    let end = text.indexOf('"', start + 1);
    if (end === -1) return text.length;
    if (nextBackslash === -1 || nextBackslash > end) return end;
    // escapes inside: a backslash escapes the next character
    for (end = start + 1; end < text.length && text.charCodeAt(end) !== 0x22; end++) {
      if (text.charCodeAt(end) === 0x5c) end++;
    }
    return end;
  };
  // Whether the last key is __metadata__, decoded only if escaped and only while the top level is
  // within its limit (past it the scan only counts, and millions of escaped keys must not cost more).
  const isMetadata = (topLevel: Open): boolean =>
    topLevel.commas <= topLevel.limit &&
    (keyEscaped
      ? keyAt(keyStart, keyEnd) === '__metadata__'
      : keyEnd - keyStart === 13 && text.startsWith('__metadata__', keyStart + 1));
  const breach = (o: Open): string => {
    const items = itemsOf(o);
    const name = o.what === 'entry' || o.what === 'array' ? keyAt(o.keyStart, o.keyEnd) : '';
    const accepts = `more than the ${o.limit} this reader accepts`;
    switch (o.what) {
      case 'tensors':
        return `the header declares ${items} tensors, ${accepts}`;
      case 'metadata':
        return `the header declares ${items} metadata keys, ${accepts}`;
      case 'entry':
        return `'${name}' declares ${items} fields, ${accepts} (the format has 3)`;
      default: {
        const entry = o.parent?.what === 'entry' ? `'${keyAt(o.parent.keyStart, o.parent.keyEnd)}' ` : '';
        return `${entry}'${name}' lists ${items} items, ${accepts}`;
      }
    }
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue;
    if (c === 0x7d || c === 0x5d) {
      const closed = open.pop();
      if (closed && itemsOf(closed) > closed.limit) return breach(closed);
      top = open[open.length - 1];
      continue;
    }
    if (top) top.nonEmpty = true;
    if (c === 0x22) {
      const start = i;
      i = stringEnd(i);
      if (top?.expectKey) {
        top.expectKey = false;
        keyStart = start;
        keyEnd = i;
        keyEscaped = nextBackslash !== -1 && nextBackslash < i;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (open.length === 3) return 'the header nests deeper than a safetensors header (3 levels)';
      const object = c === 0x7b;
      let what: Open['what'] = object ? 'entry' : 'array';
      let limit: number = object ? LIMITS.entryFields : LIMITS.arrayItems;
      if (open.length === 0) {
        [what, limit] = ['tensors', LIMITS.tensors];
      } else if (open.length === 1 && object && isMetadata(open[0]!)) {
        [what, limit] = ['metadata', LIMITS.metadataKeys];
        hasMetadata = true;
      }
      top = {
        parent: top,
        keyStart,
        keyEnd,
        commas: 0,
        nonEmpty: false,
        expectKey: object,
        object,
        limit,
        what,
      };
      open.push(top);
    } else if (c === 0x2c && top) {
      top.commas++;
      top.expectKey = top.object;
    }
  }
  // Left open (not valid JSON, but JSON.parse would still read every key before it said so).
  const full = open.find((o) => itemsOf(o) > o.limit);
  return full ? breach(full) : null;
}

/** A key that one object of a header names twice, and the key of that object (null at the top). */
interface Twice {
  key: string;
  within: string | null;
}

/**
 * The first key that an object of a header names twice. JSON.parse keeps the last of such keys
 * silently, so that header could be read two ways (this reader and another would load different
 * tensors). Runs after checkBounds, so nesting and key counts are already bounded.
 */
function findTwice(text: string): Twice | null {
  // Per open object or array: the keys seen so far (objects only), and whether a key comes next.
  const open: { keys: Set<string> | null; name: string | null; expectKey: boolean }[] = [];
  let lastKey: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const top = open[open.length - 1];
    if (c === 0x22) {
      const start = i;
      let escaped = false;
      for (i++; i < text.length && text.charCodeAt(i) !== 0x22; i++) {
        if (text.charCodeAt(i) === 0x5c) {
          escaped = true;
          i++;
        }
      }
      if (!top?.keys || !top.expectKey) continue;
      let key: string;
      try {
        key = escaped ? (JSON.parse(text.slice(start, i + 1)) as string) : text.slice(start + 1, i);
      } catch {
        continue; // not a JSON string: JSON.parse of the whole header says so
      }
      if (top.keys.has(key)) return { key, within: top.name };
      top.keys.add(key);
      top.expectKey = false;
      lastKey = key;
    } else if (c === 0x7b || c === 0x5b) {
      open.push({ keys: c === 0x7b ? new Set() : null, name: lastKey, expectKey: c === 0x7b });
    } else if (c === 0x7d || c === 0x5d) open.pop();
    else if (c === 0x2c && top?.keys) top.expectKey = true;
  }
  return null;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

interface Entry {
  name: string;
  /** The file's dtype code: F32, F64, F16 or BF16. */
  code: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

function readEntry(name: string, info: unknown): Entry {
  checkName(name);
  if (!isRecord(info)) return fail(`'${name}' is not an object`);
  const extra = Object.keys(info).filter((k) => !['dtype', 'shape', 'data_offsets'].includes(k));
  if (extra.length > 0) fail(`'${name}' has unknown fields ${extra.join(', ')}`);
  const code = info.dtype;
  if (typeof code !== 'string' || !Object.hasOwn(DTYPES, code)) {
    if (typeof code === 'string' && OTHER_CODES.has(code)) {
      fail(`'${name}' has dtype ${code}; tapegrad reads F32, F64, and F16 and BF16 (as float32) only`);
    }
    fail(`'${name}' has unknown dtype ${JSON.stringify(code)}`);
  }
  const dtype = DTYPES[code as string]!;
  const shape = info.shape;
  if (!Array.isArray(shape) || !shape.every(isCount)) fail(`'${name}' has an invalid shape`);
  const offsets = info.data_offsets;
  const [begin, end] = (Array.isArray(offsets) ? offsets : []) as unknown[];
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isCount(begin) || !isCount(end) || begin > end) {
    return fail(`'${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  let size = CODE_BYTES[code as string]!;
  for (const d of shape as number[]) {
    size *= d;
    if (!Number.isSafeInteger(size)) fail(`'${name}': shape [${shape}] is too large`);
  }
  if (end - begin !== size) {
    fail(
      `'${name}': ${end - begin} bytes do not hold ${code} [${(shape as number[]).join(',')}] (${size} bytes)`,
    );
  }
  return { name, code: code as string, dtype, shape: shape as number[], begin, end };
}

/** Parses and checks a whole file: the tensors (copied out, dtypes kept) and the string metadata. */
export function decodeSafetensors(bytes: Uint8Array): Safetensors {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('loadSafetensors: expected a Uint8Array');
  return decodeAs(bytes, 'loadSafetensors');
}

/** decodeSafetensors with its errors starting with `where` (load puts the file's path there). */
export function decodeAs(bytes: Uint8Array, where: string): Safetensors {
  return flawsAs(where, () => decode(bytes));
}

function decode(bytes: Uint8Array): Safetensors {
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, fewer than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(LIMITS.headerBytes)) {
    fail(`header length ${declared} exceeds ${LIMITS.headerBytes} bytes`);
  }
  const headerLength = Number(declared);
  if (8 + headerLength > bytes.length) {
    fail(`header length ${headerLength} runs past the end of the ${bytes.length}-byte file (truncated?)`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    return fail('the header is not valid UTF-8');
  }
  if (!text.startsWith('{')) fail('the header does not start with {');
  const breach = checkBounds(text);
  if (breach) fail(breach);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (!isRecord(header)) return fail('the header is not a JSON object');
  const twice = findTwice(text);
  if (twice) fail(`the header names '${twice.key}' twice${twice.within ? ` in '${twice.within}'` : ''}`);

  const metadata: Record<string, string> = Object.create(null);
  const entries: Entry[] = [];
  for (const key of Object.keys(header)) {
    if (key === '__metadata__') {
      const meta = header[key];
      if (!isRecord(meta)) fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(meta as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`__metadata__ '${k}' is not a string`);
        if (k in Object.prototype) fail(`__metadata__ key '${k}' is not allowed`);
        metadata[k] = v as string;
      }
    } else {
      entries.push(readEntry(key, header[key]));
    }
  }
  // The data must be tiled exactly: no gaps, no overlaps, nothing past the end, nothing left over.
  const dataLength = bytes.length - 8 - headerLength;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const e of entries) {
    if (e.begin !== covered) {
      fail(
        e.begin < covered
          ? `'${e.name}' overlaps the tensor before it (offsets ${e.begin}..${e.end})`
          : `a gap before '${e.name}' (bytes ${covered}..${e.begin} belong to no tensor)`,
      );
    }
    if (e.end > dataLength)
      fail(`'${e.name}' ends at byte ${e.end}, past the ${dataLength} data bytes (truncated?)`);
    covered = e.end;
  }
  if (covered !== dataLength) fail(`${dataLength - covered} bytes after the last tensor belong to no tensor`);

  const tensors: StateDict = Object.create(null);
  const start = 8 + headerLength;
  for (const e of entries) {
    const count = (e.end - e.begin) / CODE_BYTES[e.code]!;
    const data = e.dtype === 'float64' ? new Float64Array(count) : new Float32Array(count);
    if (e.code === 'F16' || e.code === 'BF16') {
      widenHalf(e.code, view, start + e.begin, new Uint32Array(data.buffer, data.byteOffset, count));
    } else {
      bytesOf(data).set(bytes.subarray(start + e.begin, start + e.end));
    }
    tensors[e.name] = new Tensor(data, e.shape);
  }
  return { tensors, metadata };
}

/**
 * F16 or BF16 elements (little-endian, from byte `at`) as float32 bit patterns into `out`: exact, as
 * every half and bfloat16 value is a float32 value. BF16 is float32's upper half; F16 is rebased
 * (subnormals normalised, ±0, ±Inf kept, NaN payloads moved up as PyTorch's half → float does).
 */
function widenHalf(code: 'F16' | 'BF16', view: DataView, at: number, out: Uint32Array): void {
  if (code === 'BF16') {
    for (let i = 0; i < out.length; i++) out[i] = view.getUint16(at + 2 * i, true) << 16;
    return;
  }
  const table = halfTable();
  for (let i = 0; i < out.length; i++) out[i] = table[view.getUint16(at + 2 * i, true)]!;
}

let halfBits: Uint32Array | null = null;

/** float32 bits of each of the 65536 F16 bit patterns, made on first use (256 KiB). */
function halfTable(): Uint32Array {
  if (halfBits) return halfBits;
  halfBits = new Uint32Array(65536);
  const scratch = new Float32Array(1);
  const scratchBits = new Uint32Array(scratch.buffer);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      halfBits[h] = (sign | 0x7f800000 | (mantissa << 13)) >>> 0; // ±Inf, NaN (payload kept)
    } else if (exponent === 0) {
      // ±0 and subnormals, mantissa·2⁻²⁴: exact in float32
      scratch[0] = mantissa * 2 ** -24;
      halfBits[h] = (sign | scratchBits[0]!) >>> 0;
    } else {
      halfBits[h] = (sign | ((exponent - 15 + 127) << 23) | (mantissa << 13)) >>> 0;
    }
  }
  return halfBits;
}

/** name → Tensor from a safetensors file's bytes; any flaw is a CheckpointError and nothing is returned. */
export function loadSafetensors(bytes: Uint8Array): StateDict {
  return decodeSafetensors(bytes).tensors;
}

markLibraryCode(codeStart, new Error()); // and where it ends
