// `sonoedge demo` (what `npm start` runs) as a user runs it: a spawned process,
// its summary, exit code and report folder; the report then opened in headless
// Chromium and checked from its DOM and a screenshot.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { withPage } from '../helpers/browser.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root, timeout: 120000 });

t.test('demo: summary on stdout, every frame accounted for, the EF beside the known EF, a report folder', async (t) => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-demo-test-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const dir = path.join(scratch, 'report');
  const r = run('demo', '--loops', '2', '--report', dir);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '');
  const out = r.stdout;
  t.match(out, /^sonoedge demo: 32 frames \(2 x 16\) of the bundled A4C cine, 256x256 GRAY8, 0\.7244 mm\/px, at 30\.0 fps, over \S+sonoedge\.sock\n/);
  const frames = /frames {12}32 sent, (\d+) results, (\d+) dropped \(latest frame wins\)\n/.exec(out);
  t.ok(frames, out);
  t.equal(Number(frames![1]) + Number(frames![2]), 32, 'every frame has a result or was dropped');
  t.match(out, /view {14}A4C on \d+\/\d+ \(known A4C\)\n/);
  t.match(out, /state {13}ok (\d+), uncertain 0, unknown 0 \(in-distribution score mean [01]\.\d\d, min [01]\.\d\d\)\n/);
  t.match(out, /ejection fraction (\d+\.\d% \(95% CI \d+\.\d-\d+\.\d(, low quality)?\), known 69\.2% \(difference -?\d+\.\d points\)|not estimated .*)\n/);
  t.match(out, /beats {13}\d+ seen \(ED and ES each confirmed once\)\n/);
  t.match(out, /latency \(ms, nearest-rank\)\n {4}stage {28}p50 {5}p90 {5}p99\n/);
  for (const stage of ['view_quality.preprocess', 'view_quality.engine', 'total (runtime)', 'round trip (client)']) {
    t.match(out, new RegExp(`\\n {4}${stage.replace(/[().]/g, '\\$&')} +\\d+\\.\\d\\d +\\d+\\.\\d\\d +\\d+\\.\\d\\d\\n`), stage);
  }
  t.match(out, /report {12}\S+index\.html\n$/);
  t.ok(existsSync(path.join(dir, 'index.html')));
  t.ok(readdirSync(path.join(dir, 'frames')).length >= 1, 'frame images written');

  // The report in a real browser: the overlay and the plots are there.
  await withPage(async (page) => {
    await page.goto(pathToFileURL(path.join(dir, 'index.html')).href, { waitUntil: 'load' });
    const count = (sel: string) => page.$$eval(sel, (els) => els.length);
    const dom = {
      figures: await count('figure.frame'),
      contours: await page.$$eval('polygon.lv-contour', (els) => els.map((p) => (p.getAttribute('points') ?? '').trim().split(/\s+/).length)),
      imagesLoaded: await page.$$eval('figure.frame img', (els) => els.every((i) => (i as unknown as { complete: boolean; naturalWidth: number }).complete
        && (i as unknown as { naturalWidth: number }).naturalWidth === 256)),
      charts: {
        'lv-area': await count('section.chart#lv-area path.series'),
        quality: await count('section.chart#quality path.series'),
        latency: await count('section.chart#latency path.series'),
      },
    };
    t.ok(dom.figures >= 1 && dom.figures <= 16, `${dom.figures} frames shown`);
    t.ok(dom.contours.length >= 1 && dom.contours.every((n) => n >= 3), `LV outlines with ${dom.contours.join(', ')} points`);
    t.equal(dom.imagesLoaded, true, 'every frame image decoded at 256 px');
    t.same(dom.charts, { 'lv-area': 1, quality: 1, latency: dom.charts.latency }, 'one series each for LV area and quality');
    t.ok(dom.charts.latency >= 3, 'latency: total, round trip and the stages');
    // Screenshot of the first frame with an outline: the overlay's cyan is on screen.
    const fig = await page.$('figure.frame:has(polygon.lv-contour)');
    const png = PNG.sync.read(Buffer.from(await fig!.screenshot({ type: 'png' })));
    let cyan = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      if (png.data[i] < 90 && png.data[i + 1] > 170 && png.data[i + 2] > 200) cyan++;
    }
    t.ok(cyan > 50, `${cyan} overlay-coloured pixels in the frame's screenshot`);
  });
});

t.test('demo: a mistyped flag is one line with the closest flag, exit 2', async (t) => {
  const r = run('demo', '--lops', '3');
  t.equal(r.status, 2);
  t.equal(r.stdout, '');
  t.equal(r.stderr, 'sonoedge demo: unknown option --lops; did you mean --loops? (see sonoedge demo --help)\n');
  const bad = run('demo', '--loops', '0');
  t.equal(bad.status, 2);
  t.equal(bad.stderr, 'sonoedge demo: option --loops expects an integer in [1, 10000] but received "0"\n');
  const two = run('demo', '--variant', 'fp32,int8');
  t.equal(two.status, 2);
  t.equal(two.stderr, 'sonoedge demo: option --variant: unknown value "fp32,int8" (known: fp32, int8)\n');
});

t.test('demo: a --report folder that cannot be written is one line before any work, exit 2', async (t) => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-demo-test-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const file = path.join(scratch, 'a-file');
  writeFileSync(file, 'x');
  const r = run('demo', '--report', file);
  t.equal(r.status, 2);
  t.equal(r.stdout, '', 'no summary: nothing ran');
  t.equal(r.stderr, `sonoedge demo: option --report expects a folder sonoedge can write but received ${JSON.stringify(file)} (ENOTDIR)\n`);
});

t.test('demo: its temp folder (the socket\'s) is gone when it ends, a runtime that fails to start included', async (t) => {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-demo-test-'));
  t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
  const tmp = path.join(scratch, 'tmp');
  mkdirSync(tmp);
  const env = { ...process.env, TMPDIR: tmp };
  const ok = spawnSync(process.execPath, [cli, 'demo', '--loops', '1', '--fast', '--no-report'], { encoding: 'utf8', cwd: root, timeout: 120000, env });
  t.equal(ok.status, 0, ok.stderr);
  t.match(ok.stdout, `over ${tmp}${path.sep}sonoedge-demo-`, 'the socket was in the temp folder');
  t.same(readdirSync(tmp), [], 'nothing left after a run');
  // Before, the folder stayed when the runtime did not start.
  const missing = path.join(scratch, 'no-such-folder', 's.sock');
  const bad = spawnSync(process.execPath, [cli, 'demo', '--loops', '1', '--no-report', '--socket', missing], { encoding: 'utf8', cwd: root, timeout: 120000, env });
  t.equal(bad.status, 1);
  t.equal(bad.stderr, `sonoedge demo: [ERR_SONOEDGE_SOCKET_PATH] Expected an existing folder for the socket ${missing} but received none at ${path.dirname(missing)}\n`);
  t.same(readdirSync(tmp), [], 'nothing left after a runtime that failed to start');
});
