// A saved run is checked before anything is built from it: every field of config.json and of the
// optimizer's state spoiled in turn gives one line naming the file and the field, and exit code 2;
// special files, an unwritable --out and sizes that cannot fit are refused up front, promptly.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RandomState, Tensor, tensor } from '@tapegrad/core';
import { decodeSafetensors, saveSafetensors } from '@tapegrad/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import { CharModel } from '../src/model.js';
import { expectedParameters } from '../src/schema.js';
import { stepsIn } from '../src/store.js';
import { runMain } from './main.js';

const names = new URL('./fixtures/names.txt', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'char-lm-validate-'));
const base = join(scratch, 'base');

const run = runMain;

let counter = 0;
/** A copy of the base run's newest set to spoil (its files side by side, which --resume also takes). */
function copyOfBase(): string {
  const folder = join(scratch, `run-${counter++}`);
  cpSync(stepsIn(base).at(-1)!.path, folder, { recursive: true });
  return folder;
}

// biome-ignore lint/suspicious/noExplicitAny: a config being spoiled is any shape at all
type Json = any;
/** Stands for a number JSON cannot hold: written out as 1e999 (read back as Infinity) or -1e999. */
const INFINITY = '__infinity__';
const MINUS_INFINITY = '__minus_infinity__';

function writeConfig(folder: string, config: Json): void {
  const text = JSON.stringify(config)
    .replaceAll(`"${INFINITY}"`, '1e999')
    .replaceAll(`"${MINUS_INFINITY}"`, '-1e999');
  writeFileSync(join(folder, 'config.json'), text);
}

const readJson = (folder: string): Json => JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));

beforeAll(async () => {
  // Three steps: held-out losses at steps 1, 2 and 3, and Adam's state for every parameter.
  const { code } = await run('--text', names, '--hidden', '8', '--batch', '4', '--steps', '3', '--out', base);
  expect(code).toBe(0);
});

describe('config.json: every field checked, one line naming the file and the field', () => {
  // [field, spoil the parsed config (or return { replace } for a whole new one), the message after 'config.json: ']
  const cases: [string, (c: Json) => Json, string][] = [
    ['not an object', () => ({ replace: [] }), 'the file must be an object, got an array of 0'],
    ['format missing', (c) => delete c.format, 'format is missing'],
    ['format wrong', (c) => (c.format = 'x/1'), 'format must be "tapegrad-char-lm/1", got "x/1"'],
    ['vocab missing', (c) => delete c.vocab, 'vocab is missing'],
    ['vocab a string', (c) => (c.vocab = 'abc'), 'vocab must be an array of single characters, got "abc"'],
    ['vocab two characters', (c) => (c.vocab[1] = 'ab'), 'vocab[1] must be a single character, got "ab"'],
    ['vocab a number', (c) => (c.vocab[1] = 5), 'vocab[1] must be a single character, got 5'],
    ['vocab repeated', (c) => (c.vocab[2] = c.vocab[1]), 'vocab[2] repeats vocab[1] ("A")'],
    ['vocab no boundary', (c) => (c.vocab[0] = '#'), 'vocab[0] must be the line boundary "\\n", got "#"'],
    ['vocab too short', (c) => (c.vocab = ['\n']), 'vocab must hold at least 2 characters, got 1'],
    [
      'vocab longer than vocabSize',
      (c) => c.vocab.push('€'),
      'model.vocabSize must equal the length of vocab (40), got 39',
    ],
    ['model missing', (c) => delete c.model, 'model is missing'],
    ['model a number', (c) => (c.model = 5), 'model must be an object, got 5'],
    [
      'model.vocabSize fractional',
      (c) => (c.model.vocabSize = 2.5),
      'model.vocabSize must be an integer ≥ 2 and ≤ 1114112, got 2.5',
    ],
    [
      'model.embedding 0',
      (c) => (c.model.embedding = 0),
      'model.embedding must be an integer ≥ 1 and ≤ 4096, got 0',
    ],
    [
      'model.hidden 100000',
      (c) => (c.model.hidden = 100000),
      'model.hidden must be an integer ≥ 1 and ≤ 4096, got 100000',
    ],
    [
      'model.hidden a string',
      (c) => (c.model.hidden = '8'),
      'model.hidden must be an integer ≥ 1 and ≤ 4096, got "8"',
    ],
    ['model.hidden missing', (c) => delete c.model.hidden, 'model.hidden is missing'],
    [
      'model.layers 1e7',
      (c) => (c.model.layers = 1e7),
      'model.layers must be an integer ≥ 1 and ≤ 16, got 10000000',
    ],
    ['training missing', (c) => delete c.training, 'training is missing'],
    [
      'training.lr "abc"',
      (c) => (c.training.lr = 'abc'),
      'training.lr must be a number > 0 and ≤ 10, got "abc"',
    ],
    [
      'training.lr 1e6',
      (c) => (c.training.lr = 1e6),
      'training.lr must be a number > 0 and ≤ 10, got 1000000',
    ],
    [
      'training.lr null (NaN)',
      (c) => (c.training.lr = null),
      'training.lr must be a number > 0 and ≤ 10, got null',
    ],
    [
      'training.lr "NaN"',
      (c) => (c.training.lr = 'NaN'),
      'training.lr must be a number > 0 and ≤ 10, got "NaN"',
    ],
    [
      'training.lr 1e999',
      (c) => (c.training.lr = INFINITY),
      'training.lr must be a number > 0 and ≤ 10, got Infinity',
    ],
    [
      'training.batch 0',
      (c) => (c.training.batch = 0),
      'training.batch must be an integer ≥ 1 and ≤ 65536, got 0',
    ],
    [
      'training.batch -5',
      (c) => (c.training.batch = -5),
      'training.batch must be an integer ≥ 1 and ≤ 65536, got -5',
    ],
    [
      'training.batch 2.5',
      (c) => (c.training.batch = 2.5),
      'training.batch must be an integer ≥ 1 and ≤ 65536, got 2.5',
    ],
    [
      'training.batch 1e9',
      (c) => (c.training.batch = 1e9),
      'training.batch must be an integer ≥ 1 and ≤ 65536, got 1000000000',
    ],
    ['training.batch missing', (c) => delete c.training.batch, 'training.batch is missing'],
    [
      'training.clip -1',
      (c) => (c.training.clip = -1),
      'training.clip must be a number ≥ 0 and ≤ 1000000, got -1',
    ],
    [
      'training.clip -1e999',
      (c) => (c.training.clip = MINUS_INFINITY),
      'training.clip must be a number ≥ 0 and ≤ 1000000, got -Infinity',
    ],
    [
      'training.seed 2^32',
      (c) => (c.training.seed = 2 ** 32),
      'training.seed must be an integer ≥ 0 and ≤ 4294967295, got 4294967296',
    ],
    [
      'training.steps 0',
      (c) => (c.training.steps = 0),
      'training.steps must be an integer ≥ 1 and ≤ 10000000, got 0',
    ],
    ['training.text missing', (c) => delete c.training.text, 'training.text is missing'],
    [
      'training.text a number',
      (c) => (c.training.text = 5),
      'training.text must be a file path or null (the Pokémon names), got 5',
    ],
    ['baseline missing', (c) => delete c.baseline, 'baseline is missing'],
    ['baseline -1', (c) => (c.baseline = -1), 'baseline must be a number ≥ 0 and ≤ 100, got -1'],
    [
      'baseline 1e999',
      (c) => (c.baseline = INFINITY),
      'baseline must be a number ≥ 0 and ≤ 100, got Infinity',
    ],
    ['progress missing', (c) => delete c.progress, 'progress is missing'],
    ['progress.step missing', (c) => delete c.progress.step, 'progress.step is missing'],
    [
      'progress.step fractional',
      (c) => (c.progress.step = 1.5),
      'progress.step must be an integer ≥ 0 and ≤ 10000000, got 1.5',
    ],
    [
      'progress.step past training.steps',
      (c) => (c.progress.step = 25),
      'progress.step must be ≤ training.steps (3), got 25',
    ],
    [
      'progress.losses one short',
      (c) => c.progress.losses.pop(),
      'progress.losses must hold one loss per step (3), got 2',
    ],
    ['progress.losses missing', (c) => delete c.progress.losses, 'progress.losses is missing'],
    [
      'progress.losses an object',
      (c) => (c.progress.losses = {}),
      'progress.losses must be an array of losses, got an object',
    ],
    [
      'progress.losses[1] a string',
      (c) => (c.progress.losses[1] = 'x'),
      'progress.losses[1] must be a number ≥ 0 (or null for NaN), got "x"',
    ],
    [
      'progress.losses[0] negative',
      (c) => (c.progress.losses[0] = -1),
      'progress.losses[0] must be a number ≥ 0 (or null for NaN), got -1',
    ],
    [
      'progress.losses[2] 1e999',
      (c) => (c.progress.losses[2] = INFINITY),
      'progress.losses[2] must be a number ≥ 0 (or null for NaN), got Infinity',
    ],
    ['progress.heldOut missing', (c) => delete c.progress.heldOut, 'progress.heldOut is missing'],
    [
      'progress.heldOut[0] not a pair',
      (c) => (c.progress.heldOut[0] = 5),
      'progress.heldOut[0] must be a [step, nats] pair, got 5',
    ],
    [
      'progress.heldOut[0] a triple',
      (c) => c.progress.heldOut[0].push(1),
      'progress.heldOut[0] must be a [step, nats] pair, got an array of 3',
    ],
    [
      'progress.heldOut step past progress.step',
      (c) => (c.progress.heldOut[0][0] = 9),
      'progress.heldOut[0][0] must be an integer ≥ 1 and ≤ 3, got 9',
    ],
    [
      'progress.heldOut nats a string',
      (c) => (c.progress.heldOut[1][1] = 'x'),
      'progress.heldOut[1][1] must be a number ≥ 0 (or null for NaN), got "x"',
    ],
    ['progress.rng missing', (c) => delete c.progress.rng, 'progress.rng is missing'],
    ['progress.rng.key missing', (c) => delete c.progress.rng.key, 'progress.rng.key is missing'],
    [
      'progress.rng.key short',
      (c) => (c.progress.rng.key = c.progress.rng.key.slice(0, 3)),
      'progress.rng.key must be an array of 624 integers, got an array of 3',
    ],
    [
      'progress.rng.key[5] negative',
      (c) => (c.progress.rng.key[5] = -1),
      'progress.rng.key[5] must be an integer ≥ 0 and ≤ 4294967295, got -1',
    ],
    [
      'progress.rng.pos 625',
      (c) => (c.progress.rng.pos = 625),
      'progress.rng.pos must be an integer ≥ 0 and ≤ 624, got 625',
    ],
    [
      'progress.rng.hasGauss a string',
      (c) => (c.progress.rng.hasGauss = 'yes'),
      'progress.rng.hasGauss must be true or false, got "yes"',
    ],
    ['progress.rng.gauss missing', (c) => delete c.progress.rng.gauss, 'progress.rng.gauss is missing'],
    [
      'progress.rng.gauss 1e999',
      (c) => (c.progress.rng.gauss = INFINITY),
      'progress.rng.gauss must be a finite number, got Infinity',
    ],
  ];
  for (const [label, spoil, message] of cases) {
    it(label, async () => {
      const folder = copyOfBase();
      const config = readJson(folder);
      const result = spoil(config);
      const whole = typeof result === 'object' && result !== null && 'replace' in result;
      writeConfig(folder, whole ? result.replace : config);
      const checkpoint = join(folder, 'checkpoint.safetensors');
      const line = `char-lm: ${join(folder, 'config.json')}: ${message}\n`;
      for (const argv of [
        ['sample', '--checkpoint', checkpoint],
        ['--resume', checkpoint, '--steps', '10'],
      ]) {
        const { code, stdout, stderr } = await run(...argv);
        expect([argv[0], code, stderr, stdout]).toEqual([argv[0], 2, line, '']);
      }
    });
  }
});

describe('config.json against the checkpoint: vocabulary, sizes and step', () => {
  const cases: [string, (c: Json) => void, string][] = [
    [
      'a character more (vocab and vocabSize agree)',
      (c) => {
        c.vocab.push('€');
        c.model.vocabSize = 40;
      },
      'does not match the model in config.json: embedding.weight (for 40 characters) must be float32 [40,32], got float32 [39,32]',
    ],
    [
      'another hidden size',
      (c) => (c.model.hidden = 9),
      'does not match the model in config.json: lstm.weight_ih_l0 (an LSTM weight) must be float32 [36,32], got float32 [32,32]',
    ],
    [
      'another layer',
      (c) => (c.model.layers = 2),
      'does not match the model in config.json: lstm.weight_ih_l1 (an LSTM weight) is missing',
    ],
    [
      'an earlier step',
      (c) => {
        c.progress.step = 2;
        c.progress.losses.pop();
        c.progress.heldOut.pop();
      },
      'it holds step 3 but config.json beside it is at step 2',
    ],
  ];
  for (const [label, spoil, message] of cases) {
    it(label, async () => {
      const folder = copyOfBase();
      const config = readJson(folder);
      spoil(config);
      writeConfig(folder, config);
      const checkpoint = join(folder, 'checkpoint.safetensors');
      for (const argv of [
        ['sample', '--checkpoint', checkpoint],
        ['--resume', checkpoint, '--steps', '10'],
      ]) {
        const { code, stderr } = await run(...argv);
        expect([argv[0], code, stderr]).toEqual([argv[0], 2, `char-lm: ${checkpoint}: ${message}\n`]);
      }
    });
  }

  it('expectedParameters lists CharModel.parameters() in order, names and shapes', () => {
    const config = { vocabSize: 5, embedding: 3, hidden: 4, layers: 3 };
    const model = new CharModel(config, new RandomState(0));
    const actual = model.namedParameters().map(([name, p]) => ({ name, shape: [...p.shape] }));
    expect(expectedParameters(config)).toEqual(actual);
    expect(model.parameters().map((p) => p.dtype)).toEqual(actual.map(() => 'float32'));
  });
});

describe('optimizer.safetensors: Adam state for every parameter at the same step', () => {
  type State = ReturnType<typeof decodeSafetensors>;
  const cases: [string, (s: State) => void, string][] = [
    ['no tensors', (s) => (s.tensors = {}), "0.step (Adam's step count of embedding.weight) is missing"],
    [
      'only parameter 0',
      (s) => {
        for (const key of Object.keys(s.tensors)) if (!key.startsWith('0.')) delete s.tensors[key];
      },
      "1.step (Adam's step count of lstm.weight_ih_l0) is missing",
    ],
    [
      'a moment missing',
      (s) => delete s.tensors['6.exp_avg_sq'],
      "6.exp_avg_sq (Adam's second moment of head.bias) is missing",
    ],
    [
      'a moment of the wrong shape',
      (s) => (s.tensors['2.exp_avg'] = tensor(new Float32Array(32 * 9), { shape: [32, 9] })),
      "2.exp_avg (Adam's first moment of lstm.weight_hh_l0) must be float32 [32,8], got float32 [32,9]",
    ],
    [
      'a moment of the wrong dtype',
      (s) => (s.tensors['3.exp_avg_sq'] = tensor(new Float64Array(32), { shape: [32] })),
      "3.exp_avg_sq (Adam's second moment of lstm.bias_ih_l0) must be float32 [32], got float64 [32]",
    ],
    [
      'a step count that disagrees',
      (s) => (s.tensors['4.step'] = new Tensor(Float64Array.of(2), [])),
      "4.step (Adam's step count of lstm.bias_hh_l0) is 2",
    ],
    [
      'an extra parameter',
      (s) => (s.tensors['7.exp_avg'] = tensor(new Float32Array(4), { shape: [4] })),
      "unexpected tensor '7.exp_avg'",
    ],
  ];
  const prefix = 'does not fit the checkpoint at step 3: ';
  const metadataCases: [string, (s: State) => void, string][] = [
    [
      'metadata from another step',
      (s) => (s.metadata.step = '2'),
      'its metadata step must be 3 (config.json\'s and the checkpoint\'s), got "2"',
    ],
    [
      'metadata without the format',
      (s) => delete s.metadata.format,
      'not an optimizer state of this program',
    ],
  ];
  for (const [label, spoil, message] of [
    ...cases.map(([l, s, m]): [string, (s: State) => void, string] => [l, s, prefix + m]),
    ...metadataCases,
  ]) {
    it(label, async () => {
      const folder = copyOfBase();
      const path = join(folder, 'optimizer.safetensors');
      const state = decodeSafetensors(readFileSync(path));
      spoil(state);
      writeFileSync(path, saveSafetensors(state.tensors, state.metadata));
      const { code, stdout, stderr } = await run(
        '--resume',
        join(folder, 'checkpoint.safetensors'),
        '--steps',
        '10',
      );
      expect([code, stderr, stdout]).toEqual([2, `char-lm: ${path}: ${message}\n`, '']);
    });
  }

  it('the base run resumes (nothing above refuses a good run)', async () => {
    const folder = copyOfBase();
    const { code, stderr } = await run('--resume', join(folder, 'checkpoint.safetensors'), '--steps', '5');
    expect([code, stderr]).toEqual([0, '']);
    expect(readJson(stepsIn(folder).at(-1)!.path).progress.step).toBe(5);
  });
});

describe('special files are refused before reading, promptly', () => {
  const fifo = join(scratch, 'fifo');
  const zero = join(scratch, 'zero');
  beforeAll(() => {
    execFileSync('mkfifo', [fifo]);
    symlinkSync('/dev/zero', zero);
  });

  const textCases: [string, () => string, string][] = [
    ['a FIFO', () => fifo, 'is a FIFO, not a regular file'],
    ['a symlink to /dev/zero', () => zero, 'is a character device, not a regular file'],
    ['a directory', () => scratch, 'is a directory, not a regular file'],
  ];
  for (const [label, path, message] of textCases) {
    it(`--text ${label}`, { timeout: 5000 }, async () => {
      const { code, stderr } = await run('--text', path(), '--steps', '1', '--out', join(scratch, 'unused'));
      expect([code, stderr]).toEqual([2, `char-lm: --text ${path()}: ${message}\n`]);
    });
  }

  // Each file of a run replaced by a special file in turn; [file, what replaces it, message, commands].
  const runCases: [string, 'fifo' | 'zero' | 'dir', string][] = [
    ['checkpoint.safetensors', 'fifo', 'is a FIFO, not a regular file'],
    ['checkpoint.safetensors', 'zero', 'is a character device, not a regular file'],
    ['checkpoint.safetensors', 'dir', 'is a directory, not a regular file'],
    ['config.json', 'fifo', 'is a FIFO, not a regular file'],
    ['config.json', 'zero', 'is a character device, not a regular file'],
    ['optimizer.safetensors', 'fifo', 'is a FIFO, not a regular file'],
    ['optimizer.safetensors', 'zero', 'is a character device, not a regular file'],
  ];
  for (const [file, kind, message] of runCases) {
    it(`${file} as ${kind}`, { timeout: 5000 }, async () => {
      const folder = copyOfBase();
      const path = join(folder, file);
      rmSync(path);
      if (kind === 'fifo') execFileSync('mkfifo', [path]);
      else if (kind === 'zero') symlinkSync('/dev/zero', path);
      else mkdirSync(path);
      const checkpoint = join(folder, 'checkpoint.safetensors');
      const commands = [['--resume', checkpoint, '--steps', '10']];
      // sample reads no optimizer state
      if (file !== 'optimizer.safetensors') commands.push(['sample', '--checkpoint', checkpoint]);
      for (const argv of commands) {
        const { code, stderr } = await run(...argv);
        // A folder given for the checkpoint is taken for a run folder, and holds none.
        const line =
          kind === 'dir'
            ? `char-lm: ${argv[0] === 'sample' ? '--checkpoint' : '--resume'} ${path}: holds no checkpoint (no step-NNNNNNNN folder, no checkpoint.safetensors)\n`
            : `char-lm: ${path}: ${message}\n`;
        expect([argv[0], code, stderr]).toEqual([argv[0], 2, line]);
      }
    });
  }
});

describe('refused before the first step', () => {
  it('--out naming an existing file', async () => {
    const file = join(scratch, 'a-file');
    writeFileSync(file, 'not a folder');
    const { code, stdout, stderr } = await run(
      '--text',
      names,
      '--hidden',
      '8',
      '--steps',
      '5',
      '--out',
      file,
    );
    expect([code, stderr, stdout]).toEqual([2, `char-lm: --out ${file}: is a file, not a folder\n`, '']);
    const under = join(file, 'run');
    const nested = await run('--text', names, '--hidden', '8', '--steps', '5', '--out', under);
    expect([nested.code, nested.stderr, nested.stdout]).toEqual([
      2,
      `char-lm: --out ${under} (its parent ${file}): is a file, not a folder\n`,
      '',
    ]);
    expect(readFileSync(file, 'utf8')).toBe('not a folder');
  });

  it('sizes that cannot fit, with the memory they would need', { timeout: 5000 }, async () => {
    const { code, stdout, stderr } = await run(
      '--text',
      names,
      '--batch',
      '65536',
      '--hidden',
      '4096',
      '--out',
      join(scratch, 'big'),
    );
    expect([code, stdout]).toEqual([2, '']);
    expect(stderr).toMatch(
      /^char-lm: --batch 65536 --hidden 4096 \(1 layer, 39 characters, lines up to 8 long\) would need about \d+ GB for one training step; this program can use at most 4\.0 GB \(wasm memory\): lower --batch or --hidden\n$/,
    );
  });

  it('a resumed run whose config.json asks for sizes that cannot fit', { timeout: 5000 }, async () => {
    const folder = copyOfBase();
    const config = readJson(folder);
    config.model.hidden = 4096;
    config.training.batch = 65536;
    writeConfig(folder, config);
    const { code, stderr } = await run('--resume', join(folder, 'checkpoint.safetensors'), '--steps', '10');
    expect(code).toBe(2);
    expect(stderr).toMatch(
      /^char-lm: --batch 65536 --hidden 4096 \(1 layer, 39 characters, lines up to 8 long\) would need about \d+ GB/,
    );
  });
});
