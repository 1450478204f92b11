// The range of every numeric setting, shared by the command line (args.ts), the checks of a saved
// run's config.json (schema.ts) and the web page: no Node here, so a browser bundle can import it.

/** What a number must be: within [min, max] (above min only, when `above`), and whole when `integer`. */
export interface Range {
  min: number;
  max: number;
  integer?: boolean;
  above?: boolean;
}

/**
 * The range of every numeric setting, shared by the command line and the checks of a saved run's
 * config.json (schema.ts), so a resumed run is held to what a fresh one may ask for.
 */
export const RANGES = {
  hidden: { min: 1, max: 4096, integer: true },
  layers: { min: 1, max: 16, integer: true },
  steps: { min: 1, max: 10_000_000, integer: true },
  lr: { min: 0, max: 10, above: true },
  batch: { min: 1, max: 65_536, integer: true },
  seed: { min: 0, max: 2 ** 32 - 1, integer: true },
  clip: { min: 0, max: 1e6 },
  count: { min: 1, max: 100_000, integer: true },
  temperature: { min: 0, max: 100, above: true },
  'save-every': { min: 1, max: 10_000_000, integer: true },
} satisfies Record<string, Range>;

/** '≥ 1 and ≤ 65536' or '> 0 and ≤ 10'. */
export const boundsOf = (range: Range): string =>
  `${range.above ? `> ${range.min}` : `≥ ${range.min}`} and ≤ ${range.max}`;

/** Whether n is a finite number of the range (whole if it must be). */
export const inRange = (n: number, range: Range): boolean =>
  Number.isFinite(n) &&
  (!range.integer || Number.isInteger(n)) &&
  (range.above ? n > range.min : n >= range.min) &&
  n <= range.max;
