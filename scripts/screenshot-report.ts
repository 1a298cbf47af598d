// Regenerates the README's picture of the demo report:
//   node dist/cli/main.js demo --report build/demo-report && node --import tsx scripts/screenshot-report.ts build/demo-report docs/images/demo-report.png
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { withPage } from '../test/helpers/browser.js';

const [dir, out] = process.argv.slice(2);
if (!dir || !out) {
  process.stderr.write('usage: scripts/screenshot-report.ts REPORT_DIR OUT.png\n');
  process.exit(2);
}
await withPage(async (page) => {
  await page.goto(pathToFileURL(path.resolve(dir, 'index.html')).href, { waitUntil: 'load' });
  await page.screenshot({ path: out as `${string}.png`, fullPage: false });
}, { width: 1200, height: 1500, deviceScaleFactor: 1 });
process.stdout.write(`${out}\n`);
