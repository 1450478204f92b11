// The page in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core), served
// cross-origin isolated and not: it trains and the loss falls, stops, hands over a checkpoint that the
// command line samples and resumes from, resumes (in the page, and from the downloaded file, to the
// same losses), and the cells' gradient checks all pass.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors } from '@tapegrad/nn';
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { CHROMIUM, type Chromium, haveChromium as found, launchChromium } from '../../../scripts/chromium.js';
import type { RunConfig } from '../../char-lm/src/config.js';
import { stepsIn } from '../../char-lm/src/store.js';
import { runMain } from '../../char-lm/test/main.js';

const missing = `skipped: no ${CHROMIUM} (apt-get install -y chromium; .ci/run installs it when it can)`;
if (!found) console.warn(`char-lm-web page test ${missing}`);
const server = new URL('../server.mjs', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'char-lm-web-'));
const running: { server: ChildProcess; browser: Chromium }[] = [];

afterAll(async () => {
  for (const { server, browser } of running) {
    await browser.close();
    server.kill();
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** The server on a free port; resolves to the URL it prints. */
function serve(args: string[]): Promise<{ url: string; process: ChildProcess }> {
  const child = spawn(process.execPath, [server, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let output = '';
    const read = (chunk: Buffer) => {
      output += chunk;
      const url = /http:\/\/127\.0\.0\.1:\d+\//.exec(output)?.[0];
      if (url) resolve({ url, process: child });
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.on('exit', (code) => reject(new Error(`the server exited (${code}) before serving:\n${output}`)));
  });
}

/** The page, served isolated or not, and the errors it reports (uncaught, or on its console). */
async function open(isolated: boolean): Promise<{ page: Page; problems: string[] }> {
  const { url, process: child } = await serve(isolated ? [] : ['--no-isolation']);
  // A fresh profile each time, and nothing that reaches out to the network on its own.
  const browser = await launchChromium({ acceptDownloads: true });
  running.push({ server: child, browser });
  const page = browser.context.pages()[0] ?? (await browser.context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  await page.goto(url);
  await page.waitForSelector('#env[data-threads]');
  return { page, problems };
}

const status = async (page: Page) => ({
  state: await page.getAttribute('#status', 'data-state'),
  step: Number(await page.getAttribute('#status', 'data-step')),
});
const untilState = (page: Page, state: string) =>
  page.waitForSelector(`#status[data-state="${state}"]`, { timeout: 30_000 });
const plotted = async (page: Page) => ({
  first: Number(await page.getAttribute('#loss', 'data-first')),
  recent: await page.getAttribute('#loss', 'data-recent'),
  points: Number(await page.getAttribute('#loss', 'data-points')),
});

describe.skipIf(!found)(found ? 'the web page in headless Chromium' : `the web page (${missing})`, () => {
  for (const isolated of [true, false]) {
    it(`trains, stops, downloads a checkpoint the CLI reads, resumes, gradchecks (${isolated ? 'cross-origin isolated' : 'not isolated'})`, async () => {
      const { page, problems } = await open(isolated);
      expect(await page.getAttribute('#env', 'data-isolated')).toBe(String(isolated));
      const threads = Number(await page.getAttribute('#env', 'data-threads'));
      if (isolated)
        expect(threads).toBe(Math.min(2, await page.evaluate(() => navigator.hardwareConcurrency)));
      else expect(threads).toBe(1);

      // A small model, a high rate: the loss falls within tens of steps.
      const small = { hidden: 16, batch: 16, lr: 0.01, seed: 1 };
      for (const [id, value] of Object.entries({ ...small, steps: 2000 })) {
        await page.fill(`#${id}`, String(value));
      }
      await page.click('#start');
      await page.waitForFunction(() => Number(document.getElementById('status')!.dataset.step) >= 60, null, {
        timeout: 30_000,
      });
      await page.click('#stop');
      await untilState(page, 'stopped');
      const stopped = (await status(page)).step;
      expect(stopped).toBeGreaterThanOrEqual(60);
      expect(stopped).toBeLessThan(2000);
      const curve = await plotted(page);
      expect(curve.points).toBe(stopped);
      expect(Number(curve.recent)).toBeLessThan(curve.first - 0.5);

      const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
      const name = download.suggestedFilename();
      expect(name).toBe(`char-lm-step-${String(stopped).padStart(8, '0')}.safetensors`);
      const file = join(scratch, `${isolated ? 'isolated' : 'plain'}-${name}`);
      await download.saveAs(file);

      // The command line's own entry point reads it: samples, and a resumed run.
      const sampled = await runMain('sample', '--checkpoint', file, '--count', '3');
      expect(sampled.code, sampled.stderr).toBe(0);
      expect(sampled.stdout.trim().split('\n')).toHaveLength(3);
      const out = join(scratch, `${isolated ? 'isolated' : 'plain'}-resumed`);
      const resumed = await runMain('--resume', file, '--steps', String(stopped + 3), '--out', out);
      expect(resumed.code, resumed.stderr).toBe(0);
      expect(resumed.stdout).toContain(`resuming at step ${stopped}`);
      // The page trains as the command line does: the same settings, the same losses, bit for bit.
      const cli = join(scratch, `${isolated ? 'isolated' : 'plain'}-cli`);
      const options = Object.entries(small).flatMap(([name, value]) => [`--${name}`, String(value)]);
      expect((await runMain(...options, '--steps', String(stopped), '--out', cli)).code).toBe(0);
      const cliConfig: RunConfig = JSON.parse(
        readFileSync(join(stepsIn(cli).at(-1)!.path, 'config.json'), 'utf8'),
      );
      const pageConfig: RunConfig = JSON.parse(decodeSafetensors(readFileSync(file)).metadata.config!);
      expect(pageConfig.progress.losses).toEqual(cliConfig.progress.losses);

      // Resume in the page, then from the downloaded file: the same steps give the same losses.
      const target = stopped + 20;
      await page.fill('#steps', String(target));
      await page.click('#resume');
      await untilState(page, 'done');
      expect(await status(page)).toEqual({ state: 'done', step: target });
      const goneOn = await plotted(page);
      expect(goneOn.points).toBe(target);
      await page.setInputFiles('#open', file);
      await page.waitForFunction(
        (step) => document.getElementById('loss')!.dataset.points === String(step),
        stopped,
      );
      expect(await status(page)).toEqual({ state: 'stopped', step: stopped });
      // The file's own target (the run's, when it was saved) replaces the form's.
      expect(await page.inputValue('#steps')).toBe('2000');
      await page.fill('#steps', String(target));
      await page.click('#resume');
      await untilState(page, 'done');
      expect(await status(page)).toEqual({ state: 'done', step: target });
      expect((await plotted(page)).recent).toBe(goneOn.recent);
      // A step folder's checkpoint.safetensors alone is not enough to resume: the page says what is.
      await page.setInputFiles('#open', join(stepsIn(cli).at(-1)!.path, 'checkpoint.safetensors'));
      await page.waitForFunction(() => document.getElementById('error')!.textContent !== '');
      expect(await page.textContent('#error')).toMatch(
        /^checkpoint\.safetensors: holds no config\.json in its metadata; pick a checkpoint this page downloaded/,
      );
      expect(await status(page)).toEqual({ state: 'done', step: target });
      expect(await page.locator('#names li').count()).toBeGreaterThan(0);

      await page.fill('#cases', '10');
      await page.click('#gradcheck');
      await page.waitForFunction(() => document.getElementById('error')!.textContent === '');
      await page.waitForSelector('#verdicts table', { timeout: 30_000 });
      const verdicts = await page.$$eval('#verdicts tr[data-cell]', (rows) =>
        rows.map((row) => [(row as HTMLElement).dataset.cell, (row as HTMLElement).dataset.ok]),
      );
      expect(verdicts).toEqual([
        ['rnnTanhCell', 'true'],
        ['rnnReluCell', 'true'],
        ['lstmCell', 'true'],
        ['gruCell', 'true'],
      ]);
      expect(await page.textContent('#error')).toBe('');
      expect(problems).toEqual([]);
    });
  }
});
