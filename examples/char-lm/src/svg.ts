// The loss curve as a standalone SVG chart: raw and smoothed per-step loss, the unigram baseline,
// labelled axes with round-number ticks.

export interface CurveOptions {
  title: string;
  /** A horizontal reference line (the unigram cross-entropy), labelled. */
  baseline?: number;
  /** [step, value] points measured on held-out lines, drawn as dots joined by a line. */
  heldOut?: readonly (readonly [number, number])[];
}

const WIDTH = 760;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 20, top: 40, bottom: 55 };

/** Multiples of 1, 2 or 5 times a power of ten, about `count` of them, covering [low, high]. */
export function niceTicks(low: number, high: number, count = 6): number[] {
  const span = high - low || 1;
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  const last = Math.ceil(high / step - 1e-9) * step;
  for (let v = Math.floor(low / step + 1e-9) * step; v <= last + step / 2; v += step)
    ticks.push(Number(v.toPrecision(12)));
  if (ticks.length < 2) ticks.push(Number(((ticks[0] ?? low) + step).toPrecision(12)));
  return ticks;
}

/** Exponential moving average with bias correction (so the first points are not pulled to 0). */
export function smooth(values: readonly number[], beta = 0.98): number[] {
  let average = 0;
  return values.map((v, i) => {
    average = beta * average + (1 - beta) * v;
    return average / (1 - beta ** (i + 1));
  });
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** `losses[i]` is the loss of step i + 1. */
export function lossCurveSvg(losses: readonly number[], options: CurveOptions): string {
  const steps = Math.max(losses.length, 1);
  // An average over about a fiftieth of the run (5 to 50 steps), so the smoothed curve does not lag far behind.
  const beta = Number((1 - 1 / Math.min(50, Math.max(5, steps / 50))).toFixed(3));
  const finite = losses.filter(Number.isFinite);
  const held = options.heldOut ?? [];
  const values = [
    ...finite,
    ...held.map(([, v]) => v),
    ...(options.baseline === undefined ? [] : [options.baseline]),
  ];
  // reduce, not Math.min(...values): a long run would overflow the argument list.
  const lowest = values.reduce((a, b) => Math.min(a, b), Infinity);
  const highest = values.reduce((a, b) => Math.max(a, b), -Infinity);
  const yTicks = values.length > 0 ? niceTicks(lowest, highest) : [0, 1];
  const yMin = yTicks[0]!;
  const yMax = yTicks[yTicks.length - 1]!;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (step: number): number => MARGIN.left + (plotW * step) / steps;
  const y = (v: number): number => MARGIN.top + plotH * (1 - (v - yMin) / (yMax - yMin || 1));
  const line = (series: readonly number[]): string => {
    // At most ~1,500 points: a long run would make a large file that looks the same.
    const stride = Math.max(1, Math.ceil(series.length / 1500));
    const points: string[] = [];
    for (let i = 0; i < series.length; i += stride) {
      if (Number.isFinite(series[i]!)) points.push(`${x(i + 1).toFixed(1)},${y(series[i]!).toFixed(1)}`);
    }
    return points.join(' ');
  };
  const bottom = MARGIN.top + plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(options.title)}</text>`,
  ];
  for (const v of yTicks) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${MARGIN.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`,
    );
  }
  for (const s of niceTicks(0, steps).filter((s) => s <= steps)) {
    parts.push(
      `<line x1="${x(s).toFixed(1)}" x2="${x(s).toFixed(1)}" y1="${bottom}" y2="${bottom + 5}" stroke="black"/>`,
      `<text x="${x(s).toFixed(1)}" y="${bottom + 19}" text-anchor="middle">${s}</text>`,
    );
  }
  parts.push(
    `<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${bottom}" stroke="black"/>`,
    `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${bottom}" y2="${bottom}" stroke="black"/>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">training step</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">cross-entropy (nats per character)</text>`,
    `<polyline fill="none" stroke="#9ecae1" stroke-width="1" points="${line(losses)}"/>`,
    `<polyline fill="none" stroke="#08519c" stroke-width="2" points="${line(smooth(losses, beta))}"/>`,
  );
  if (held.length > 0) {
    const points = held.map(([s, v]) => `${x(s).toFixed(1)},${y(v).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="#e6550d" stroke-width="1.5" points="${points.join(' ')}"/>`);
    for (const point of points) {
      const [cx, cy] = point.split(',');
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3.5" fill="#e6550d"/>`);
    }
  }
  if (options.baseline !== undefined) {
    const yb = y(options.baseline).toFixed(1);
    parts.push(
      `<line x1="${MARGIN.left}" x2="${WIDTH - MARGIN.right}" y1="${yb}" y2="${yb}" stroke="#cb181d" stroke-dasharray="6 4"/>`,
      `<text x="${WIDTH - MARGIN.right - 4}" y="${Number(yb) - 6}" text-anchor="end" fill="#cb181d">unigram baseline ${options.baseline.toFixed(3)}</text>`,
    );
  }
  const legendY = MARGIN.top + 14;
  parts.push(
    `<line x1="${WIDTH - 230}" x2="${WIDTH - 205}" y1="${legendY}" y2="${legendY}" stroke="#9ecae1" stroke-width="2"/>`,
    `<text x="${WIDTH - 200}" y="${legendY + 4}">loss per step</text>`,
    `<line x1="${WIDTH - 230}" x2="${WIDTH - 205}" y1="${legendY + 18}" y2="${legendY + 18}" stroke="#08519c" stroke-width="2"/>`,
    `<text x="${WIDTH - 200}" y="${legendY + 22}">smoothed (EMA ${beta})</text>`,
    `<circle cx="${WIDTH - 217.5}" cy="${legendY + 36}" r="3.5" fill="#e6550d"/>`,
    `<text x="${WIDTH - 200}" y="${legendY + 40}">held-out lines</text>`,
    '</svg>',
  );
  return `${parts.join('\n')}\n`;
}
