// The demo's command line in-process: bad input exits 2 with a message, a tiny run writes every
// artefact, resumes bit for bit, repeats under the same seed, and samples from its checkpoint.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomState } from '@tapegrad/core';
import { decodeSafetensors } from '@tapegrad/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunConfig } from '../src/config.js';
import { readCorpus } from '../src/corpus.js';
import { splitLines } from '../src/data.js';
import { main } from '../src/main.js';
import { stepsIn } from '../src/store.js';
import { runMain } from './main.js';

const fixtures = new URL('./fixtures/', import.meta.url).pathname;
const names = join(fixtures, 'names.txt');
const reference = JSON.parse(readFileSync(join(fixtures, 'char_lm.json'), 'utf8')) as {
  vocab: string[];
  cases: { seed: number; held: string[]; baseline: number }[];
};

const run = runMain;

const scratch = mkdtempSync(join(tmpdir(), 'char-lm-test-'));
const dir = (name: string): string => join(scratch, name);
/** The newest saved set of a run folder. */
const newest = (out: string): string => stepsIn(out).at(-1)!.path;
const configOf = (out: string): RunConfig =>
  JSON.parse(readFileSync(join(newest(out), 'config.json'), 'utf8'));
const tiny = ['--text', names, '--hidden', '8', '--batch', '4', '--seed', '3'];

describe('bad input: a message and exit code 2', () => {
  const empty = join(scratch, 'empty.txt');
  const blank = join(scratch, 'blank.txt');
  const binary = join(scratch, 'binary.bin');
  const latin1 = join(scratch, 'latin1.txt');
  beforeAll(() => {
    writeFileSync(empty, '');
    writeFileSync(blank, '\n  \n\n');
    writeFileSync(binary, Uint8Array.from([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2, 3]));
    writeFileSync(latin1, Uint8Array.from([0x4a, 0xfc, 0x72, 0x67, 0x65, 0x6e, 0x0a])); // "Jürgen" in Latin-1
  });
  const cases: [string[], RegExp][] = [
    [['--hidden', 'abc'], /--hidden must be an integer, got 'abc'/],
    [['--hidden', '1.5'], /--hidden must be an integer, got '1.5'/],
    [['--steps', '0'], /--steps must be ≥ 1/],
    [['--layers', '-2'], /--layers must be ≥ 1/],
    [['--lr', '0'], /--lr must be > 0/],
    [['--lr', 'fast'], /--lr must be a number, got 'fast'/],
    [['--clip', '-1'], /--clip must be ≥ 0/],
    [['--seed', '4294967296'], /--seed must be ≥ 0 and ≤ 4294967295/],
    [['--batch', ''], /--batch must be an integer/],
    [['--hidden'], /--hidden/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /unexpected argument 'extra'/],
    [['--text', join(scratch, 'nope.txt')], /nope\.txt: cannot read it \(no such file\)/],
    [['--text', scratch], /is a directory/],
    [['--text', empty], /no non-empty lines/],
    [['--text', blank], /no non-empty lines/],
    [['--text', binary], /not a UTF-8 text file/],
    [['--text', latin1], /not a UTF-8 text file/],
    [['sample'], /sample needs --checkpoint DIR/],
    [
      ['sample', '--checkpoint', join(scratch, 'none.safetensors')],
      /none\.safetensors: cannot read it \(no such file\)/,
    ],
    [['--resume', join(scratch, 'none')], /--resume \S+none: cannot read it \(no such file\)/],
    [['--resume', scratch], /holds no checkpoint/],
  ];
  for (const [argv, message] of cases) {
    it(argv.join(' ') || '(nothing)', async () => {
      const { code, stdout, stderr } = await run(...argv);
      expect(code).toBe(2);
      expect(stderr).toMatch(message);
      expect(stderr).toMatch(/^char-lm: [^\n]+\n$/); // one line, no stack trace
      expect(stdout).toBe('');
    });
  }

  it('--help lists every option and exits 0', async () => {
    const { code, stdout } = await run('--help');
    expect(code).toBe(0);
    for (const option of [
      '--text',
      '--hidden',
      '--layers',
      '--steps',
      '--lr',
      '--batch',
      '--seed',
      '--clip',
    ]) {
      expect(stdout).toContain(option);
    }
    for (const option of ['--out', '--resume', 'sample', '--checkpoint', '--count', '--temperature']) {
      expect(stdout).toContain(option);
    }
  });
});

describe('a tiny training run', () => {
  const out = dir('straight');
  let result: Awaited<ReturnType<typeof run>>;
  beforeAll(async () => {
    result = await run(...tiny, '--steps', '6', '--out', out);
  });

  it('writes the checkpoint, the optimizer state, config.json and the loss curve', () => {
    expect(result.code).toBe(0);
    const config = configOf(out);
    expect(config.vocab).toEqual(reference.vocab);
    expect(config.model).toEqual({ vocabSize: reference.vocab.length, embedding: 32, hidden: 8, layers: 1 });
    expect(config.training).toMatchObject({ batch: 4, seed: 3, steps: 6, text: names });
    expect(config.progress.step).toBe(6);
    expect(config.progress.losses).toHaveLength(6);
    // Held-out cross-entropy every fifth of the run (rounded up to 2 steps) and at the end.
    expect(config.progress.heldOut.map(([step]) => step)).toEqual([2, 4, 6]);
    const { tensors, metadata } = decodeSafetensors(
      readFileSync(join(newest(out), 'checkpoint.safetensors')),
    );
    expect(metadata).toMatchObject({ step: '6' });
    expect(Object.keys(tensors).sort()).toEqual([
      'embedding.weight',
      'head.bias',
      'head.weight',
      'lstm.bias_hh_l0',
      'lstm.bias_ih_l0',
      'lstm.weight_hh_l0',
      'lstm.weight_ih_l0',
    ]);
    expect(tensors['lstm.weight_ih_l0']!.shape).toEqual([32, 32]);
    const optimizer = decodeSafetensors(readFileSync(join(newest(out), 'optimizer.safetensors')));
    expect(optimizer.tensors['0.step']!.item()).toBe(6);
    const svg = readFileSync(join(out, 'loss.svg'), 'utf8');
    expect(svg).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('training step');
    expect(svg).toContain('cross-entropy (nats per character)');
    expect(svg.match(/<polyline/g)).toHaveLength(3); // loss, smoothed loss, held-out
    expect(svg.match(/<circle/g)).toHaveLength(3 + 1); // held-out points and the legend's
  });

  it('holds out the lines numpy holds out and measures the unigram baseline as numpy does', async () => {
    for (const { seed, held, baseline } of reference.cases) {
      expect(splitLines(readCorpus(names).lines, new RandomState(seed)).held).toEqual(held);
      const folder = dir(`seed${seed}`);
      const argv = ['--text', names, '--hidden', '4', '--batch', '2', '--steps', '1', '--seed', String(seed)];
      expect((await run(...argv, '--out', folder)).code).toBe(0);
      expect(configOf(folder).baseline).toBeCloseTo(baseline, 12);
    }
  });

  it('reports the held-out cross-entropy against the baseline and new names', () => {
    expect(result.stdout).toMatch(/held-out \d+\.\d{3}, training \d+\.\d{3}; unigram baseline \d+\.\d{3}/);
    expect(result.stdout).toMatch(/new names \(in neither the training nor the held-out lines\):/);
    expect(result.stdout).toMatch(/step 6\/6 {2}loss \d/);
  });

  it('prints plain progress lines when there is no terminal, each with step, loss, smoothed loss, rate, ETA', () => {
    const lines = result.stdout.split('\n').filter((l) => l.startsWith('step '));
    expect(lines.length).toBe(6);
    for (const line of lines)
      expect(line).toMatch(/^step \d+\/6 {2}loss \S+ {2}smoothed \S+ {2}\S+ steps\/s {2}ETA \S+$/);
  });

  it('on a terminal, redraws one live progress line instead of printing step lines', async () => {
    const statuses: string[] = [];
    let stdout = '';
    const code = await main([...tiny, '--steps', '5', '--out', dir('tty')], {
      write: (text) => {
        stdout += text;
      },
      error: () => {},
      status: (text) => statuses.push(text),
    });
    expect(code).toBe(0);
    expect(stdout).not.toMatch(/^step /m);
    const progress = statuses.filter((s) => s !== '');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatch(/^step 5\/5 {2}loss \S+ {2}smoothed \S+ {2}\S+ steps\/s {2}ETA 0s$/);
  });

  it('runs the same under the same seed, bit for bit, and differently under another', async () => {
    const again = dir('again');
    expect((await run(...tiny, '--steps', '6', '--out', again)).code).toBe(0);
    expect(configOf(again).progress.losses).toEqual(configOf(out).progress.losses);
    expect(readFileSync(join(newest(again), 'checkpoint.safetensors'))).toEqual(
      readFileSync(join(newest(out), 'checkpoint.safetensors')),
    );
    const other = dir('other');
    expect((await run(...tiny.slice(0, -1), '4', '--steps', '6', '--out', other)).code).toBe(0);
    expect(configOf(other).progress.losses).not.toEqual(configOf(out).progress.losses);
  });

  it('resumes from its checkpoint exactly where it stopped: 3 + 3 steps equal 6', async () => {
    const halves = dir('halves');
    expect((await run(...tiny, '--steps', '3', '--out', halves)).code).toBe(0);
    const resumed = await run('--resume', halves, '--steps', '6');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('resuming at step 3');
    expect(configOf(halves).progress.losses).toEqual(configOf(out).progress.losses);
    // The held-out measurements follow each session's own schedule; where both measured, they agree.
    const straight = new Map(configOf(out).progress.heldOut);
    const common = configOf(halves).progress.heldOut.filter(([step]) => straight.has(step));
    expect(common.map(([step]) => step)).toEqual([2, 4, 6]);
    for (const [step, value] of common) expect(value).toBe(straight.get(step));
    expect(readFileSync(join(newest(halves), 'checkpoint.safetensors'))).toEqual(
      readFileSync(join(newest(out), 'checkpoint.safetensors')),
    );
  });

  it('refuses to resume with a different model shape or seed, or with nothing left to do', async () => {
    const checkpoint = out;
    const wider = await run('--resume', checkpoint, '--hidden', '16', '--steps', '9', '--out', dir('x'));
    expect([wider.code, wider.stderr]).toEqual([
      2,
      "char-lm: --hidden 16 differs from the checkpoint's 8; leave it out to resume\n",
    ]);
    const seeded = await run('--resume', checkpoint, '--seed', '1', '--steps', '9', '--out', dir('x'));
    expect(seeded.code).toBe(2);
    const done = await run('--resume', checkpoint, '--out', dir('x'));
    expect(done.code).toBe(2);
    expect(done.stderr).toContain('already at step 6');
  });

  it('samples from the checkpoint: as many lines as asked, from its vocabulary, the same for the same seed', async () => {
    const checkpoint = out;
    const first = await run('sample', '--checkpoint', checkpoint, '--count', '7', '--temperature', '1.2');
    expect(first.code).toBe(0);
    const lines = first.stdout.split('\n').slice(0, -1);
    expect(lines).toHaveLength(7);
    const vocab = new Set(reference.vocab);
    for (const line of lines) for (const ch of line) expect(vocab.has(ch)).toBe(true);
    const again = await run('sample', '--checkpoint', checkpoint, '--count', '7', '--temperature', '1.2');
    expect(again.stdout).toBe(first.stdout);
    const bad = await run('sample', '--checkpoint', checkpoint, '--temperature', '0');
    expect([bad.code, bad.stderr]).toEqual([2, 'char-lm: --temperature must be > 0 and ≤ 100, got 0\n']);
  });

  it('refuses a corrupt, truncated or mismatched checkpoint with exit code 2', async () => {
    const good = readFileSync(join(newest(out), 'checkpoint.safetensors'));
    const variants: [string, (folder: string) => void, RegExp][] = [
      [
        'garbage',
        (f) => writeFileSync(join(f, 'checkpoint.safetensors'), 'not a checkpoint at all'),
        /not a valid checkpoint/,
      ],
      [
        'truncated',
        (f) => writeFileSync(join(f, 'checkpoint.safetensors'), good.subarray(0, good.length - 100)),
        /not a valid checkpoint/,
      ],
      [
        'another model',
        (f) =>
          writeFileSync(
            join(f, 'config.json'),
            readFileSync(join(f, 'config.json'), 'utf8').replace('"hidden":8', '"hidden":9'),
          ),
        /does not match the model in config\.json/,
      ],
      [
        'broken config',
        (f) => writeFileSync(join(f, 'config.json'), '{"format":'),
        /config\.json: not valid JSON/,
      ],
    ];
    for (const [label, spoil, message] of variants) {
      const folder = dir(`spoiled-${label.replace(/ /g, '-')}`);
      await run(...tiny, '--steps', '1', '--out', folder);
      spoil(newest(folder));
      for (const argv of [
        ['sample', '--checkpoint', folder],
        ['--resume', folder, '--steps', '4'],
      ]) {
        const { code, stderr } = await run(...argv);
        expect([label, code]).toEqual([label, 2]);
        expect(stderr).toMatch(message);
        expect(stderr).toMatch(/^char-lm: [^\n]+\n$/);
      }
    }
  });
});

describe('the run folder: one complete set per save, the newest is current', () => {
  it('keeps the two newest sets, ignores and removes the temporary set a killed save left', async () => {
    const out = dir('sets');
    expect((await run(...tiny, '--steps', '4', '--save-every', '1', '--out', out)).code).toBe(0);
    expect(stepsIn(out).map((s) => s.step)).toEqual([3, 4]);
    // What a save killed before its rename leaves: a hidden, incomplete set of a later step.
    const torn = join(out, '.step-00000009.12345.tmp');
    mkdirSync(torn);
    writeFileSync(join(torn, 'checkpoint.safetensors'), 'half of it');
    const sampled = await run('sample', '--checkpoint', out, '--count', '1');
    expect(sampled.code).toBe(0);
    const resumed = await run('--resume', out, '--steps', '5');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('resuming at step 4');
    expect(existsSync(torn)).toBe(false);
    expect(stepsIn(out).map((s) => s.step)).toEqual([4, 5]);
  });

  it('resumes a run written before step folders (its files side by side)', async () => {
    const out = dir('flat-source');
    expect((await run(...tiny, '--steps', '2', '--out', out)).code).toBe(0);
    const flat = dir('flat');
    mkdirSync(flat);
    for (const file of ['checkpoint.safetensors', 'optimizer.safetensors', 'config.json']) {
      copyFileSync(join(newest(out), file), join(flat, file));
    }
    const resumed = await run('--resume', join(flat, 'checkpoint.safetensors'), '--steps', '3');
    expect([resumed.code, resumed.stderr]).toEqual([0, '']);
    expect(stepsIn(flat).map((s) => s.step)).toEqual([3]);
    expect((await run('sample', '--checkpoint', flat, '--count', '1')).code).toBe(0);
  });

  it('refuses, before any step, an --out that would lose a file or another run', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'precious');
    const onFile = await run(...tiny, '--steps', '2', '--out', file);
    expect([onFile.code, onFile.stderr]).toEqual([2, `char-lm: --out ${file}: is a file, not a folder\n`]);
    expect(readFileSync(file, 'utf8')).toBe('precious');

    const taken = dir('taken');
    expect((await run(...tiny, '--steps', '2', '--out', taken)).code).toBe(0);
    const before = stepsIn(taken);
    const fresh = await run(...tiny, '--steps', '2', '--out', taken);
    expect(fresh.code).toBe(2);
    expect(fresh.stderr).toMatch(/holds a run already \(at step 2\); continue it with --resume/);
    expect(fresh.stdout).toBe('');
    expect(stepsIn(taken)).toEqual(before);

    // Resuming an older set into its own folder would overwrite the later ones' future.
    expect((await run('--resume', taken, '--steps', '3')).code).toBe(0);
    const older = join(stepsIn(taken)[0]!.path, 'checkpoint.safetensors');
    const back = await run('--resume', older, '--steps', '5');
    expect(back.code).toBe(2);
    expect(back.stderr).toMatch(/holds a later checkpoint \(step 3\) than the one resumed \(step 2\)/);
    expect((await run('--resume', older, '--steps', '5', '--out', dir('branch'))).code).toBe(0);
  });
});

describe('a save that fails', () => {
  it('stops the run with one line naming the step and the folder, exit code 1', async () => {
    const out = dir('vanishing');
    let stderr = '';
    const code = await main([...tiny, '--steps', '20', '--save-every', '2', '--out', out], {
      write: (text) => {
        // The run folder is taken away under the run (a disk unmounted, a folder replaced).
        if (text.startsWith('step 3/20')) {
          rmSync(out, { recursive: true });
          writeFileSync(out, 'not a folder');
        }
      },
      error: (text) => {
        stderr += text;
      },
    });
    expect(code).toBe(1);
    expect(stderr).toMatch(
      new RegExp(
        `^char-lm: cannot save the checkpoint of step 4 in ${out} \\(E[A-Z]+\\); none was saved before\\n$`,
      ),
    );
  });
});
