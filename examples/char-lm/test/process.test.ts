// The demo as a user runs it: through the README's own command (`npx -y pnpm@12.4.2 demo`) in a process
// group of its own, signalled as a terminal signals it (the whole group) at random moments, and killed
// with SIGKILL at random instants while it saves. Nothing saved may be lost: after any of these the
// run folder's newest set loads, and resumes to the same weights as a run that never stopped.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stepsIn } from '../src/store.js';
import { runMain } from './main.js';

const root = new URL('../../../', import.meta.url).pathname;
const mainPath = new URL('../src/main.ts', import.meta.url).pathname;
const names = new URL('./fixtures/names.txt', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'char-lm-process-'));
const deep = process.env.TAPEGRAD_DEEP === '1';

/** A seeded stream of delays, so that a failing trial can be run again (its seed is in the message). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Started {
  child: ChildProcess;
  stdout: () => string;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  /** Resolves when stdout first matches. */
  saw: (pattern: RegExp) => Promise<void>;
  /** Sends a signal to the whole process group, as a terminal's Ctrl-C does. */
  group: (signal: NodeJS.Signals) => void;
}

/** Starts a command in a process group of its own; it is killed whole if it outlives `limitMs`. */
function start(command: string, argv: string[], limitMs = 120_000): Started {
  const child = spawn(command, argv, { cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
  });
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // The group has already gone.
    }
  };
  const limit = setTimeout(() => group('SIGKILL'), limitMs);
  const done = new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr });
    });
  });
  const saw = async (pattern: RegExp) => {
    while (!pattern.test(stdout)) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`exited before ${pattern}:\n${stdout}\n${stderr}`);
      await sleep(10);
    }
  };
  return { child, stdout: () => stdout, done, saw, group };
}

/** The README's command. */
const demo = (argv: string[]) => start('npx', ['-y', 'pnpm@12.4.2', 'demo', ...argv]);

const inProcess = runMain;

const newestFile = (out: string, file: string): Buffer => readFileSync(join(stepsIn(out).at(-1)!.path, file));

describe('char-lm through the README command', () => {
  it('exits 2 with one line on stderr for a bad option', async () => {
    const { code, stderr } = await demo(['--layers', 'two']).done;
    expect(code).toBe(2);
    expect(stderr).toContain("char-lm: --layers must be an integer, got 'two'\n");
    expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  // Ctrl-C at a random moment of a run: in a step, an evaluation (held-out loss and samples every
  // fifth of the run) or a save (every 3 steps). Each trial must stop with a complete set on disk.
  const trials = deep ? 30 : 10;
  it(`Ctrl-C once at a random moment (${trials} trials) stops, saves a loadable set and says how to resume`, async () => {
    const seed = Date.now() % 100_000;
    const random = mulberry32(seed);
    const outcomes: string[] = [];
    for (let trial = 0; trial < trials; trial++) {
      const out = join(scratch, `sigint-${trial}`);
      const argv = [
        '--text',
        names,
        '--hidden',
        '192',
        '--batch',
        '32',
        '--steps',
        '300',
        '--save-every',
        '3',
      ];
      const run = demo([...argv, '--out', out]);
      await run.saw(/training an LSTM/);
      const delay = Math.floor(random() * 2500);
      await sleep(delay);
      run.group('SIGINT');
      const { code, signal, stdout } = await run.done;
      const label = `seed ${seed}, trial ${trial}, Ctrl-C ${delay} ms into training`;
      const stopped =
        /stopped at step (\d+)\/300; checkpoint saved in (\S+): resume with\n {2}pnpm demo --resume \S+\n/.exec(
          stdout,
        );
      if (/^done: /m.test(stdout)) {
        // The signal came after the last step (while the run measured, saved and sampled at its end):
        // the run finished, and its final set is complete.
        outcomes.push('finished');
        expect(stepsIn(out).at(-1)?.step, label).toBe(300);
        expect((await inProcess('sample', '--checkpoint', out, '--count', '1')).code, label).toBe(0);
        continue;
      }
      // npx re-raises the signal its child stopped on once the child is done (a shell shows 130).
      expect([label, code ?? signal], stdout).toEqual([label, code === null ? 'SIGINT' : 130]);
      expect(stdout, label).toMatch(
        /Ctrl-C: stopping after this step to save a checkpoint \(Ctrl-C again to quit/,
      );
      expect(stopped, `${label}\n${stdout}`).not.toBeNull();
      const step = Number(stopped![1]);
      expect(stepsIn(out).at(-1)?.step, label).toBe(step);
      expect(
        readdirSync(out).filter((name) => name.endsWith('.tmp')),
        label,
      ).toEqual([]);
      // It loads: sampled from, and resumed for one more step.
      expect((await inProcess('sample', '--checkpoint', out, '--count', '1')).code, label).toBe(0);
      const resumed = await inProcess('--resume', out, '--steps', String(step + 1));
      expect([label, resumed.code, resumed.stderr]).toEqual([label, 0, '']);
      outcomes.push(`step ${step}`);
    }
    console.log(`Ctrl-C trials (seed ${seed}): ${outcomes.join(', ')}`);
  }, 300_000);

  it('a first press delivered twice (as a relaying launcher does) still saves; SIGTERM stops as Ctrl-C does', async () => {
    const argv = [
      '--text',
      names,
      '--hidden',
      '48',
      '--batch',
      '16',
      '--steps',
      '100000',
      '--save-every',
      '50',
    ];
    const doubled = demo([...argv, '--out', join(scratch, 'doubled')]);
    await doubled.saw(/training an LSTM/);
    await sleep(500);
    doubled.group('SIGINT');
    await sleep(20);
    doubled.group('SIGINT');
    const first = await doubled.done;
    expect(first.code ?? first.signal).toBe(first.code === null ? 'SIGINT' : 130);
    expect(first.stdout).toMatch(/stopped at step \d+\/100000; checkpoint saved/);
    expect(first.stdout).not.toContain('quit without saving;');

    const out = join(scratch, 'term');
    const term = demo([...argv, '--out', out]);
    await term.saw(/training an LSTM/);
    await sleep(500);
    term.group('SIGTERM');
    const stopped = await term.done;
    expect(stopped.code ?? stopped.signal).toBe(stopped.code === null ? 'SIGTERM' : 143);
    expect(stopped.stdout).toMatch(/SIGTERM: stopping after this step to save a checkpoint/);
    const step = Number(/stopped at step (\d+)\//.exec(stopped.stdout)![1]);
    expect(stepsIn(out).at(-1)!.step).toBe(step);
    const resumed = await inProcess('--resume', out, '--steps', String(step + 1));
    expect([resumed.code, resumed.stderr]).toEqual([0, '']);
  }, 120_000);
});

describe('SIGKILL at random instants while saving', () => {
  // A save every step of a tiny model: most of the run's time is spent saving, so most kills land
  // inside one. After each kill the newest complete set must load and resume to exactly the weights
  // of a run that never stopped.
  const trials = deep ? 60 : 24;
  const steps = 40;
  const argv = ['--text', names, '--hidden', '8', '--batch', '4', '--seed', '5', '--steps', String(steps)];

  it(`the last complete set always survives (${trials} trials) and resumes bit for bit`, async () => {
    const reference = join(scratch, 'reference');
    expect((await inProcess(...argv, '--out', reference)).code).toBe(0);
    const seed = Date.now() % 100_000;
    const random = mulberry32(seed);
    let insideSave = 0;
    let resumedFrom = 0;
    for (let trial = 0; trial < trials; trial++) {
      const out = join(scratch, `kill-${trial}`);
      const run = start(process.execPath, [
        '--import',
        'tsx',
        '--conditions=source',
        mainPath,
        ...argv,
        '--save-every',
        '1',
        '--out',
        out,
      ]);
      await run.saw(/training an LSTM/);
      const delay = Math.floor(random() * 250);
      await sleep(delay);
      run.group('SIGKILL');
      const { code } = await run.done;
      const label = `seed ${seed}, trial ${trial}, killed ${delay} ms into training`;
      if (code === 0) continue; // finished before the kill
      if (readdirSync(out).some((name) => name.endsWith('.tmp'))) insideSave++;
      const sets = stepsIn(out);
      if (sets.length === 0) {
        // Killed before the first save: there was nothing to keep yet.
        continue;
      }
      resumedFrom++;
      const resumed = await inProcess('--resume', out);
      expect([label, resumed.code, resumed.stderr]).toEqual([label, 0, '']);
      expect(resumed.stdout, label).toContain(`resuming at step ${sets.at(-1)!.step}`);
      expect(
        newestFile(out, 'checkpoint.safetensors').equals(newestFile(reference, 'checkpoint.safetensors')),
        label,
      ).toBe(true);
      expect(
        newestFile(out, 'optimizer.safetensors').equals(newestFile(reference, 'optimizer.safetensors')),
        label,
      ).toBe(true);
      const losses = (dir: string) => JSON.parse(newestFile(dir, 'config.json').toString()).progress.losses;
      expect(losses(out), label).toEqual(losses(reference));
      expect(
        readdirSync(out).filter((name) => name.endsWith('.tmp')),
        label,
      ).toEqual([]);
    }
    console.log(
      `SIGKILL trials (seed ${seed}): ${trials}, ${insideSave} killed inside a save, ${resumedFrom} resumed bit for bit`,
    );
    expect(resumedFrom).toBeGreaterThan(trials / 2);
    // The point of the test: some kills must land inside a save (a temp set left behind).
    expect(insideSave, `seed ${seed}`).toBeGreaterThan(0);
  }, 300_000);
});
