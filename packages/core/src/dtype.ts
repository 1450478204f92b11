// The two dtypes tapegrad computes in, and the typed arrays behind them.

export type DType = 'float32' | 'float64';
export type TypedArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['float32', 'float64'];

export function dtypeOf(data: TypedArray): DType {
  return data instanceof Float64Array ? 'float64' : 'float32';
}

export function isDType(value: unknown): value is DType {
  return value === 'float32' || value === 'float64';
}

/** Raised when dtypes do not match or a dtype is unknown; names the op. */
export class DTypeError extends TypeError {
  override name = 'DTypeError';
}
