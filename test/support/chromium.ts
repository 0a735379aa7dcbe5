import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`), driven by playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/** A page open in headless Chromium, with every request it tried that was not a local file. */
export interface OpenedPage {
  page: Page;
  /** URLs the page asked for that are not file:// (each was refused). */
  networkRequests: string[];
  /** Console errors and uncaught exceptions. */
  errors: string[];
  close(): Promise<void>;
}

/** Opens a local HTML file in a fresh headless Chromium profile; every non-file request is refused and noted. */
export async function openInChromium(file: string): Promise<OpenedPage> {
  const profile = await mkdtemp(path.join(tmpdir(), 'cupm-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      viewport: { width: 1000, height: 800 },
    });
    const networkRequests: string[] = [];
    const errors: string[] = [];
    await context.route('**/*', async (route) => {
      const url = route.request().url();
      if (url.startsWith('file:')) await route.continue();
      else {
        networkRequests.push(url);
        await route.abort();
      }
    });
    context.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith('file:') && !networkRequests.includes(url)) networkRequests.push(url);
    });
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const opened = context;
    return {
      page,
      networkRequests,
      errors,
      close: async () => {
        await opened.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}
