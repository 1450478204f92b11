// fast-check inputs shared by nn's tests.
import { type Tensor, tensor } from '@tapegrad/core';
import * as fc from 'fast-check';

/** logits [rows, classes], float64 on a 1e-3 grid in [-4, 4] (so finite differences stay tame). */
export const gridLogits = (rows: number, classes: number): fc.Arbitrary<Tensor> =>
  fc
    .array(fc.integer({ min: -4000, max: 4000 }), {
      minLength: rows * classes,
      maxLength: rows * classes,
    })
    .map((v) =>
      tensor(
        v.map((k) => k / 1000),
        { dtype: 'float64', shape: [rows, classes] },
      ),
    );
