// Headless Chromium for the tests and the bench that run in a browser: Debian's /usr/bin/chromium (no
// browser download), driven by playwright-core, on a fresh profile, with nothing that reaches out to
// the network on its own; and a local server for a page and its scripts, cross-origin isolated or not.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Whether CHROMIUM is there (`apt-get install -y chromium`; .ci/run installs it). */
export const haveChromium = existsSync(CHROMIUM);

export interface Chromium {
  context: BrowserContext;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

type LaunchOptions = NonNullable<Parameters<typeof chromium.launchPersistentContext>[1]>;

/** Launches headless CHROMIUM on a new profile in the temporary folder; `options` add to the defaults. */
export async function launchChromium(options: LaunchOptions = {}): Promise<Chromium> {
  const profile = await mkdtemp(join(tmpdir(), 'tapegrad-chromium-'));
  const removeProfile = () => rm(profile, { recursive: true, force: true });
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      ...options,
    });
    return {
      context,
      close: async () => {
        await context.close();
        await removeProfile();
      },
    };
  } catch (error) {
    await removeProfile();
    throw error;
  }
}

/**
 * Serves `html` at / and each of `scripts` (JavaScript) at its path, on 127.0.0.1 at a free port, with
 * nothing cached; cross-origin isolated (COOP same-origin, COEP require-corp) unless `isolated` is false.
 * Anything else is a 404.
 */
export async function servePage(
  html: string,
  scripts: Record<string, string>,
  { isolated = true }: { isolated?: boolean } = {},
): Promise<{ server: Server; url: string }> {
  const headers: Record<string, string> = { 'Cache-Control': 'no-store' };
  if (isolated) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin';
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
  }
  const server = createServer((request, response) => {
    const { url = '' } = request;
    if (url === '/') response.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(html);
    else if (Object.hasOwn(scripts, url)) {
      response.writeHead(200, { ...headers, 'Content-Type': 'text/javascript' }).end(scripts[url]);
    } else response.writeHead(404, headers).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}
