// Each committed <name>Wasm.ts must be what scripts/build-wasm.ts assembles from <name>.wat today, and
// the shared form made from its bytes at load must be the one wabt assembles from the shared .wat.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { assemble, moduleSource, wasmModules } from '../../../../../scripts/build-wasm.js';
import { recurrentBase64 } from './recurrentWasm.js';
import { sgemmBase64 } from './sgemmWasm.js';
import { withSharedMemory } from './sharedMemory.js';

const dir = fileURLToPath(new URL('./', import.meta.url));
const committed = { sgemm: sgemmBase64, recurrent: recurrentBase64 };

it.each(wasmModules)('%sWasm.ts is up to date with its .wat (else run pnpm build:wasm)', async (name) => {
  const expected = await moduleSource(dir, name);
  const text = readFileSync(new URL(`./${name}Wasm.ts`, import.meta.url), 'utf8');
  expect(text === expected).toBe(true);
});

it.each(wasmModules)(
  "%s's shared form, made from its one set of bytes, is wabt's shared assembly",
  async (name) => {
    const bytes = Uint8Array.from(Buffer.from(committed[name], 'base64'));
    const shared = withSharedMemory(bytes, 65536);
    expect(Buffer.from(shared).equals(Buffer.from(await assemble(`${dir}${name}.wat`, true)))).toBe(true);
    expect(shared.length).toBe(bytes.length + 3); // flags 0 → 3, and the maximum's three LEB bytes
  },
);

it('refuses a module whose memory is not an ordinary one with no maximum, naming what it found', () => {
  const shared = withSharedMemory(Uint8Array.from(Buffer.from(sgemmBase64, 'base64')), 65536);
  expect(() => withSharedMemory(shared, 65536)).toThrow(/found limits flags 3/);
});
