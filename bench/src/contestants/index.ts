// Every contestant by name. The JS ones load lazily, so a child process that hosts one of them never
// loads the others' libraries (their memory would count against it). numpy runs in python3 instead.
import type { Contestant } from '../contestant.js';

export const jsContestants: Record<string, () => Promise<Contestant>> = {
  tapegrad: async () => (await import('./tapegrad.js')).tapegradDefault,
  'tapegrad-1t': async () => (await import('./tapegrad.js')).tapegradOneThread,
  'tapegrad-js': async () => (await import('./tapegrad.js')).tapegradJs,
  'tapegrad-wasm': async () => (await import('./tapegrad.js')).tapegradWasm,
  'tfjs-cpu': async () => (await import('./tfjs.js')).tfjsCpu,
  'tfjs-wasm': async () => (await import('./tfjs.js')).tfjsWasm,
  'jax-js': async () => (await import('./jax.js')).jaxJs,
};

export const pythonContestants = ['numpy'] as const;

export const contestantNames: readonly string[] = [...Object.keys(jsContestants), ...pythonContestants];

export async function loadContestant(name: string): Promise<Contestant> {
  const load = jsContestants[name];
  if (!load)
    throw new Error(`unknown JS contestant ${name} (known: ${Object.keys(jsContestants).join(', ')})`);
  return load();
}
