// Shared by the PyTorch parity tests: whether real torch is at hand, one python run over all of a test
// file's cases (scripts/parity/torch_parity.py), and the comparison (max |a - b| over max |b|).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DType, Tensor } from '@tapegrad/core';
import { expect } from 'vitest';
import { load, type Module, type StateDict, save } from '../src/index.js';

/** Debian's python3-torch installs for the system python; pyenv's `python3` on PATH has no torch. */
export const PYTHON = process.env.TAPEGRAD_TORCH_PYTHON ?? '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('../../../scripts/parity/torch_parity.py', import.meta.url));

/** Whether `PYTHON` imports torch, asked once when a test file loads; the reason when it does not. */
export const torch: { available: boolean; reason: string } = (() => {
  const probe = spawnSync(PYTHON, ['-c', 'import torch, numpy'], { encoding: 'utf8', timeout: 120_000 });
  if (probe.error) {
    const code = (probe.error as { code?: string }).code ?? probe.error.message;
    return { available: false, reason: `${PYTHON} cannot be run (${code})` };
  }
  if (probe.status !== 0) {
    const last = probe.stderr.trim().split('\n').pop() ?? '';
    return { available: false, reason: `${PYTHON} cannot import torch and numpy (${last})` };
  }
  return { available: true, reason: '' };
})();

/**
 * The title of a describe block that needs torch: as given where torch is at hand, else with the reason
 * it is skipped, so the skip shows in the test output (a warning says it once more).
 */
export function torchTitle(title: string): string {
  if (torch.available) return title;
  console.warn(
    `${title}: SKIPPED, ${torch.reason}. Install it with: apt-get install -y python3-torch (or set TAPEGRAD_TORCH_PYTHON)`,
  );
  return `${title} [SKIPPED: ${torch.reason}]`;
}

/** One case for the python script: its name, its `op` (what the script runs) and the op's settings. */
export interface ParityCase {
  name: string;
  op: string;
  [setting: string]: unknown;
}

/**
 * A test file's cases: each is written (NAME.params and NAME.inputs.safetensors, with tapegrad's own
 * `save`) as it is added, then one python process runs them all and each result is read with `load`.
 */
export class TorchRun {
  #dir: string | undefined;
  readonly #cases: ParityCase[] = [];
  versions: Record<string, string> = {};

  /** Made on first use: a skipped describe block still builds its TorchRun, and must leave nothing behind. */
  get dir(): string {
    this.#dir ??= mkdtempSync(join(tmpdir(), 'tapegrad-torch-parity-'));
    return this.#dir;
  }

  async add(
    parityCase: ParityCase,
    files: { params?: Module | StateDict; inputs: StateDict },
  ): Promise<void> {
    this.#cases.push(parityCase);
    if (files.params) await save(this.file(parityCase.name, 'params'), files.params);
    await save(this.file(parityCase.name, 'inputs'), files.inputs);
  }

  /** Runs torch over every case added; throws with python's own error output when it fails. */
  run(): void {
    writeFileSync(join(this.dir, 'cases.json'), JSON.stringify({ cases: this.#cases }));
    const result = spawnSync(PYTHON, [SCRIPT, this.dir], { encoding: 'utf8', timeout: 300_000 });
    if (result.error || result.status !== 0) {
      throw new Error(
        `torch_parity.py failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stderr}`,
      );
    }
    this.versions = JSON.parse(readFileSync(join(this.dir, 'versions.json'), 'utf8'));
  }

  file(name: string, kind: 'params' | 'inputs' | 'torch' | 'torch_params'): string {
    return join(this.dir, `${name}.${kind}.safetensors`);
  }

  /** What torch wrote for a case (outputs and grads), read with tapegrad's `load`. */
  result(name: string): Promise<StateDict> {
    return load(this.file(name, 'torch'));
  }

  remove(): void {
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
  }
}

/** float64 agrees to 1e-12 and float32 to 1e-5, each relative to the largest |value| torch gave. */
export const TOLERANCE: Record<DType, number> = { float64: 1e-12, float32: 1e-5 };

/** max |actual - expected| / max |expected| (0 when both are all zeros). */
export function relativeError(actual: Tensor, expected: Tensor): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.size; i++) {
    const e = expected.data[i]!;
    diff = Math.max(diff, Math.abs(actual.data[i]! - e));
    scale = Math.max(scale, Math.abs(e));
    if (Number.isNaN(actual.data[i]) || Number.isNaN(e)) return Number.NaN;
  }
  return diff === 0 ? 0 : diff / scale;
}

/** The worst error seen per label (a comparison's kind and dtype), printed when a file ends. */
export class ErrorLog {
  readonly #worst = new Map<string, { error: number; where: string }>();

  /**
   * Expects `actual` to match torch's `expected` (same shape and dtype, error within TOLERANCE) and keeps
   * the error under `label`; `where` names the case and quantity in a failure.
   */
  expectMatch(
    label: string,
    where: string,
    actual: Tensor | null | undefined,
    expected: Tensor | undefined,
  ): void {
    expect(expected, `${where}: torch wrote no value`).toBeDefined();
    expect(actual, `${where}: tapegrad has no value`).toBeTruthy();
    expect(actual!.shape, `${where}: shape`).toEqual(expected!.shape);
    expect(actual!.dtype, `${where}: dtype`).toBe(expected!.dtype);
    const error = relativeError(actual!, expected!);
    const key = `${label} ${expected!.dtype}`;
    const seen = this.#worst.get(key);
    if (!seen || !(error <= seen.error)) this.#worst.set(key, { error, where });
    expect(error, `${where}: max |tapegrad - torch| / max |torch|`).toBeLessThanOrEqual(
      TOLERANCE[expected!.dtype],
    );
  }

  /** A table of the worst errors, for the log. */
  report(title: string, versions: Record<string, string>): string {
    const rows = [...this.#worst]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, { error, where }]) => `  ${key.padEnd(36)} ${error.toExponential(2)}  (${where})`);
    const against = Object.entries(versions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return `${title}: worst relative error per comparison, against ${against}\n${rows.join('\n')}`;
  }
}
