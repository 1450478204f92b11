// `pnpm bench`: tapegrad and its peers (TensorFlow.js cpu and wasm, jax-js, numpy) on the same RNN
// training iteration, in the same run. Prints a table per workload, or JSON with --json.
import os from 'node:os';
import { parseArgs } from 'node:util';
import { hasNumpy } from './src/child.js';
import { contestantNames } from './src/contestants/index.js';
import { type Options, runWorkload, type WorkloadResult } from './src/harness.js';
import { formatLegend, formatWorkload } from './src/report.js';
import { workloadNamed, workloads } from './src/workloads.js';

const usage = `usage: pnpm bench [--rounds N] [--only lstm-big,...] [--contestants tapegrad,jax-js,...]
                  [--json] [--seed S] [--sample-ms MS] [--warmup-ms MS] [--clock wall|cpu] [--soak N]
workloads:   ${workloads.map((w) => w.name).join(', ')}
contestants: ${contestantNames.join(', ')} (numpy only where python3 has numpy)`;

function fail(message: string): never {
  console.error(`${message}\n${usage}`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    only: { type: 'string' },
    contestants: { type: 'string' },
    json: { type: 'boolean', default: false },
    seed: { type: 'string', default: '0' },
    'sample-ms': { type: 'string', default: '300' },
    'warmup-ms': { type: 'string', default: '1000' },
    clock: { type: 'string', default: 'wall' },
    soak: { type: 'string', default: '0' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

const list = (text: string | undefined) =>
  text
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const positive = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number, got ${text}`);
  return n;
};

const numpyPresent = hasNumpy();
const selectedWorkloads = (list(values.only) ?? workloads.map((w) => w.name)).map((name) => {
  if (!workloads.some((w) => w.name === name)) fail(`unknown workload ${name}`);
  return workloadNamed(name);
});
const requested = list(values.contestants);
for (const name of requested ?? []) {
  if (!contestantNames.includes(name)) fail(`unknown contestant ${name}`);
}
const names = (requested ?? contestantNames).filter((name) => name !== 'numpy' || numpyPresent || requested);
const options: Options = {
  rounds: Math.max(1, Math.round(positive('rounds', values.rounds))),
  seed: Math.round(positive('seed', values.seed)),
  sampleMs: positive('sample-ms', values['sample-ms']),
  warmupMs: positive('warmup-ms', values['warmup-ms']),
  clock: values.clock === 'cpu' ? 'cpu' : 'wall',
  soak: Math.round(positive('soak', values.soak)),
};
if (values.clock !== 'wall' && values.clock !== 'cpu') fail('--clock must be wall or cpu');

const log = (line: string) => process.stderr.write(`${line}\n`);
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  loadAverageAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
};
log(
  `tapegrad bench: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; load average ${machine.loadAverageAtStart.join(' ')}`,
);
if (!numpyPresent) log('numpy: python3 with numpy not found, so the native reference is left out');

const results: WorkloadResult[] = [];
for (const workload of selectedWorkloads) {
  log(`${workload.name}:`);
  const result = await runWorkload(workload, names, options, log);
  results.push(result);
  if (!values.json) console.log(`\n${formatWorkload(result)}`);
}
const loadAverageAtEnd = os.loadavg().map((x) => Number(x.toFixed(2)));

if (values.json) {
  console.log(JSON.stringify({ machine: { ...machine, loadAverageAtEnd }, options, results }, null, 2));
} else {
  console.log(`\ncontestants:\n${formatLegend(results)}`);
  console.log(
    [
      '',
      "time ÷ tapegrad: the contestant's median time per iteration over the default tapegrad's (above 1: slower).",
      "paired: the median over rounds of the contestant's time over tapegrad's in the same round (samples",
      'seconds apart, where the medians may come from different minutes of a machine whose speed drifts).',
      'GFLOP/s: the matmul work 6·T·B·(G·H·(H+I) + O·H) per iteration over the median time.',
      'CPU/wall: median CPU time (all threads of the process) over median wall time; well under 100% means it',
      "waited for a core (other work on the machine: compare with --clock cpu); above 100%, V8's or a",
      "library's helper threads ran beside it.",
      'faults/it: median minor page faults per iteration, memory mapped afresh on first touch (after the C',
      "allocator gave it back); each costs microseconds, about 16 on this machine kind's VM.",
      'Memory: each contestant runs in a process of its own, so peak RSS is its own; "over base" subtracts the',
      'RSS before its library loaded; heap growth is JS heap + external (typed arrays, wasm memory) after the',
      'timed rounds (and --soak iterations) minus before them, both after a full GC (n/a for numpy).',
      `Machine: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}; load average ` +
        `${machine.loadAverageAtStart.join(' ')} at start, ${loadAverageAtEnd.join(' ')} at end.`,
    ].join('\n'),
  );
}
const broken = results.flatMap((r) =>
  r.contestants.filter((c) => c.status !== 'ok').map((c) => `${r.workload.name}/${c.name}`),
);
if (broken.length > 0) log(`not ok: ${broken.join(', ')}`);
