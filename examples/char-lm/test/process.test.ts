// The demo as a real process: exit code 2 and one line (no stack trace) on bad input, and Ctrl-C
// (SIGINT) mid-training saves a checkpoint first and exits 130, ready to resume.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url).pathname;
const mainPath = new URL('../src/main.ts', import.meta.url).pathname;
const names = new URL('./fixtures/names.txt', import.meta.url).pathname;

function start(argv: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--conditions=source', mainPath, ...argv], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    // Never outlives the test run: a child that stops answering is killed (and its test fails).
    timeout: 120_000,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done, stdout: () => stdout };
}

describe('char-lm as a process', () => {
  it('exits 2 with one line on stderr for a bad option', async () => {
    const { code, stdout, stderr } = await start(['--layers', 'two']).done;
    expect(code).toBe(2);
    expect(stderr).toBe("char-lm: --layers must be an integer, got 'two'\n");
    expect(stdout).toBe('');
  });

  it('on SIGINT finishes the step, saves a checkpoint, exits 130 and says how to resume', async () => {
    const out = mkdtempSync(join(tmpdir(), 'char-lm-sigint-'));
    const run = start(['--text', names, '--hidden', '8', '--batch', '4', '--steps', '1000000', '--out', out]);
    // Wait until it is training (the first line is printed just before the first step).
    while (!run.stdout().includes('training an LSTM') && run.child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 500));
    run.child.kill('SIGINT');
    const { code, stdout } = await run.done;
    expect(code).toBe(130);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const step = config.progress.step as number;
    expect(step).toBeGreaterThan(0);
    expect(step).toBeLessThan(1_000_000);
    expect(config.progress.losses).toHaveLength(step);
    expect(stdout).toContain(`stopped at step ${step}/1000000; checkpoint saved: resume with --resume`);
    expect(readFileSync(join(out, 'checkpoint.safetensors')).length).toBeGreaterThan(0);
  });
});
