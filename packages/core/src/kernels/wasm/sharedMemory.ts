// The shared-memory form of a wasm module, made at load from its ordinary form. The two differ only in
// the limits of the imported memory ((memory 1) against (memory 1 65536 shared)), so core ships each
// module's bytes once; shipping both forms put every module's bytes into a bundle twice.

const IMPORT_SECTION = 2;
const MEMORY_IMPORT = 2;
/** Limits flags: 0 a minimum only, 1 a minimum and a maximum, 3 both and shared. */
const MINIMUM_ONLY = 0;
const SHARED_WITH_MAXIMUM = 3;

/** An unsigned LEB128 at `at`: its value and the offset after it. */
function readU32(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  let byte: number;
  do {
    byte = bytes[at++]!;
    value += (byte & 0x7f) * 2 ** shift;
    shift += 7;
  } while (byte & 0x80);
  return [value, at];
}

function u32(value: number): number[] {
  const out: number[] = [];
  do {
    const low = value & 0x7f;
    value = Math.floor(value / 128);
    out.push(value > 0 ? low | 0x80 : low);
  } while (value > 0);
  return out;
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** The offset after a name (its length, then its UTF-8 bytes). */
function skipName(bytes: Uint8Array, at: number): number {
  const [length, start] = readU32(bytes, at);
  return start + length;
}

/** The offset after a limits field (flags, minimum, and a maximum when flag 1 is set). */
function skipLimits(bytes: Uint8Array, at: number): number {
  const flags = bytes[at]!;
  const [, afterMinimum] = readU32(bytes, at + 1);
  return flags & 1 ? readU32(bytes, afterMinimum)[1] : afterMinimum;
}

/** The import section's content with its memory import's limits made shared, with `maximumPages`. */
function sharedImports(section: Uint8Array, maximumPages: number): Uint8Array {
  let [count, at] = readU32(section, 0);
  for (; count > 0; count--) {
    at = skipName(section, skipName(section, at)); // the module's name, then the field's
    const kind = section[at++]!;
    if (kind === MEMORY_IMPORT) {
      const flags = section[at]!;
      if (flags !== MINIMUM_ONLY) {
        throw new Error(
          `wasm module: expected an unshared imported memory with no maximum, found limits flags ${flags}`,
        );
      }
      const [, afterMinimum] = readU32(section, at + 1);
      return concat(
        section.subarray(0, at),
        [SHARED_WITH_MAXIMUM],
        section.subarray(at + 1, afterMinimum),
        u32(maximumPages),
        section.subarray(afterMinimum),
      );
    }
    // The other import kinds: a function (type index), a table (reference type, limits), a global
    // (value type, mutability), a tag (attribute, type index).
    if (kind === 0) at = readU32(section, at)[1];
    else if (kind === 1) at = skipLimits(section, at + 1);
    else if (kind === 3) at += 2;
    else if (kind === 4) at = readU32(section, at + 1)[1];
    else throw new Error(`wasm module: unknown import kind ${kind}`);
  }
  throw new Error('wasm module: it imports no memory to share');
}

/** `bytes` (a module importing an ordinary memory) with that memory made shared, as threads need it. */
export function withSharedMemory(bytes: Uint8Array, maximumPages: number): Uint8Array {
  let at = 8; // the magic number and the version
  while (at < bytes.length) {
    const id = bytes[at]!;
    const [size, start] = readU32(bytes, at + 1);
    if (id === IMPORT_SECTION) {
      const imports = sharedImports(bytes.subarray(start, start + size), maximumPages);
      return concat(
        bytes.subarray(0, at),
        [id, ...u32(imports.length)],
        imports,
        bytes.subarray(start + size),
      );
    }
    at = start + size;
  }
  throw new Error('wasm module: it has no import section, so no memory to share');
}
