// Headless Chromium for tests that look at what a browser really renders
// (reports). Uses the system Chromium (Debian package `chromium`, installed by
// .ci/run) through puppeteer-core, which downloads no browser of its own.
import { existsSync } from 'node:fs';
import path from 'node:path';
import puppeteer, { type Page, type Viewport } from 'puppeteer-core';

/** The Chromium to run: $SONOEDGE_CHROMIUM, else /usr/bin/chromium, else chromium-browser on PATH. */
export function chromiumPath(): string {
  const fromEnv = process.env.SONOEDGE_CHROMIUM;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`Expected a Chromium executable at SONOEDGE_CHROMIUM but received "${fromEnv}", which does not exist`);
    return fromEnv;
  }
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = dir && path.join(dir, 'chromium-browser');
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error(
    'Expected a Chromium executable but found none: set SONOEDGE_CHROMIUM, or install it (apt-get install chromium) ' +
      'so that /usr/bin/chromium or chromium-browser on PATH exists',
  );
}

export const DEFAULT_VIEWPORT: Viewport = { width: 1280, height: 900, deviceScaleFactor: 1 };

/** Runs `fn` on a fresh page of a fresh headless Chromium, which is always closed afterwards. */
export async function withPage<T>(fn: (page: Page) => Promise<T>, viewport: Viewport = DEFAULT_VIEWPORT): Promise<T> {
  const browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    // CI runs as root, where Chromium's sandbox cannot start; there is no GPU;
    // containers often have a tiny /dev/shm.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    defaultViewport: viewport,
    timeout: 60_000,
  });
  try {
    const page = await browser.newPage();
    return await fn(page);
  } finally {
    await browser.close();
  }
}
