// The plain-text tables: per workload, medians with min–max, each peer's time over tapegrad's, GFLOP/s,
// memory, and whether its loss and gradients agreed with tapegrad's.
import type { ContestantResult, WorkloadResult } from './harness.js';

const MB = 1024 * 1024;

function fixed(x: number): string {
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toPrecision(3);
}

function speed(r: ContestantResult, perSecond: boolean): [string, string] {
  if (r.medianMs === null || r.minMs === null || r.maxMs === null) return ['—', ''];
  if (!perSecond) return [fixed(r.medianMs), `${fixed(r.minMs)}–${fixed(r.maxMs)}`];
  return [fixed(1000 / r.medianMs), `${fixed(1000 / r.maxMs)}–${fixed(1000 / r.minMs)}`];
}

function memory(r: ContestantResult): [string, string, string] {
  const m = r.memory;
  if (!m) return ['—', '—', '—'];
  const growth =
    m.heapGrowth === null ? 'n/a' : `${m.heapGrowth >= 0 ? '+' : ''}${(m.heapGrowth / MB).toFixed(1)}`;
  return [(m.peakRss / MB).toFixed(0), ((m.peakRss - m.baselineRss) / MB).toFixed(0), growth];
}

function status(r: ContestantResult): string {
  if (r.status === 'ok') return 'ok';
  return `${r.status.toUpperCase()}: ${r.problems.slice(0, 2).join('; ')}${r.problems.length > 2 ? '; …' : ''}`;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  // Text columns (the first and the last) align left, numbers right.
  return rows
    .map((row) =>
      row
        .map((cell, col) =>
          col === 0 || col === row.length - 1 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatWorkload(result: WorkloadResult): string {
  const w = result.workload;
  const perSecond = w.report === 'it/s';
  const header = [
    'contestant',
    perSecond ? 'it/s' : 'ms/it',
    perSecond ? '(min–max)' : '(min–max)',
    'time ÷ tapegrad',
    'paired',
    'GFLOP/s',
    'CPU/wall',
    'faults/it',
    'peak RSS MB',
    'RSS over base MB',
    'heap growth MB',
    'check vs tapegrad',
  ];
  const rows = result.contestants.map((r) => [
    r.name,
    ...speed(r, perSecond),
    r.timeVsTapegrad === null ? '—' : `${r.timeVsTapegrad.toFixed(2)}×`,
    r.pairedVsTapegrad === null ? '—' : `${r.pairedVsTapegrad.toFixed(2)}×`,
    r.gflops === null ? '—' : r.gflops.toFixed(2),
    r.cpuShare === null ? '—' : `${Math.round(r.cpuShare * 100)}%`,
    r.faultsPerIteration === null ? '—' : fixed(r.faultsPerIteration),
    ...memory(r),
    status(r),
  ]);
  const title =
    `${w.name}: ${w.cell.toUpperCase()}, input ${w.input}, hidden ${w.hidden}, output ${w.output}, ` +
    `batch ${w.batch}, T ${w.steps}; matmul work ${(result.flopsPerIteration / 1e9).toPrecision(3)} GFLOP/iteration; ` +
    `${result.rounds} rounds, ${result.clock === 'cpu' ? 'CPU time' : 'wall clock'}; ` +
    `reference loss ${result.reference.loss.toPrecision(7)}`;
  return `${title}\n${table([header, ...rows])}`;
}

export function formatLegend(results: readonly WorkloadResult[]): string {
  const seen = new Map<string, string>();
  for (const r of results) for (const c of r.contestants) if (c.describe) seen.set(c.name, c.describe);
  return [...seen].map(([name, describe]) => `  ${name}: ${describe}`).join('\n');
}
