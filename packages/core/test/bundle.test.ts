// Anomaly mode in bundled code: a small user script bundled with core by esbuild (ESM and CommonJS,
// minified or not, from core's sources or from a prebuilt ESM build with shared chunks as tsup's dist
// is) runs in a child node process, and the call site it reports must be the user's call in the
// bundle: the line and column of the frame point at the op call the script made. And a bundle of core
// holds each wasm module's bytes once.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFrame } from '../src/callSite.js';
import { recurrentBase64 } from '../src/kernels/wasm/recurrentWasm.js';
import { sgemmBase64 } from '../src/kernels/wasm/sgemmWasm.js';

const run = promisify(execFile);
const src = fileURLToPath(new URL('../src/', import.meta.url));

// The op call sits right after the string 'user-call', which survives minification, so its place in
// the bundle can be found whatever names the minifier gave.
const userScript = (core: string) => `
import { AnomalyError, detectAnomaly, log, tensor } from ${JSON.stringify(core)};
function report(label, value) { return [label, value]; }
function lossOf(x) { return report('user-call', log(x)); }
try {
  detectAnomaly(() => lossOf(tensor([1, 0])));
  console.log(JSON.stringify({ error: 'nothing thrown' }));
} catch (error) {
  console.log(JSON.stringify(error instanceof AnomalyError ? { callSite: error.callSite } : { error: String(error) }));
}
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tapegrad-bundle-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Bundles the user's script against `core` (a path), runs it, and returns the call site and the bundle. */
async function bundleAndRun(
  name: string,
  core: string,
  options: { minify: boolean; format: 'esm' | 'cjs' },
): Promise<{ callSite: string; file: string; text: string }> {
  const entry = join(dir, `${name}.entry.mjs`);
  await writeFile(entry, userScript(core));
  const file = join(dir, `${name}.${options.format === 'esm' ? 'mjs' : 'cjs'}`);
  await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    outfile: file,
    logLevel: 'error',
    ...options,
  });
  const { stdout } = await run(process.execPath, [file], { timeout: 20_000 });
  const result = JSON.parse(stdout) as { callSite?: string; error?: string };
  expect(result.error).toBeUndefined();
  return { callSite: result.callSite!, file, text: await readFile(file, 'utf8') };
}

/** Asserts that the call site is a frame of the bundle whose place is the op call after 'user-call'. */
function expectUserCall({ callSite, file, text }: { callSite: string; file: string; text: string }): void {
  const frame = parseFrame(`at ${callSite}`); // V8 wrote it; the call site drops its `at `
  expect(frame.file?.replace(/^file:\/\//, ''), callSite).toBe(file);
  const line = text.split('\n')[frame.line - 1]!;
  expect(line.slice(Math.max(0, frame.column - 41), frame.column - 1), callSite).toMatch(
    /user-call["'`],\s*$/,
  );
}

describe('anomaly mode in an esbuild bundle of user code and core, run by node', () => {
  const index = join(src, 'index.ts');

  it("ESM, not minified: names the user's line", async () => {
    const result = await bundleAndRun('plain', index, { minify: false, format: 'esm' });
    expect(result.callSite).toMatch(/^lossOf /);
    expectUserCall(result);
  });

  it("ESM, minified: names the user's line and column", async () => {
    expectUserCall(await bundleAndRun('minified', index, { minify: true, format: 'esm' }));
  });

  it("CommonJS, minified: names the user's line and column", async () => {
    expectUserCall(await bundleAndRun('commonjs', index, { minify: true, format: 'cjs' }));
  });

  it('core prebuilt as ESM with shared chunks (as tsup builds dist), then bundled minified with the user', async () => {
    const outdir = join(dir, 'prebuilt');
    await build({
      entryPoints: [index, join(src, 'kernels.ts')],
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'neutral',
      outdir,
      logLevel: 'error',
    });
    expectUserCall(await bundleAndRun('prebuilt', join(outdir, 'index.js'), { minify: true, format: 'esm' }));
  });
});

describe('wasm bytes in a bundle of core', () => {
  it('each module is there once (its shared form is made at load, not shipped)', async () => {
    const { outputFiles } = await build({
      entryPoints: [join(src, 'index.ts')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      logLevel: 'error',
    });
    const text = outputFiles[0]!.text;
    // A stretch from the middle: past the import section, where a shared form's base64 is the same
    // text (its 3 more bytes there keep the base64 in step).
    const copies = (base64: string) => {
      const middle = base64.slice(base64.length / 2, base64.length / 2 + 64);
      return text.split(middle).length - 1;
    };
    expect(copies(sgemmBase64)).toBe(1);
    expect(copies(recurrentBase64)).toBe(1);
  });
});
