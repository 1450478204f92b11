// A set in one file (config.json and Adam's state inside the checkpoint: what the web page downloads)
// reads as the step folder it was made from: the same samples, and a run resumed from it the same bit
// for bit as one resumed from the folder.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Adam, decodeSafetensors, saveSafetensors } from '@tapegrad/nn';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeSet } from '../src/bundle.js';
import { loadModel, readConfig } from '../src/run.js';
import { stepsIn } from '../src/store.js';
import { runMain } from './main.js';

const names = new URL('./fixtures/names.txt', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'char-lm-one-file-'));
const tiny = ['--text', names, '--hidden', '8', '--batch', '4', '--seed', '5'];
const run = join(scratch, 'run');
const oneFile = join(scratch, 'downloaded.safetensors');

/** The one-file set of a step folder's checkpoint, as the page builds it from its session. */
function writeOneFile(checkpoint: string, path: string): void {
  const config = readConfig(checkpoint);
  const { model } = loadModel(checkpoint, config);
  const optimizer = new Adam(model.parameters(), { lr: config.training.lr });
  const state = decodeSafetensors(readFileSync(join(checkpoint, '..', 'optimizer.safetensors')));
  optimizer.loadStateDict(state.tensors);
  writeFileSync(path, encodeSet(model, optimizer, config));
}

describe('a checkpoint that carries its config and optimizer state', () => {
  beforeAll(async () => {
    expect((await runMain(...tiny, '--steps', '6', '--out', run)).code).toBe(0);
    writeOneFile(join(stepsIn(run).at(-1)!.path, 'checkpoint.safetensors'), oneFile);
  });

  it('samples as the step folder does', async () => {
    const fromFolder = await runMain('sample', '--checkpoint', run, '--count', '4', '--seed', '2');
    const fromFile = await runMain('sample', '--checkpoint', oneFile, '--count', '4', '--seed', '2');
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout.trim().split('\n')).toHaveLength(4);
    expect(fromFile.stdout).toBe(fromFolder.stdout);
  });

  it('resumes as the step folder does, bit for bit', async () => {
    const a = join(scratch, 'resumed-from-folder');
    const b = join(scratch, 'resumed-from-file');
    expect((await runMain('--resume', run, '--steps', '9', '--out', a)).code).toBe(0);
    const resumed = await runMain('--resume', oneFile, '--steps', '9', '--out', b);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming at step 6/);
    for (const file of ['checkpoint.safetensors', 'optimizer.safetensors', 'config.json']) {
      const [left, right] = [a, b].map((out) => readFileSync(join(stepsIn(out).at(-1)!.path, file)));
      expect(right!.equals(left!), file).toBe(true);
    }
  });

  it('refuses a broken config in its metadata, naming it', async () => {
    const file = decodeSafetensors(readFileSync(oneFile));
    const config = JSON.parse(file.metadata.config!);
    config.progress.step = 5;
    const broken = join(scratch, 'broken.safetensors');
    writeFileSync(
      broken,
      saveSafetensors(file.tensors, { ...file.metadata, config: JSON.stringify(config) }),
    );
    const result = await runMain('sample', '--checkpoint', broken);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /broken\.safetensors \(config\.json in its metadata\): progress\.losses must hold one loss per step \(5\)/,
    );
    writeFileSync(broken, saveSafetensors(file.tensors, { ...file.metadata, config: '{' }));
    expect((await runMain('sample', '--checkpoint', broken)).stderr).toMatch(
      /in its metadata\): not valid JSON/,
    );
  });
});
