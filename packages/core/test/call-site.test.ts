// The call site anomaly mode reports, read off stack texts as each engine writes them (V8: Chrome and
// Node; SpiderMonkey: Firefox; JavaScriptCore: Safari), with core's code in the same file as the user's
// (a bundle) or in a file of its own with no package path (Vite's pre-bundled deps). The stacks are
// written by hand after each engine's format; the marks are the stacks of the Errors that open and
// close each of core's modules.
import { describe, expect, it } from 'vitest';
import { callSiteIn, type OwnRange, ownRange, ownRanges, parseFrame } from '../src/callSite.js';
import { log, matmul, setDetectAnomaly, sum, tensor } from '../src/index.js';

/** Ranges from [start, end] pairs of "line:column" in one file, as marks at those places would give. */
function rangesIn(
  file: string,
  stretches: [string, string][],
  format: (location: string) => string,
): OwnRange[] {
  return stretches.map(([from, to]) => ownRange(format(`${file}:${from}`), format(`${file}:${to}`))!);
}
// How each engine writes the stack of an Error created in a module's top-level code.
const v8Mark = (location: string) => `Error\n    at ${location}`;
const spiderMonkeyMark = (location: string) => `@${location}\n`;
const javaScriptCoreMark = (location: string) => `module code@${location}`;

describe('call sites in V8 stacks', () => {
  const bundle = 'http://localhost:4173/assets/index-3f2a9c.js';
  // anomaly.ts, tape.ts and ops/elementwise.ts, as they sit in the bundle; the user's code follows them.
  const own = rangesIn(
    bundle,
    [
      ['100:19', '300:1'],
      ['500:19', '700:1'],
      ['1200:19', '1300:1'],
    ],
    v8Mark,
  );
  const stack = [
    'Error: op call site',
    `    at checkForward (${bundle}:262:18)`,
    `    at record (${bundle}:541:33)`,
    `    at unary (${bundle}:1211:10)`,
    `    at log (${bundle}:1290:26)`,
    `    at lossOf (${bundle}:2410:15)`,
    `    at async train (${bundle}:2431:5)`,
  ].join('\n');

  it("names the user's function in a bundle that holds core and the user's code", () => {
    const { callSite, frames } = callSiteIn(stack, own);
    expect(callSite).toBe(`lossOf (${bundle}:2410:15)`);
    expect(frames).toEqual([`lossOf (${bundle}:2410:15)`, `async train (${bundle}:2431:5)`]);
  });

  it('without the marks the same stack names core (so the test above is about them)', () => {
    expect(callSiteIn(stack, []).callSite).toBe(`checkForward (${bundle}:262:18)`);
  });

  it('a minified bundle: one line, names that mean nothing, an anonymous user function', () => {
    const app = 'https://example.com/app.min.js';
    const minified = rangesIn(
      app,
      [
        ['1:9800', '1:11000'],
        ['1:15000', '1:16000'],
      ],
      v8Mark,
    );
    const minifiedStack = [
      'Error: op call site',
      `    at Qe (${app}:1:10231)`,
      `    at Ft (${app}:1:15300)`,
      `    at ${app}:1:30812`,
      `    at Ft (${app}:1:30990)`, // the user's own Ft: a name says nothing about whose a frame is
    ].join('\n');
    expect(callSiteIn(minifiedStack, minified).callSite).toBe(`${app}:1:30812`);
  });

  it("Node: a CommonJS bundle's frames, a native frame and an async one", () => {
    const file = '/srv/app/dist/server.cjs';
    const nodeOwn = rangesIn(
      file,
      [['40:19', '900:1']],
      (location) => `Error\n    at Object.<anonymous> (${location})`,
    );
    const nodeStack = [
      'Error: op call site',
      `    at record (${file}:541:33)`,
      `    at matmul (${file}:880:10)`,
      '    at Array.map (<anonymous>)',
      `    at Object.<anonymous> (${file}:2450:7)`,
      '    at node:internal/main/run_main_module:28:49',
    ].join('\n');
    expect(callSiteIn(nodeStack, nodeOwn).callSite).toBe(`Object.<anonymous> (${file}:2450:7)`);
  });

  it('reads names with spaces and paths with parentheses', () => {
    expect(parseFrame('    at async Tensor.backward [as step] (file:///a (1)/x.js:3:4)')).toEqual({
      text: 'async Tensor.backward [as step] (file:///a (1)/x.js:3:4)',
      file: 'file:///a (1)/x.js',
      line: 3,
      column: 4,
    });
    expect(parseFrame('    at file:///a (1)/x.js:3:4').file).toBe('file:///a (1)/x.js');
    expect(parseFrame('    at async Promise.all (index 0)').file).toBeNull();
  });
});

describe('call sites in SpiderMonkey (Firefox) stacks', () => {
  // Vite's dev server: core pre-bundled into one file under a path that is no package's.
  const deps = 'http://localhost:5173/node_modules/.vite/deps/@tapegrad_core.js?v=8c1e2f0a';
  const own = rangesIn(
    deps,
    [
      ['100:19', '300:1'],
      ['500:19', '700:1'],
      ['1200:19', '1300:1'],
    ],
    spiderMonkeyMark,
  );

  it("names the user's function, in another file, past core's frames", () => {
    const stack = [
      `checkForward@${deps}:262:18`,
      `record@${deps}:541:33`,
      `unary@${deps}:1211:10`,
      `log@${deps}:1290:26`,
      'lossOf@http://localhost:5173/src/train.ts?t=1733526000000:14:22',
      'train/<@http://localhost:5173/src/train.ts?t=1733526000000:30:7',
      '@http://localhost:5173/src/main.ts:3:1',
      '',
    ].join('\n');
    expect(callSiteIn(stack, own).callSite).toBe(
      'lossOf@http://localhost:5173/src/train.ts?t=1733526000000:14:22',
    );
    expect(callSiteIn(stack, []).callSite).toBe(`checkForward@${deps}:262:18`);
  });

  it('an anonymous user function in the same minified file as core', () => {
    const app = 'https://example.com/app.min.js';
    const minified = rangesIn(app, [['1:9800', '1:16000']], spiderMonkeyMark);
    const stack = [`Qe@${app}:1:10231`, `Ft@${app}:1:15300`, `@${app}:1:30812`, `@${app}:1:31500`, ''].join(
      '\n',
    );
    expect(callSiteIn(stack, minified).callSite).toBe(`@${app}:1:30812`);
  });
});

describe('call sites in JavaScriptCore (Safari) stacks', () => {
  const app = 'https://example.com/assets/app.js';
  const own = rangesIn(
    app,
    [
      ['100:20', '300:1'],
      ['500:20', '700:1'],
      ['1200:20', '1300:1'],
    ],
    javaScriptCoreMark,
  );

  it("skips frames with no location and names the user's line, then its function", () => {
    const stack = [
      `checkForward@${app}:262:27`,
      `record@${app}:541:38`,
      `log@${app}:1290:29`,
      'apply@[native code]',
      `@${app}:2412:40`,
      'map@[native code]',
      `lossOf@${app}:2412:20`,
      `module code@${app}:2450:7`,
    ].join('\n');
    const { callSite, frames } = callSiteIn(stack, own);
    expect(callSite).toBe(`@${app}:2412:40`);
    expect(frames).toEqual([
      'apply@[native code]',
      `@${app}:2412:40`,
      'map@[native code]',
      `lossOf@${app}:2412:20`,
      `module code@${app}:2450:7`,
    ]);
  });

  it('global code is a call site like any other', () => {
    const stack = [`record@${app}:541:38`, `global code@${app}:2450:7`].join('\n');
    expect(callSiteIn(stack, own).callSite).toBe(`global code@${app}:2450:7`);
  });
});

describe("marks: the ranges of core's modules in this runtime", () => {
  it('a mark whose two ends are in different files gives no range', () => {
    expect(ownRange(v8Mark('/a.js:1:1'), v8Mark('/b.js:9:1'))).toBeNull();
    expect(ownRange('Error', v8Mark('/b.js:9:1'))).toBeNull(); // no frame: Error.stackTraceLimit 0
  });

  it("the marks alone tell every core frame on an op's stack (the path rule made blind)", () => {
    const stacks: string[] = [];
    setDetectAnomaly(true);
    try {
      // Each recorded node keeps the stack its op captured in anomaly mode (its origin).
      const x = tensor([[1, 2]], { requiresGrad: true });
      for (const y of [log(x), matmul(x, tensor([[1], [2]])), sum(x)])
        stacks.push(y.node!.origin!.stack ?? '');
    } finally {
      setDetectAnomaly(false);
    }
    const ranges = ownRanges();
    expect(ranges.map((r) => r.file.replace(/.*\/src\//, '')).sort()).toEqual([
      'anomaly.ts',
      'custom.ts',
      'forward.ts',
      'grad.ts',
      'jvp.ts',
      'memory/tidy.ts',
      'mode.ts',
      'ops/elementwise.ts',
      'ops/matmul.ts',
      'ops/reduce.ts',
      'ops/shape.ts',
      'tape.ts',
      'tensor.ts',
    ]);
    // Moved out of packages/core/src/, core's files are known by their marks only.
    const blind = (text: string) => text.replaceAll('/packages/core/src/', '/bundled/');
    const blindRanges = ranges.map((r) => ({ ...r, file: blind(r.file) }));
    for (const stack of stacks) {
      expect(callSiteIn(blind(stack), blindRanges).callSite).toContain('call-site.test.ts:');
      expect(callSiteIn(blind(stack), []).callSite).toMatch(/^checkForward .*\/bundled\/anomaly\.ts:/);
    }
  });
});
