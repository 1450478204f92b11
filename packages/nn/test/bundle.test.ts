// Anomaly mode through nn in bundled code: a user script that runs an LSTM layer with an Inf weight and
// an Adam step on a NaN grad, bundled with nn and core by esbuild (minified or not), runs in a child
// node process; each reported call site must be the user's call in the bundle, not nn's layer or
// optimizer (nn's modules are marked as library code, as core's are). And every module of nn has its
// marks, so that a module added later cannot be reported as the user's line.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const nnPackage = fileURLToPath(new URL('../', import.meta.url));

// Each op call sits right after the string 'user-call' (which survives minification), so its place in
// the bundle can be found whatever names the minifier gave.
const userScript = `
import { AnomalyError, detectAnomaly, RandomState, sum, tensor, zeros } from '@tapegrad/core';
import { Adam, LSTM, Parameter } from '@tapegrad/nn';
function report(label, value) { return [label, value]; }
const sites = [];
function siteOf(fn) {
  try {
    detectAnomaly(fn);
    sites.push({ error: 'nothing thrown' });
  } catch (error) {
    sites.push(error instanceof AnomalyError ? { op: error.op, callSite: error.callSite } : { error: String(error) });
  }
}
const lstm = new LSTM(3, 4, { rng: new RandomState(0) });
const state = lstm.stateDict();
const poisoned = Float32Array.from(state.weight_hh_l0.data);
poisoned[7] = Infinity;
lstm.loadStateDict({ ...state, weight_hh_l0: tensor(poisoned, { shape: [16, 4] }) });
const input = tensor(new Float32Array(12).fill(0.5), { shape: [2, 2, 3] });
siteOf(() => report('user-call', lstm.forward(input)));
const weight = new Parameter(zeros([2]));
const optimizer = new Adam([weight], { lr: 0.1 });
sum(weight).backward();
weight.grad = tensor([1, Number.NaN]);
siteOf(() => report('user-call', optimizer.step()));
console.log(JSON.stringify(sites));
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tapegrad-nn-bundle-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function bundleAndRun(minify: boolean): Promise<void> {
  const file = join(dir, minify ? 'minified.mjs' : 'plain.mjs');
  await build({
    // From the sources (the `source` condition), resolved from nn's folder as from an app's.
    stdin: { contents: userScript, resolveDir: nnPackage, loader: 'js' },
    nodePaths: [join(nnPackage, 'node_modules')],
    alias: { '@tapegrad/nn': join(nnPackage, 'src/index.ts') },
    conditions: ['source'],
    bundle: true,
    minify,
    format: 'esm',
    platform: 'node',
    outfile: file,
    logLevel: 'error',
  });
  const { stdout } = await run(process.execPath, [file], { timeout: 20_000 });
  const sites = JSON.parse(stdout) as { op?: string; callSite?: string; error?: string }[];
  expect(sites.map((site) => site.error)).toEqual([undefined, undefined]);
  expect(sites[0]!.op).toBe('lstmSequence');
  const lines = (await readFile(file, 'utf8')).split('\n');
  for (const { callSite } of sites) {
    // V8's frame: "name (file:line:column)" or "file:line:column".
    const [, path, line, column] = /^(?:.* \()?(?:file:\/\/)?(.+):(\d+):(\d+)\)?$/.exec(callSite!)!;
    expect(path, callSite).toBe(file);
    const before = lines[Number(line) - 1]!.slice(Math.max(0, Number(column) - 41), Number(column) - 1);
    expect(before, callSite).toMatch(/user-call["'`],\s*[\w$]+\.$/); // the object whose method was called
  }
}

describe('anomaly mode through nn in an esbuild bundle, run by node', () => {
  it("not minified: the LSTM layer's op and Adam's step are reported at the user's calls", async () => {
    await bundleAndRun(false);
  });

  it('minified: the same', async () => {
    await bundleAndRun(true);
  });
});

describe("nn's modules are all marked as library code", () => {
  it('each module (not the index files) opens and closes with its marks', async () => {
    const src = join(nnPackage, 'src');
    const modules = (await readdir(src, { recursive: true })).filter(
      (path) => path.endsWith('.ts') && !path.endsWith('.test.ts') && !path.endsWith('index.ts'),
    );
    expect(modules.length).toBeGreaterThan(10);
    for (const path of modules) {
      const text = await readFile(join(src, path), 'utf8');
      // The first statement after the imports, and the last one of the module.
      const afterImports = text.replace(/^(\/\/.*\n|\s*\n|import [^;]*;\n)*/, '');
      expect(afterImports.startsWith('const codeStart = new Error();'), path).toBe(true);
      expect(
        text.trimEnd().endsWith('markLibraryCode(codeStart, new Error()); // and where it ends'),
        path,
      ).toBe(true);
    }
  });
});
