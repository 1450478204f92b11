// Each committed <name>Wasm.ts must be what scripts/build-wasm.ts assembles from <name>.wat today.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { moduleSource, wasmModules } from '../../../../../scripts/build-wasm.js';

it.each(wasmModules)('%sWasm.ts is up to date with its .wat (else run pnpm build:wasm)', async (name) => {
  const expected = await moduleSource(fileURLToPath(new URL('./', import.meta.url)), name);
  const committed = readFileSync(new URL(`./${name}Wasm.ts`, import.meta.url), 'utf8');
  expect(committed === expected).toBe(true);
});
