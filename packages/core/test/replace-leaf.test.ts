// replaceLeafData (@tapegrad/core/kernels): how nn's Parameter.assign swaps a weight's buffer without
// reaching into Tensor's private fields. Checked before anything changes; the buffer survives tidy.
import { describe, expect, it } from 'vitest';
import { add, DTypeError, keep, ShapeError, sum, tensor, tidy, zeros } from '../src/index.js';
import { replaceLeafData } from '../src/kernels.js';

describe('replaceLeafData', () => {
  it('makes the leaf view the new buffer, keeping its identity and grad', () => {
    const leaf = tensor([1, 2, 3], { requiresGrad: true });
    sum(leaf).backward();
    const value = tensor([4, 5, 6]);
    replaceLeafData(leaf, value);
    expect(leaf.data).toBe(value.data);
    expect(leaf.requiresGrad).toBe(true);
    expect([...leaf.grad!.data]).toEqual([1, 1, 1]);
  });

  it('refuses another dtype, shape or a non-leaf, and changes nothing', () => {
    const leaf = tensor([1, 2, 3]);
    const before = leaf.data;
    expect(() => replaceLeafData(leaf, tensor([1, 2, 3], { dtype: 'float64' }))).toThrow(DTypeError);
    expect(() => replaceLeafData(leaf, tensor([[1, 2, 3]]))).toThrow(ShapeError);
    expect(() => replaceLeafData(leaf, tensor([1, 2]))).toThrow(/replaceLeafData: expected float32 \[3\]/);
    const made = add(tensor([1, 2, 3], { requiresGrad: true }), 1);
    expect(() => replaceLeafData(made, tensor([1, 2, 3]))).toThrow(/not a leaf/);
    expect(() => replaceLeafData(leaf, [1, 2, 3] as never)).toThrow(TypeError);
    expect(leaf.data).toBe(before);
  });

  it('keeps the value, so a tidy scope neither disposes it nor recycles the buffer', () => {
    const leaf = keep(zeros([8192])); // 32 KB: past the pool's floor
    tidy(() => {
      const value = add(zeros([8192]), 2);
      replaceLeafData(leaf, value);
    });
    tidy(() => zeros([8192])); // would take a recycled buffer, and zero it
    expect(leaf.data.every((v) => v === 2)).toBe(true);
  });

  it('refuses a disposed value', () => {
    const leaf = keep(zeros([2]));
    let gone = zeros([2]);
    tidy(() => {
      gone = zeros([2]);
    });
    expect(() => replaceLeafData(leaf, gone)).toThrow(/disposed/);
  });
});
