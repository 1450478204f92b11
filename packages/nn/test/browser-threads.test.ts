// The wasm kernels' threads in a browser: headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core) loads browser-threads-page.ts, bundled from the sources by esbuild, from a local
// server that makes the page cross-origin isolated (COOP same-origin + COEP require-corp) or not. In a
// Web Worker on an isolated page setThreads(2) gives 2 threads that run jobs on Web Workers, with the
// one-thread results bit for bit, and a worker killed in mid-call fails that call by name; on the main
// thread, and on a page that is not isolated, kernel calls stay on one thread and getThreads says 1.
// Skipped, saying why, where /usr/bin/chromium is missing (.ci/run installs it).
import type { Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  type Chromium,
  haveChromium,
  launchChromium,
  servePage,
} from '../../../scripts/chromium.js';
import type { Report } from './browser-threads-page.js';

if (!haveChromium) {
  console.warn(`browser-threads: skipped, no ${CHROMIUM} (apt-get install -y chromium; .ci/run does)`);
}

describe.runIf(haveChromium)('wasm threads in Chromium', () => {
  let browser: Chromium;
  let bundle: string;
  const servers: Server[] = [];

  beforeAll(async () => {
    const built = await build({
      entryPoints: [fileURLToPath(new URL('./browser-threads-page.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      conditions: ['source'],
      write: false,
      logLevel: 'silent',
    });
    bundle = built.outputFiles[0]!.text;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    for (const server of servers) server.close();
  });

  async function reports(isolated: boolean): Promise<{ main: Report; worker: Report }> {
    const html = '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
    const { server, url } = await servePage(html, { '/page.js': bundle }, { isolated });
    servers.push(server);
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    await page.waitForFunction(() => 'threadsReport' in globalThis, undefined, { timeout: 20_000 });
    const result = await page.evaluate(
      () => (globalThis as { threadsReport?: Promise<unknown> }).threadsReport,
    );
    await page.close();
    const { main, worker } = result as { main: Report | string; worker: Report | string };
    // A string is an error in the page (its message and stack): show it as the failure.
    expect(errors).toEqual([]);
    expect(typeof main === 'string' ? main : '').toBe('');
    expect(typeof worker === 'string' ? worker : '').toBe('');
    return { main: main as Report, worker: worker as Report };
  }

  it('an isolated page: 2 threads in a Web Worker, bit for bit; 1 on the main thread', async () => {
    const { main, worker } = await reports(true);
    expect(worker.crossOriginIsolated).toBe(true);
    expect(worker.setThreads).toBe(2);
    expect(worker.getThreads).toBe(2);
    expect(worker.singleThreadReason).toBeNull();
    expect(worker.residentBuffers).toBe(true);
    // The workers did take jobs (a gemm's bands, the LSTM's batch rows), and changed no bit.
    expect(worker.jobsOnWorkers).toBeGreaterThan(0);
    expect(worker.gemmEqual).toBe(true);
    expect(worker.lstmEqual).toBe(true);
    // A worker that dies in mid-call fails that call by name; the next call is right.
    expect(worker.deaths.map((d) => d.message)).toEqual([
      expect.stringMatching(/^kernels: worker 1 \(a Web Worker\) exited \(code 3\) while running sgemm/),
      expect.stringMatching(/^kernels: worker 1 \(a Web Worker\) stopped \(terminated\) while running sgemm/),
    ]);
    expect(worker.deaths.map((d) => d.nextEqual)).toEqual([true, true]);

    expect(main.crossOriginIsolated).toBe(true);
    expect(main.setThreads).toBe(1);
    expect(main.getThreads).toBe(1);
    expect(main.singleThreadReason).toMatch(/may not block/);
    expect(main.jobsOnWorkers).toBe(0);
    expect(main.gemmEqual).toBe(true);
    expect(main.lstmEqual).toBe(true);
  }, 60_000);

  it('a page that is not isolated: 1 thread everywhere, on a shared memory all the same', async () => {
    const { main, worker } = await reports(false);
    for (const report of [main, worker]) {
      expect(report.crossOriginIsolated, report.where).toBe(false);
      expect(report.setThreads, report.where).toBe(1);
      expect(report.getThreads, report.where).toBe(1);
      expect(report.singleThreadReason, report.where).toMatch(/not cross-origin isolated/);
      expect(report.jobsOnWorkers, report.where).toBe(0);
      expect(report.gemmEqual && report.lstmEqual, report.where).toBe(true);
      // Chromium makes a shared wasm memory without isolation (it may not be posted to a worker):
      // the kernels' buffers live in it, and need no copies.
      expect(report.residentBuffers, report.where).toBe(true);
    }
  }, 60_000);
});
