// `tsx ab.ts --base <checkout> [--head <checkout>]`: two builds of tapegrad (each checkout's built dist/,
// `pnpm build` there first) on the bench's tapegrad iteration, in ONE process, samples alternating. On a
// machine shared with other work, separate processes minutes apart differ by more than any change worth
// measuring (factors of two and three on lstm-small were seen here); within one process the two builds
// see the same machine, sample by sample. Each sample is CPU time (process.cpuUsage) over about
// `--sample-ms`, one thread (setThreads(1)) for both, so that time spent waiting for a core is not
// counted. Prints, per workload, each build's median per iteration and the median of the per-round
// ratios head / base.
import { parseArgs } from 'node:util';
import { median, sample } from './src/sampling.js';
import { makeProblem, paramNames, workloads } from './src/workloads.js';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    head: { type: 'string', default: new URL('..', import.meta.url).pathname },
    only: { type: 'string', default: 'lstm-small,lstm-big' },
    rounds: { type: 'string', default: '15' },
    'sample-ms': { type: 'string', default: '300' },
  },
});
if (!values.base) throw new Error('ab: --base <path of a checkout whose packages are built> is required');
const rounds = Number(values.rounds);
const sampleMs = Number(values['sample-ms']);

// biome-ignore lint/suspicious/noExplicitAny: two builds of the same API, loaded by path
type Module = any;

async function load(root: string): Promise<{ core: Module; nn: Module; kernels: Module }> {
  const at = (path: string) => import(new URL(path, `file://${root.replace(/\/?$/, '/')}`).href);
  return {
    core: await at('packages/core/dist/index.js'),
    kernels: await at('packages/core/dist/kernels.js'),
    nn: await at('packages/nn/dist/index.js'),
  };
}

/** The bench's tapegrad iteration (its contestant: lstmSequence, linearCrossEntropy, valueAndGrad, tidy). */
function iteration({ core, nn, kernels }: { core: Module; nn: Module; kernels: Module }, name: string) {
  kernels.setThreads(1);
  const problem = makeProblem(workloads.find((w) => w.name === name)!);
  const { steps: T, batch: B, input: I, hidden: H } = problem.workload;
  const params = paramNames.map((p) =>
    core.tensor(problem.params[p].data, { shape: problem.params[p].shape }),
  );
  const x = core.tensor(problem.inputs.subarray(0, T * B * I), { shape: [T, B, I] });
  const targets = core.tensor(Float64Array.from(problem.targets), { shape: [T * B] });
  const h0 = core.tensor(new Float32Array(B * H), { shape: [B, H] });
  // biome-ignore lint/suspicious/noExplicitAny: see Module
  const loss = (...p: any[]) => {
    const [out] = nn.lstmSequence(x, h0, h0, p[0], p[1], p[2], p[3]);
    return nn.linearCrossEntropy(core.reshape(out, [T * B, H]), p[4], p[5], targets, { reduction: 'sum' });
  };
  const lossAndGrads = core.valueAndGrad(loss, { argnums: [0, 1, 2, 3, 4, 5] });
  return () => core.tidy(() => lossAndGrads(...params)[0].item());
}

const builds = { base: await load(values.base), head: await load(values.head) };
for (const name of values.only.split(',')) {
  const steps = { base: iteration(builds.base, name), head: iteration(builds.head, name) };
  const losses = [steps.base(), steps.head()];
  if (Math.abs(losses[0]! - losses[1]!) > 1e-3 * Math.abs(losses[0]!)) {
    throw new Error(`ab: ${name}: the builds disagree on the loss (${losses[0]} and ${losses[1]})`);
  }
  for (const step of [steps.base, steps.head]) sample(step, sampleMs, { min: 2 }); // warm-up
  const times = { base: [] as number[], head: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    // Which goes first alternates, so that neither always follows the other.
    for (const which of r % 2 ? (['head', 'base'] as const) : (['base', 'head'] as const)) {
      times[which].push(sample(steps[which], sampleMs, { min: 2 }));
    }
  }
  const ratios = times.head.map((h, r) => h / times.base[r]!);
  console.log(
    `${name}: base ${median(times.base).toFixed(4)} ms, head ${median(times.head).toFixed(4)} ms CPU per ` +
      `iteration; head / base paired median ${median(ratios).toFixed(3)} ` +
      `(min ${Math.min(...ratios).toFixed(3)}, max ${Math.max(...ratios).toFixed(3)}, ${rounds} rounds)`,
  );
}
