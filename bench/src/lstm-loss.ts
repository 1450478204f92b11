// The LSTM loss that hvp.ts and jvp.ts time: nn's whole-sequence LSTM (what the LSTM layer runs), then
// linearCrossEntropy summed over steps and batch, as a function of the six parameters, in float32; and
// the same loss through the sequence op's reference (the LSTM unrolled into core ops).
import { RandomState, reshape, type Tensor, tensor } from '@tapegrad/core';
import { linearCrossEntropy, lstmSequence, lstmSequenceOp } from '@tapegrad/nn';

export interface Size {
  name: string;
  input: number;
  hidden: number;
  output: number;
  batch: number;
  steps: number;
}

export const sizes: readonly Size[] = [
  { name: 'lstm-small', input: 3, hidden: 5, output: 2, batch: 10, steps: 4 },
  { name: 'lstm-mid', input: 16, hidden: 32, output: 16, batch: 16, steps: 20 },
];

export interface LstmLoss {
  /** weightIh, weightHh, biasIh, biasHh, weightOut, biasOut: U(-0.3, 0.3) from RandomState(0). */
  params: Tensor[];
  /** One tangent per parameter, of its shape, drawn after the parameters. */
  tangents: Tensor[];
  /** The loss through the fused sequence op. */
  loss: (...params: Tensor[]) => Tensor;
  /** The loss through the sequence op's reference. */
  unrolled: (...params: Tensor[]) => Tensor;
  /** All six parameters: [0, 1, 2, 3, 4, 5]. */
  argnums: number[];
}

export function lstmLoss({ input: I, hidden: H, output: O, batch: B, steps: T }: Size): LstmLoss {
  const rng = new RandomState(0);
  const draw = (...shape: number[]) => rng.uniform(-0.3, 0.3, shape, { dtype: 'float32' });
  const params = [draw(4 * H, I), draw(4 * H, H), draw(4 * H), draw(4 * H), draw(O, H), draw(O)];
  const tangents = params.map((p) => draw(...p.shape));
  const x = draw(T, B, I);
  const h0 = tensor(new Float32Array(B * H), { shape: [B, H] });
  const targets = tensor(
    Array.from({ length: T * B }, (_, i) => i % O),
    { dtype: 'float64' },
  );
  const lossWith =
    (sequence: typeof lstmSequence) =>
    (...p: Tensor[]): Tensor => {
      const [out] = sequence(x, h0, h0, p[0]!, p[1]!, p[2]!, p[3]!);
      return linearCrossEntropy(reshape(out!, [T * B, H]), p[4]!, p[5]!, targets, { reduction: 'sum' });
    };
  return {
    params,
    tangents,
    loss: lossWith(lstmSequence),
    unrolled: lossWith((...inputs) => lstmSequenceOp.reference!(...inputs) as [Tensor, Tensor, Tensor]),
    argnums: [0, 1, 2, 3, 4, 5],
  };
}
