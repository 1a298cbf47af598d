// A self-contained report folder: index.html with one inline style block and
// inline SVG charts, plus frames/NNNNNN.png. Relative links only, no scripts,
// so it opens from file:// in any browser and can be zipped or attached as is.
// The output is a pure function of the input (no timestamps, fixed ordering),
// so two runs over the same study give byte-identical reports.
import { lstatSync, renameSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { invalidType, invalidValue, rangeError } from '../errors.js';
import { checkKeys } from '../util/options.js';
import { onInterrupt, removeTreeSync } from '../util/interrupt.js';
import { removeStale, stalePattern } from '../util/stale.js';
import { isFiniteNumber, isInteger, isString } from '../util/is.js';
import { escapeXml as esc, fmt } from './svg.js';

export interface ReportFrame {
  seq: number;
  width: number;
  height: number;
  /** GRAY8, packed rows (width*height bytes) */
  gray: Uint8Array;
  /** polygon x0,y0,x1,y1,... in frame pixel coordinates (pixel i spans [i, i+1]) */
  contour?: number[];
  caption: string;
}
export interface ReportInput {
  title: string;
  subtitle?: string;
  /** key/value rows at the top */
  summary: [string, string][];
  /** inline SVG from svg.ts */
  charts: { id: string; title: string; svg: string }[];
  tables?: { title: string; header: string[]; rows: (string | number)[][] }[];
  frames: ReportFrame[];
}

/** The overlay's colour: bright cyan, absent from grayscale frames and from the chart palette. */
export const OVERLAY_COLOR = '#00e5ff';

const CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1400px; padding: 16px 24px 48px; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; background: #fafafa; }
h1 { font-size: 22px; margin: 8px 0 2px; }
h2 { font-size: 16px; margin: 0 0 8px; }
.subtitle { color: #555; margin: 0 0 12px; }
table { border-collapse: collapse; background: #fff; }
th, td { padding: 3px 10px; border: 1px solid #ddd; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary th { background: #f0f0f0; font-weight: 600; }
thead th { background: #f0f0f0; position: sticky; top: 0; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(480px, 1fr)); gap: 16px; margin: 20px 0; }
section.chart, section.table, section.frames { background: #fff; border: 1px solid #e2e2e2; border-radius: 6px; padding: 12px; }
section.chart svg { display: block; width: 100%; height: auto; }
section.table { margin: 20px 0; }
section.table .scroll { max-height: 480px; overflow: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(220px, 1fr)); gap: 12px; }
figure.frame { display: grid; margin: 0; background: #000; }
/* The image and the overlay share one grid cell, so the overlay covers exactly the image. */
figure.frame > img, figure.frame > svg.overlay { grid-area: 1 / 1; width: 100%; }
figure.frame > img { height: auto; image-rendering: pixelated; }
figure.frame > svg.overlay { height: 100%; pointer-events: none; }
figure.frame > figcaption { grid-area: 2 / 1; padding: 4px 6px; background: #fff; font-size: 12px; color: #333; }
`.trim();

const framePng = (seq: number): string => `frames/${String(seq).padStart(6, '0')}.png`;

function checkFrame(v: unknown, name: string): ReportFrame {
  const f = checkKeys(v, name, ['seq', 'width', 'height', 'gray', 'contour', 'caption']);
  if (!isInteger(f.seq) || (f.seq as number) < 0) throw invalidValue('ERR_SONOEDGE_ARG_TYPE', 'non-negative integer', `${name}.seq`, f.seq);
  for (const key of ['width', 'height'] as const) {
    const d = f[key];
    if (!isInteger(d) || (d as number) < 1 || (d as number) > 16384) {
      throw invalidValue('ERR_SONOEDGE_DIMENSION', 'integer from 1 to 16384', `${name}.${key}`, d);
    }
  }
  const size = (f.width as number) * (f.height as number);
  if (!(f.gray instanceof Uint8Array)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'Uint8Array', `${name}.gray`, f.gray);
  if (f.gray.length !== size) {
    const code = f.gray.length < size ? 'ERR_SONOEDGE_FRAME_TOO_SHORT' : 'ERR_SONOEDGE_DIMENSION';
    throw invalidValue(code, `${size} bytes (${f.width}x${f.height} GRAY8)`, `${name}.gray`, f.gray);
  }
  if (f.contour !== undefined) {
    const c = f.contour;
    if (!Array.isArray(c) || !c.every(isFiniteNumber)) {
      throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array of finite numbers', `${name}.contour`, c);
    }
    if (c.length % 2 !== 0) throw invalidValue('ERR_SONOEDGE_DIMENSION', 'even length (x,y pairs)', `${name}.contour`, c);
  }
  if (!isString(f.caption)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}.caption`, f.caption);
  return f as unknown as ReportFrame;
}

function checkInput(v: unknown): ReportInput {
  const o = checkKeys(v, 'report', ['title', 'subtitle', 'summary', 'charts', 'tables', 'frames']);
  if (!isString(o.title)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', 'report.title', o.title);
  if (o.subtitle !== undefined && !isString(o.subtitle)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', 'report.subtitle', o.subtitle);
  const pairs = Array.isArray(o.summary) && o.summary.every((r) => Array.isArray(r) && r.length === 2 && r.every(isString));
  if (!pairs) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array of [string, string]', 'report.summary', o.summary);
  if (!Array.isArray(o.charts)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array', 'report.charts', o.charts);
  const ids = new Set<string>();
  o.charts.forEach((c, i) => {
    const name = `report.charts[${i}]`;
    const co = checkKeys(c, name, ['id', 'title', 'svg']);
    if (!isString(co.id) || co.id === '' || /\s/.test(co.id)) {
      throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'non-empty string without spaces', `${name}.id`, co.id);
    }
    if (ids.has(co.id)) throw invalidValue('ERR_SONOEDGE_ARG_TYPE', 'a unique id', `${name}.id`, co.id);
    ids.add(co.id);
    if (!isString(co.title)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}.title`, co.title);
    if (!isString(co.svg) || !co.svg.startsWith('<svg')) {
      throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'SVG markup starting with <svg', `${name}.svg`, co.svg);
    }
  });
  if (o.tables !== undefined) {
    if (!Array.isArray(o.tables)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array', 'report.tables', o.tables);
    o.tables.forEach((t, i) => {
      const name = `report.tables[${i}]`;
      const to = checkKeys(t, name, ['title', 'header', 'rows']);
      if (!isString(to.title)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}.title`, to.title);
      if (!Array.isArray(to.header) || !to.header.every(isString)) {
        throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array of strings', `${name}.header`, to.header);
      }
      const cell = (x: unknown) => isString(x) || typeof x === 'number';
      if (!Array.isArray(to.rows) || !to.rows.every((r) => Array.isArray(r) && r.every(cell))) {
        throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array of rows of strings and numbers', `${name}.rows`, to.rows);
      }
    });
  }
  if (!Array.isArray(o.frames)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array', 'report.frames', o.frames);
  const seqs = new Set<number>();
  o.frames.forEach((f, i) => {
    const frame = checkFrame(f, `report.frames[${i}]`);
    // Two frames with one seq would share one PNG file.
    if (seqs.has(frame.seq)) throw rangeError('ERR_SONOEDGE_ARG_TYPE', `Expected unique seq for report.frames[${i}].seq but received ${frame.seq} again`);
    seqs.add(frame.seq);
  });
  return o as unknown as ReportInput;
}

function frameHtml(f: ReportFrame): string {
  const src = framePng(f.seq);
  let overlay = `<svg class="overlay" viewBox="0 0 ${f.width} ${f.height}" preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg">`;
  if (f.contour && f.contour.length > 0) {
    const pts: string[] = [];
    for (let i = 0; i < f.contour.length; i += 2) pts.push(`${fmt(f.contour[i])},${fmt(f.contour[i + 1])}`);
    // Non-scaling stroke: 2 CSS pixels whatever size the frame is shown at.
    overlay += `<polygon class="lv-contour" points="${pts.join(' ')}" fill="${OVERLAY_COLOR}" fill-opacity="0.18" stroke="${OVERLAY_COLOR}" stroke-width="2" stroke-linejoin="round" vector-effect="non-scaling-stroke"/>`;
  }
  overlay += '</svg>';
  return `<figure class="frame" data-seq="${f.seq}"><img src="${src}" width="${f.width}" height="${f.height}" alt="frame ${f.seq}">${overlay}<figcaption>${esc(f.caption)}</figcaption></figure>`;
}

function tableHtml(t: NonNullable<ReportInput['tables']>[number]): string {
  const head = t.header.map((h) => `<th>${esc(h)}</th>`).join('');
  const rows = t.rows.map((r) => `<tr>${r.map((c) => (typeof c === 'number' ? `<td class="num">${esc(String(c))}</td>` : `<td>${esc(c)}</td>`)).join('')}</tr>`);
  return `<section class="table"><h2>${esc(t.title)}</h2><div class="scroll"><table class="data"><thead><tr>${head}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table></div></section>`;
}

/** The index.html text for `input` (already validated). */
function renderHtml(r: ReportInput): string {
  const out = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(r.title)}</title>`,
    `<style>\n${CSS}\n</style>`,
    '</head>',
    '<body>',
    `<header><h1>${esc(r.title)}</h1>${r.subtitle !== undefined ? `<p class="subtitle">${esc(r.subtitle)}</p>` : ''}</header>`,
  ];
  if (r.summary.length > 0) {
    out.push(`<table class="summary"><tbody>\n${r.summary.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`).join('\n')}\n</tbody></table>`);
  }
  if (r.charts.length > 0) {
    out.push('<div class="charts">');
    for (const c of r.charts) out.push(`<section class="chart" id="${esc(c.id)}"><h2>${esc(c.title)}</h2>${c.svg}</section>`);
    out.push('</div>');
  }
  if (r.frames.length > 0) {
    out.push(`<section class="frames"><h2>Frames (${r.frames.length})</h2><div class="grid">`);
    for (const f of r.frames) out.push(frameHtml(f));
    out.push('</div></section>');
  }
  for (const t of r.tables ?? []) out.push(tableHtml(t));
  out.push('</body>', '</html>', '');
  return out.join('\n');
}

/**
 * Creates `dir` and writes dir/index.html and dir/frames/*.png, replacing an earlier report's; returns the
 * index.html path. All or nothing: the report is written in dir/.report.PID.partial and swapped in only when
 * complete, so a failure (a full disk) or Ctrl-C midway leaves the earlier report as it was (never a page whose
 * frames are gone or half new) and no temporary folder. A writer killed outright leaves its temporary folder: the
 * next writeReport in `dir` removes those whose process is gone. Nothing else in `dir` is touched.
 */
export async function writeReport(dir: string, input: ReportInput): Promise<string> {
  if (!isString(dir) || dir === '') throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'non-empty string', 'dir', dir);
  const r = checkInput(input);
  await mkdir(dir, { recursive: true });
  const stage = path.join(dir, `.report.${process.pid}.partial`);
  // Temporary folders left by a writer killed outright (SIGKILL, power lost) go; a live process's stay.
  removeStale(dir, stalePattern('report'));
  const stopWatching = onInterrupt(() => removeTreeSync(stage));
  try {
    await rm(stage, { recursive: true, force: true });
    await mkdir(path.join(stage, 'frames'), { recursive: true });
    for (const f of r.frames) {
      const png = new PNG({ width: f.width, height: f.height, colorType: 0, inputColorType: 0, inputHasAlpha: false });
      png.data = Buffer.from(f.gray.buffer, f.gray.byteOffset, f.gray.byteLength);
      const bytes = PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
      await writeFile(path.join(stage, framePng(f.seq)), bytes);
    }
    await writeFile(path.join(stage, 'index.html'), renderHtml(r));
    swapIn(dir, stage);
  } catch (err) {
    // Node's own message ("EFBIG: file too large, write") names no path: say which report, and that the earlier one stays.
    const e = err as NodeJS.ErrnoException;
    if (typeof e.syscall === 'string') e.message = `Expected to write the report in ${dir} but received ${e.message}; an earlier report there is unchanged`;
    throw err;
  } finally {
    stopWatching();
    await rm(stage, { recursive: true, force: true });
  }
  return path.join(dir, 'index.html');
}

/**
 * Moves the staged frames/ and index.html into `dir`, the earlier frames/ aside into the stage (removed with it).
 * Synchronous renames: no signal handler runs between them. A rename that fails puts the earlier report back.
 */
function swapIn(dir: string, stage: string): void {
  const frames = path.join(dir, 'frames');
  const earlier = path.join(stage, 'earlier-frames');
  const hadFrames = lstatSync(frames, { throwIfNoEntry: false }) !== undefined;
  if (hadFrames) renameSync(frames, earlier);
  try {
    renameSync(path.join(stage, 'frames'), frames);
    try {
      renameSync(path.join(stage, 'index.html'), path.join(dir, 'index.html'));
    } catch (err) {
      renameSync(frames, path.join(stage, 'frames'));
      throw err;
    }
  } catch (err) {
    if (hadFrames) renameSync(earlier, frames);
    throw err;
  }
}
