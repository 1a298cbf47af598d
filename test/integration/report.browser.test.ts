// A report written to real files and opened from file:// in headless Chromium:
// the DOM must hold the overlay and the chart series, and the screenshot must
// show them (the contour stroke in the overlay colour, coloured chart lines).
import t from 'tap';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PNG } from 'pngjs';
import { syntheticSectorFrame } from '../../src/frame/synthetic.js';
import { writeReport, type ReportInput } from '../../src/report/html.js';
import { cdfChart, histogram, lineChart, PALETTE } from '../../src/report/svg.js';
import { withPage } from '../helpers/browser.js';

// The in-page functions below run in Chromium, but the project compiles
// against Node's types only (no DOM lib, on purpose); declare, for this file
// alone, the little of the DOM they use.
type El = any;
declare const document: { querySelector(selector: string): El; querySelectorAll(selector: string): Iterable<El> & ArrayLike<El> };
declare class DOMParser {
  parseFromString(text: string, type: string): El;
}

const W = 256;
const H = 256;
// A hexagon with horizontal top and bottom edges: a stroke along those covers
// whole pixels, so their colour is exact, not antialiased.
const CONTOUR = [96, 80, 160, 80, 184, 140, 160, 200, 96, 200, 72, 140];
const OVERLAY: [number, number, number] = [0x00, 0xe5, 0xff];
const hex = (c: string): [number, number, number] => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16)) as [number, number, number];

function input(): ReportInput {
  const seq = Array.from({ length: 16 }, (_, i) => i);
  const pre = seq.map((i) => 1.5 + 0.1 * (i % 3));
  const inf = seq.map((i) => 6 + (i % 5) * 0.4);
  const area = seq.map((i) => (i === 7 ? null : 1400 + 300 * Math.cos((2 * Math.PI * i) / 16)));
  return {
    title: 'Replay a4c <synthetic> & co',
    subtitle: 'synthetic frames',
    summary: [['frames', '16'], ['model', 'lv_segmentation "v1"']],
    charts: [
      { id: 'latency', title: 'Latency per frame', svg: lineChart({ title: 'Latency', xLabel: 'frame', yLabel: 'ms', series: [{ name: 'preprocess', x: seq, y: pre }, { name: 'inference', x: seq, y: inf }], hlines: [{ y: 16.7, label: '60 fps' }] }) },
      { id: 'lv-area', title: 'LV area', svg: lineChart({ title: 'LV area', xLabel: 'frame', yLabel: 'mm\u00b2', series: [{ name: 'area', x: seq, y: area }] }) },
      { id: 'latency-hist', title: 'Latency histogram', svg: histogram({ title: 'Inference latency', xLabel: 'ms', values: inf, bins: 10 }) },
    ],
    tables: [{ title: 'Per frame', header: ['seq', 'area mm\u00b2'], rows: seq.map((i) => [i, area[i] ?? '-']) }],
    frames: [
      { seq: 0, width: W, height: H, gray: syntheticSectorFrame(W, H, 1), contour: CONTOUR, caption: 'frame 0 <ED>' },
      { seq: 12, width: W, height: H, gray: syntheticSectorFrame(W, H, 2), caption: 'frame 12, no contour' },
    ],
  };
}

t.test('a report opens from file:// with the overlay and charts visible', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-report-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rep = input();
  const index = await writeReport(path.join(dir, 'report'), rep);
  t.equal(index, path.join(dir, 'report', 'index.html'));
  t.same((await readdir(path.join(dir, 'report', 'frames'))).sort(), ['000000.png', '000012.png']);

  // The PNG holds exactly the frame's pixels, as 8-bit grayscale.
  const png = PNG.sync.read(await readFile(path.join(dir, 'report', 'frames', '000000.png')));
  t.same([png.width, png.height, png.colorType], [W, H, 0]);
  const gray = rep.frames[0].gray;
  t.ok(gray.every((v, i) => png.data[4 * i] === v), 'PNG round-trips the GRAY8 frame');

  const html = await readFile(index, 'utf8');
  t.match(html, /<title>Replay a4c &lt;synthetic&gt; &amp; co<\/title>/);
  t.notMatch(html, /<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'no scripts, no external references');
  t.equal(await writeReport(path.join(dir, 'again'), input()).then((p) => readFile(p, 'utf8')), html, 'deterministic');

  await withPage(async (page) => {
    await page.goto(pathToFileURL(index).href, { waitUntil: 'load' });
    t.equal(await page.title(), 'Replay a4c <synthetic> & co');

    const dom = await page.evaluate(() => {
      const figs = [...document.querySelectorAll('figure.frame')];
      const poly = document.querySelector('figure.frame[data-seq="0"] > svg.overlay > polygon.lv-contour');
      const img = document.querySelector('figure.frame[data-seq="0"] > img')!;
      const ov = document.querySelector('figure.frame[data-seq="0"] > svg.overlay')!;
      const r = (e: El): number[] => { const b = e.getBoundingClientRect(); return [b.x, b.y, b.width, b.height]; };
      const charts = [...document.querySelectorAll('section.chart')].map((s: El) => ({
        id: s.id,
        h2: s.querySelector('h2')?.textContent,
        series: [...s.querySelectorAll('svg path.series')].map((p: El) => p.getAttribute('data-name')),
      }));
      return {
        seqs: figs.map((f: El) => f.dataset.seq),
        srcs: figs.map((f: El) => f.querySelector('img')?.getAttribute('src')),
        polygons: document.querySelectorAll('polygon.lv-contour').length,
        points: poly ? [...Array(poly.points.numberOfItems).keys()].map((i) => [poly.points.getItem(i).x, poly.points.getItem(i).y]) : null,
        viewBox: ov.getAttribute('viewBox'),
        natural: [img.naturalWidth, img.naturalHeight],
        imgRect: r(img),
        figRect: r(img.parentElement!),
        overlayRect: r(ov),
        caption: document.querySelector('figure.frame[data-seq="0"] figcaption')?.textContent,
        charts,
      };
    });
    t.same(dom.seqs, ['0', '12']);
    t.same(dom.srcs, ['frames/000000.png', 'frames/000012.png']);
    t.equal(dom.polygons, 1, 'only the frame with a contour has a polygon');
    t.same(dom.points, [[96, 80], [160, 80], [184, 140], [160, 200], [96, 200], [72, 140]]);
    t.equal(dom.viewBox, '0 0 256 256');
    t.same(dom.natural, [W, H], 'the frame PNG loaded from the relative path');
    t.same(dom.overlayRect, dom.imgRect, 'the overlay covers exactly the image');
    t.equal(dom.caption, 'frame 0 <ED>');
    t.same(dom.charts, [
      { id: 'latency', h2: 'Latency per frame', series: ['preprocess', 'inference'] },
      { id: 'lv-area', h2: 'LV area', series: ['area'] },
      { id: 'latency-hist', h2: 'Latency histogram', series: ['count'] },
    ]);

    // The frame as rendered: the stroke at the middle of the top and bottom
    // edges has the overlay colour, the inside is tinted, the outside is gray.
    const fig = (await page.$('figure.frame[data-seq="0"]'))!;
    const shot = PNG.sync.read(Buffer.from(await fig.screenshot({ type: 'png' })));
    // The image's place inside the figure (the screenshot scrolls the page, so
    // only offsets measured together are comparable).
    const [ix, iy, iw, ih] = dom.imgRect;
    const [fx0, fy0] = dom.figRect;
    t.same([shot.width, shot.height], [Math.round(dom.figRect[2]), Math.round(dom.figRect[3])], 'screenshot of the whole figure');
    const at = (fx: number, fy: number) => [Math.floor(ix - fx0 + (fx * iw) / W), Math.floor(iy - fy0 + (fy * ih) / H)];
    const rgb = (x: number, y: number) => {
      if (x < 0 || y < 0 || x >= shot.width || y >= shot.height) throw new Error(`pixel ${x},${y} outside the screenshot`);
      return [...shot.data.subarray(4 * (y * shot.width + x), 4 * (y * shot.width + x) + 3)];
    };
    const near = (c: number[], ref: number[], tol: number) => c.length === ref.length && c.every((v, i) => Math.abs(v - ref[i]) <= tol);
    // Within 2 px of the point, to absorb sub-pixel layout offsets.
    const strokeNear = (fx: number, fy: number) => {
      const [x, y] = at(fx, fy);
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if (near(rgb(x + dx, y + dy), OVERLAY, 8)) return true;
      return false;
    };
    t.ok(strokeNear(128, 80), 'stroke on the top edge');
    t.ok(strokeNear(128, 200), 'stroke on the bottom edge');
    t.ok(strokeNear(172, 110), 'stroke on a slanted edge');
    t.notOk(strokeNear(128, 140), 'no stroke in the middle');
    const [r, g, b] = rgb(...(at(128, 140) as [number, number]));
    t.ok(b - r > 30 && g - r > 25, `inside is tinted cyan (rgb ${r},${g},${b})`);
    const out = rgb(...(at(10, 250) as [number, number]));
    t.ok(out[0] === out[1] && out[1] === out[2], `outside stays gray (rgb ${out})`);

    // The charts as rendered: both series colours are drawn in the latency chart.
    const chart = (await page.$('section.chart#latency svg'))!;
    const cs = PNG.sync.read(Buffer.from(await chart.screenshot({ type: 'png' })));
    const counts = [hex(PALETTE[0]), hex(PALETTE[1])].map((c) => {
      let n = 0;
      for (let i = 0; i < cs.data.length; i += 4) if (near([cs.data[i], cs.data[i + 1], cs.data[i + 2]], c, 12)) n++;
      return n;
    });
    t.ok(counts[0] > 100 && counts[1] > 100, `both series visible (pixels ${counts})`);
    const hs = PNG.sync.read(Buffer.from(await (await page.$('section.chart#latency-hist svg'))!.screenshot({ type: 'png' })));
    let bars = 0;
    for (let i = 0; i < hs.data.length; i += 4) if (near([hs.data[i], hs.data[i + 1], hs.data[i + 2]], hex(PALETTE[0]), 40)) bars++;
    t.ok(bars > 1000, `histogram bars visible (pixels ${bars})`);

    // Standalone (bench writes .svg files): each chart is well-formed XML.
    const svgs = [...rep.charts.map((c) => c.svg), cdfChart({ title: 'p < 1 & "q"', xLabel: 'ms', series: [{ name: 'cpu', values: [1, 2, 3] }, { name: 'cuda', values: [] }] })];
    const errors = await page.evaluate((list: string[]) => list.map((s) => {
      const doc = new DOMParser().parseFromString(s, 'image/svg+xml');
      return doc.querySelector('parsererror')?.textContent ?? doc.documentElement.nodeName;
    }), svgs);
    t.same(errors, ['svg', 'svg', 'svg', 'svg'], 'every chart parses as XML');
    if (process.env.SONOEDGE_REPORT_SHOT) {
      await page.screenshot({ path: process.env.SONOEDGE_REPORT_SHOT as `${string}.png`, fullPage: true });
    }
  });
});

t.test('bad report input is a typed error before anything is written', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-report-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const bad = input();
  bad.frames[1].gray = new Uint8Array(100);
  await t.rejects(writeReport(path.join(dir, 'r'), bad), {
    name: 'RangeError', code: 'ERR_SONOEDGE_FRAME_TOO_SHORT',
    message: 'Expected 65536 bytes (256x256 GRAY8) for report.frames[1].gray but received Uint8Array of length 100',
  });
  const odd = input();
  odd.frames[0].contour = [1, 2, 3];
  await t.rejects(writeReport(path.join(dir, 'r'), odd), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DIMENSION',
    message: 'Expected even length (x,y pairs) for report.frames[0].contour but received array of length 3',
  });
  t.same(await readdir(dir), [], 'nothing written');
});
