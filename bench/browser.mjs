// `pnpm bench:browser`: lstm-big's training iteration in Chromium (a Web Worker of a cross-origin
// isolated page, where the wasm kernels' threads are Web Workers) and in Node (worker_threads), on 1
// and 2 threads each, in one run. The same module (src/threads.ts, the tapegrad contestant's
// iteration on the built packages) runs on both: imported here, bundled by esbuild for the page. After
// a warm-up, every round runs a block of iterations of each of the four, in an order that turns each
// round, so that a drift of the machine falls on all of them; the table gives the median of every
// iteration timed, the range of the rounds' medians, and each time over Node's one-thread time in the
// same round (the median of those ratios).
// Run with Node's tsx loader (the root script does): node --import tsx bench/browser.mjs [--rounds 7]
// [--iterations 15] [--warmup 20]. Needs Debian's chromium at /usr/bin/chromium (no browser download).
import { execFileSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { CHROMIUM, launchChromium, servePage } from '../scripts/chromium.ts';
import { median } from './src/sampling.ts';
import { block as nodeBlock } from './src/threads.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    iterations: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '20' },
  },
});
const count = (name) => {
  const value = Number(values[name]);
  if (!Number.isInteger(value) || value < 1) {
    console.error(`bench:browser: --${name} must be a whole number of at least 1, got ${values[name]}`);
    process.exit(2);
  }
  return value;
};
const [rounds, iterations, warmup] = [count('rounds'), count('iterations'), count('warmup')];

const bundle = (
  await build({
    entryPoints: [fileURLToPath(new URL('./src/threads.ts', import.meta.url))],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  })
).outputFiles[0].text;

// The page relays each request to its Web Worker, where the kernels may block (and so use threads).
const html = `<!doctype html><meta charset="utf-8"><script type="module">
const worker = new Worker('/threads.js', { type: 'module' });
globalThis.block = (threads, iterations) => new Promise((resolve, reject) => {
  worker.onmessage = ({ data }) => (data.error ? reject(new Error(data.error)) : resolve(data));
  worker.onerror = (event) => reject(new Error(event.message));
  worker.postMessage({ threads, iterations });
});
</script>`;
const { server, url } = await servePage(html, { '/threads.js': bundle });
const browser = await launchChromium();

try {
  const page = await browser.context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => 'block' in globalThis);
  const browserBlock = (threads, n) => page.evaluate(([t, k]) => globalThis.block(t, k), [threads, n]);

  const contestants = [
    { runtime: 'Node', threads: 1, run: nodeBlock },
    { runtime: 'Node', threads: 2, run: nodeBlock },
    { runtime: 'Chromium', threads: 1, run: browserBlock },
    { runtime: 'Chromium', threads: 2, run: browserBlock },
  ].map((c) => ({ ...c, times: [], roundMedians: [], losses: new Set() }));
  const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

  const loadBefore = loadavg()[0];
  for (const c of contestants) {
    const { threads } = await c.run(c.threads, warmup);
    if (threads !== c.threads) {
      throw new Error(`bench:browser: ${c.runtime} runs on ${threads} threads when asked for ${c.threads}`);
    }
  }
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < contestants.length; i++) {
      const c = contestants[(round + i) % contestants.length];
      await settle();
      const { times, loss } = await c.run(c.threads, iterations);
      c.times.push(...times);
      c.roundMedians.push(median(times));
      c.losses.add(loss);
    }
    process.stderr.write(`round ${round + 1}/${rounds}\n`);
  }

  // (Debian's wrapper script prints a complaint of its own on stderr.)
  const chromiumVersion = execFileSync(CHROMIUM, ['--version'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  }).trim();
  console.log(
    `lstm-big (I 64, H 128, O 64, B 32, T 50), ms/iteration, wall clock: median of ${rounds} × ${iterations} iterations after ${warmup} of warm-up each`,
  );
  console.log(
    `Node ${process.version}; ${chromiumVersion}, headless, a Web Worker of a cross-origin isolated page`,
  );
  // Other work on the machine takes cores from both threads' runs: say how busy it was.
  console.log(`load average (1 min): ${loadBefore.toFixed(2)} before, ${loadavg()[0].toFixed(2)} after`);
  console.log('');
  // Paired: the median over rounds of a time over Node's one-thread time in the same round, blocks
  // seconds apart, where the machine's drift between minutes does not enter.
  const base = contestants[0];
  console.log("| runtime | threads | median ms | rounds' medians, ms | over Node 1 thread, paired | loss |");
  console.log('|---|---|---|---|---|---|');
  for (const c of contestants) {
    const range = `${fixed(Math.min(...c.roundMedians))}–${fixed(Math.max(...c.roundMedians))}`;
    const paired = median(c.roundMedians.map((ms, r) => ms / base.roundMedians[r])).toFixed(2);
    const losses = [...c.losses].join(', ');
    console.log(
      `| ${c.runtime} | ${c.threads} | ${fixed(median(c.times))} | ${range} | ${paired} | ${losses} |`,
    );
  }
} finally {
  await browser.close();
  server.close();
}

function fixed(ms) {
  return ms.toFixed(ms < 10 ? 2 : 1);
}
