// `pnpm gradcheck` in-process: the table over built-in and user checks, a broken backward caught with
// its shrunk witness and exit code 1, bad input refused with exit code 2.
import { ops } from '@tapegrad/core';
import { describe, expect, it } from 'vitest';
import { builtinChecks } from '../src/checks.js';
import { main } from '../src/main.js';

const fixture = (name: string): string => new URL(`./fixtures/${name}`, import.meta.url).pathname;

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    write: (text) => {
      stdout += text;
    },
    error: (text) => {
      stderr += text;
    },
  });
  return { code, stdout, stderr };
}

describe('pnpm gradcheck', () => {
  it('covers every op in core’s registry and every nn override', () => {
    const names = builtinChecks().map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(Object.keys(ops)));
    expect(names).toEqual(
      expect.arrayContaining([
        'rnnTanhCell',
        'rnnReluCell',
        'lstmCell',
        'gruCell',
        'linear',
        'linearCrossEntropy',
      ]),
    );
    const overrides = builtinChecks().filter((c) => c.group === 'nn');
    expect(overrides.every((c) => typeof (c.op as { reference?: unknown }).reference === 'function')).toBe(
      true,
    );
  });

  it('prints a row per check: name, group, check, cases run, worst relative error, verdict', async () => {
    const { code, stdout } = await run('--only', 'tanh', '--only', 'gruCell', '--runs', '3');
    expect(code).toBe(0);
    expect(stdout).toMatch(/name +group +check +cases +worst rel\. error +verdict/);
    expect(stdout).toMatch(/\ntanh +core +gradient +3 +\d\.\de[-+]\d+ +pass\n/);
    expect(stdout).toMatch(/\ngruCell +nn +override +3 +\d\.\de[-+]\d+ +pass\n/);
    expect(stdout).toContain('all 2 checks pass');
  });

  it('adds a user’s customOp from --module and passes a correct hand-written backward', async () => {
    const { code, stdout } = await run(
      '--module',
      fixture('leakyCell.ts'),
      '--only',
      'leakyCell',
      '--runs',
      '5',
    );
    expect(code).toBe(0);
    expect(stdout).toMatch(/\nleakyCell +leakyCell\.ts +override +5 +\d\.\de-\d+ +pass\n/);
  });

  it('fails on a broken backward with exit code 1, naming the smallest witness', async () => {
    const argv = ['--module', fixture('brokenCell.ts'), '--only', 'brokenLeakyCell', '--runs', '5'];
    const { code, stdout } = await run(...argv);
    expect(code).toBe(1);
    expect(stdout).toMatch(/\nbrokenLeakyCell +brokenCell\.ts +override +1 +1\.0e\+0 +FAIL\n/);
    expect(stdout).toContain('brokenLeakyCell FAILED; the smallest witness:');
    // Shrinking reaches one-element tensors: the bug (dh misses ½g) shows at any input.
    expect(stdout).toContain('input 1: float64 [1,1] = [[0]]');
    expect(stdout).toContain('the hand-written backward is wrong');
    expect(stdout).toMatch(/replay with \{ seed: -?\d+, path: '[\d:]+' \}/);
    expect(stdout).toContain('1 of 1 checks FAILED: brokenLeakyCell');
  });

  const bad: [string[], RegExp][] = [
    [['--runs', 'many'], /--runs must be an integer/],
    [['--runs', '0'], /--runs must be an integer/],
    [['--only', 'noSuchOp'], /--only: no check named noSuchOp/],
    [['--module', fixture('missing.ts')], /--module .*missing\.ts: cannot load it \(not found\)/],
    [['--module', new URL('../src/report.ts', import.meta.url).pathname], /has no `gradchecks` export/],
    [['--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [argv, message] of bad) {
    it(`refuses ${argv.join(' ')} with exit code 2`, async () => {
      const { code, stderr } = await run(...argv);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/^gradcheck: [^\n]+\n$/);
    });
  }
});
