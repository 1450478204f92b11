// The committed sgemmWasm.ts must be what scripts/build-wasm.ts assembles from sgemm.wat today.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { assemble, moduleText } from '../../../../../scripts/build-wasm.js';

it('sgemmWasm.ts is up to date with sgemm.wat (else run pnpm build:wasm)', async () => {
  const bytes = await assemble(fileURLToPath(new URL('./sgemm.wat', import.meta.url)));
  const committed = readFileSync(new URL('./sgemmWasm.ts', import.meta.url), 'utf8');
  expect(committed === moduleText('sgemm', bytes)).toBe(true);
});
