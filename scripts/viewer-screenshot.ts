// The README's picture of the live viewer: `npx tsx scripts/viewer-screenshot.ts [OUT.png]`
// runs `sonoedge demo --live` (dist/ must be built), opens the URL it prints in
// headless Chromium (test/helpers/browser.ts), lets the bundled cine play a few
// beats, and writes a palette PNG (default docs/viewer.png, kept small).
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { withPage } from '../test/helpers/browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'viewer.png'));
const demo = spawn(process.execPath, [path.join(root, 'dist', 'cli', 'main.js'), 'demo', '--live', '--loops', '40', '--no-report'], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise<string>((resolve, reject) => {
  let text = '';
  demo.stdout.setEncoding('utf8');
  demo.stdout.on('data', (c: string) => {
    text += c;
    const m = /live page at (\S+)/.exec(text);
    if (m) resolve(m[1]);
  });
  demo.once('exit', (code) => reject(new Error(`Expected demo --live to print its URL but it exited with ${code}: ${text}`)));
});
try {
  await withPage(async (page) => {
    await page.goto(url, { waitUntil: 'load' });
    await new Promise((r) => setTimeout(r, 5000));
    const png = await page.screenshot({ type: 'png', fullPage: true });
    const small = await sharp(png).png({ palette: true, colours: 96, compressionLevel: 9, effort: 10 }).toBuffer();
    writeFileSync(out, small);
    process.stdout.write(`wrote ${out} (${Math.round(small.length / 1024)} KiB) from ${url.replace(/token=.*/, 'token=...')}\n`);
  }, { width: 1120, height: 700, deviceScaleFactor: 1 });
} finally {
  demo.kill('SIGINT');
}
