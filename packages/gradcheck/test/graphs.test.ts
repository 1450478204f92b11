// Random computation graphs from core's op table, each gradchecked; and a planted wrong backward,
// which the check must find and shrink to a graph of at most 3 ops, printed as code.
import { customOp, mul, ops, type Tensor } from '@tapegrad/core';
import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkGraphs,
  type GraphFailure,
  type GraphOp,
  graphOps,
  graphs,
  graphToCode,
  graphValues,
  runGraph,
} from '../src/graphs.js';
import { witnessFloor } from '../src/judgement.js';

/** x² with the backward of x³ (3x² instead of 2x): the planted bug. */
const wrongSquare = customOp({
  name: 'wrongSquare',
  forward: ([x]) => ({ outputs: mul(x!, x!), residuals: x! }),
  backward: ([g], x) => [mul(g!, mul(mul(x, x), 3))],
});

const planted: GraphOp = {
  arity: 1,
  infer: (_, a) => ({ shape: a.shape, lo: 0, hi: Math.max(a.lo ** 2, a.hi ** 2) }),
  apply: (_, a) => wrongSquare(a) as Tensor,
  code: (_, a) => `wrongSquare(${a})`,
};

describe('random graphs', () => {
  it('the generator draws from every op of core’s table it does not leave out, and from nothing else', () => {
    expect(Object.keys(graphOps).sort()).toEqual(Object.keys(ops).sort());
    const drawn = new Set<string>();
    fc.assert(
      fc.property(graphs(), (graph) => {
        for (const step of graph.steps) drawn.add(step.op);
        expect(graph.steps.length).toBeGreaterThanOrEqual(1);
        expect(graph.steps.length).toBeLessThanOrEqual(20);
        expect(graph.inputs.length).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 400, seed: 1 },
    );
    const included = Object.keys(graphOps).filter((name) => graphOps[name as keyof typeof graphOps]);
    expect(included.filter((name) => !drawn.has(name))).toEqual([]);
  });

  it('values stay inside the bounds the generator kept (so domains hold: log and sqrt of ≥ 0.1)', () => {
    fc.assert(
      fc.property(graphs(), (graph) => {
        const values = graphValues(graph).slice(graph.inputs.length);
        graph.steps.forEach((step, k) => {
          expect(values[k]!.shape).toEqual(step.bounds.shape);
          for (const v of values[k]!.data) {
            expect(v).toBeGreaterThanOrEqual(step.bounds.lo - 1e-9);
            expect(v).toBeLessThanOrEqual(step.bounds.hi + 1e-9);
          }
        });
        // Outputs are the values no op reads, so every op reaches an output.
        const read = new Set(graph.steps.flatMap((s) => s.operands));
        expect(graph.outputs).toEqual(
          values.flatMap((_, k) => (read.has(graph.inputs.length + k) ? [] : [graph.inputs.length + k])),
        );
        expect(runGraph(graph).length).toBe(graph.outputs.length);
      }),
      { numRuns: 100, seed: 2 },
    );
  });

  it('every graph passes gradcheck (100 graphs; 3,000 under pnpm test:deep)', () => {
    const { numRuns } = checkGraphs();
    expect(numRuns).toBeGreaterThanOrEqual(100);
  });

  it('prints a graph as code that rebuilds it', () => {
    const [graph] = fc.sample(graphs({ minOps: 4, maxOps: 4 }), { numRuns: 1, seed: 3 });
    const code = graphToCode(graph!);
    expect(code.split('\n').filter((l) => l.startsWith('const v'))).toHaveLength(4);
    expect(code).toMatch(/^const x0 = tensor\(/);
    expect(code).toMatch(/\nreturn (v3|\[.*v3\]);$/);
  });

  it('a planted wrong backward is found and shrunk to a graph of ≤ 3 ops, printed with the op in it', () => {
    const table = {
      add: graphOps.add,
      mul: graphOps.mul,
      tanh: graphOps.tanh,
      exp: graphOps.exp,
      wrongSquare: planted,
    };
    let failure: GraphFailure | undefined;
    try {
      checkGraphs({ ops: table, numRuns: 200, seed: 4 });
    } catch (error) {
      failure = error as GraphFailure;
    }
    expect(failure?.name).toBe('GraphFailure');
    const { graph, code, message } = failure!;
    expect(graph.steps.length).toBeLessThanOrEqual(3);
    expect(graph.steps.some((s) => s.op === 'wrongSquare')).toBe(true);
    expect(code).toContain('wrongSquare(');
    expect(message).toContain(code.split('\n')[0]);
    expect(message).toMatch(/replay with \{ seed: 4, path: '/);
    // The printed literals are the graph's own inputs: the code is a faithful witness.
    expect(code).toContain(JSON.stringify(graph.inputs[0]!.toArray()));
    // The shrunk graph fails as the first did: the same verdict, at least the floor of its error.
    expect(failure!.judgement.verdict).toBe('the gradient disagrees with finite differences');
    expect(failure!.judgement.verdict).toBe(failure!.first.judgement.verdict);
    expect(failure!.judgement.severity).toBeGreaterThanOrEqual(witnessFloor(failure!.first.judgement));
    expect(message).toMatch(
      /\nthe first failure, before shrinking: the gradient disagrees with finite differences\n {2}worst error .+\nthe shrunk witness \(same verdict, worst error at least .+\): the gradient disagrees/,
    );
  });

  it('the planted op alone fails at once (a graph of one op)', () => {
    expect(() => checkGraphs({ ops: { wrongSquare: planted }, numRuns: 5, seed: 5, maxOps: 1 })).toThrow(
      /shrunk \d+ time\(s\) to 1 op\(s\):\n {2}const x0 = [^\n]*\n {2}const v0 = wrongSquare\(x0\)/,
    );
  });
});
