// `pnpm mutate <scope> [stryker options]`: runs StrykerJS over one scope (scripts/mutate/scopes.mjs),
// then rewrites that scope's section of docs/mutation.md from the JSON report, keeping the
// classifications already written there. `pnpm mutate` alone lists the scopes.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { scopes } from './scopes.mjs';

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || !(name in scopes)) {
  console.error(`usage: pnpm mutate <${Object.keys(scopes).join('|')}> [stryker options, e.g. --force]`);
  process.exit(name === undefined ? 0 : 1);
}

const env = { ...process.env, MUTATE_SCOPE: name };
// A run that reuses the incremental cache re-tests only what changed: its time says little of a full run's.
const incremental = existsSync(`reports/mutation/${name}.incremental.json`) && !rest.includes('--force');
const started = Date.now();
const stryker = spawnSync('stryker', ['run', 'stryker.config.mjs', ...rest], { stdio: 'inherit', env });
const minutes = ((Date.now() - started) / 60_000).toFixed(1);
console.log(`mutate ${name}: stryker exited ${stryker.status} after ${minutes} min`);
if (stryker.status !== 0) process.exit(stryker.status ?? 1);

const took = `${minutes} min${incremental ? ', incremental' : ''}`;
const summary = spawnSync('node', ['scripts/mutate/summary.mjs', name, took], { stdio: 'inherit', env });
process.exit(summary.status ?? 1);
