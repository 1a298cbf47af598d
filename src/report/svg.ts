// Standalone SVG charts for reports and benchmarks: line charts, histograms
// and empirical CDFs as plain strings. Hand-written rather than a plotting
// library because the needs are small and the output must be self-contained:
// no scripts, no external references and no `id` attributes (several charts
// are inlined into one HTML page, where ids would collide).
//
// Non-finite values (NaN, +-Infinity) are skipped; in a line chart they, like
// null, break the line. Empty input draws empty axes with "no data".
import { invalidType, invalidValue } from '../errors.js';
import { checkKeys } from '../util/options.js';
import { isFiniteNumber, isInteger, isString } from '../util/is.js';

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel?: string;
  /** default 640 */
  width?: number;
  /** default 320 */
  height?: number;
}
export interface LineSeries {
  name: string;
  x: ArrayLike<number>;
  /** null = gap */
  y: ArrayLike<number | null>;
}
export interface LineChartOptions extends ChartOptions {
  series: LineSeries[];
  hlines?: { y: number; label: string }[];
  vlines?: { x: number; label: string }[];
}
export interface HistogramOptions extends ChartOptions {
  values: ArrayLike<number>;
  /** default 40 */
  bins?: number;
  /** data-name of the bars' path; default "count" */
  name?: string;
}
export interface CdfChartOptions extends ChartOptions {
  series: { name: string; values: ArrayLike<number> }[];
}

/** Distinct colours, readable on white (Tableau 10). */
export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Escapes text for XML/HTML element content and quoted attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/** A coordinate with two decimals: small, deterministic output. */
export function fmt(v: number): string {
  const r = Math.round(v * 100) / 100;
  return r === 0 ? '0' : String(r);
}

export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  labels: string[];
}

/**
 * A "nice" axis covering [lo, hi]: ticks at a 1-2-5 step giving about
 * `target` intervals, and the domain widened to whole steps. An empty or
 * zero-width range is widened first so there is always something to draw.
 */
export function niceAxis(lo: number, hi: number, target = 5, integer = false): Axis {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = [0, 1];
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const raw = hi / target - lo / target; // divided first: no overflow near 1e308
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  const e = 1 + 1e-9; // 0.20000000000000007 is still a step of 2
  let step = (f <= e ? 1 : f <= 2 * e ? 2 : f <= 5 * e ? 5 : 10) * mag;
  if (integer && step < 1) step = 1;
  // Tolerances absorb float noise such as 0.30000000000000004 / 0.1.
  const k0 = Math.floor(lo / step + 1e-9);
  const k1 = Math.ceil(hi / step - 1e-9);
  if (!(step > 0) || !Number.isFinite(k0) || !Number.isFinite(k1) || k1 - k0 > 1000) {
    return { lo, hi, ticks: [lo, hi], labels: [String(lo), String(hi)] };
  }
  const ticks: number[] = [];
  for (let k = k0; k <= k1; k++) ticks.push(k * step);
  const extreme = Math.max(Math.abs(lo), Math.abs(hi)) >= 1e6 || step < 1e-4;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const labels = ticks.map((t) => {
    if (t === 0 || Math.abs(t) < step * 1e-6) return '0';
    return extreme ? t.toExponential(2) : t.toFixed(decimals);
  });
  return { lo: k0 * step, hi: k1 * step, ticks, labels };
}

// ---- validation -------------------------------------------------------------

const isArrayLike = (v: unknown): v is ArrayLike<unknown> =>
  Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView));

function checkBase(o: Record<string, unknown>, name: string): { w: number; h: number } {
  if (!isString(o.title)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}.title`, o.title);
  if (!isString(o.xLabel)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}.xLabel`, o.xLabel);
  if (o.yLabel !== undefined && !isString(o.yLabel)) {
    throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}.yLabel`, o.yLabel);
  }
  const size = (key: 'width' | 'height', def: number, min: number): number => {
    const v = o[key];
    if (v === undefined) return def;
    if (!isFiniteNumber(v) || v < min || v > 10000) {
      throw invalidValue('ERR_SONOEDGE_DIMENSION', `number from ${min} to 10000`, `${name}.${key}`, v);
    }
    return v;
  };
  return { w: size('width', 640, 200), h: size('height', 320, 120) };
}

function checkArray(v: unknown, name: string): ArrayLike<unknown> {
  if (!isArrayLike(v)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array or typed array', name, v);
  return v;
}

function checkLabelled(v: unknown, name: string, key: 'x' | 'y'): { at: number; label: string }[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array', name, v);
  return v.map((m, i) => {
    const o = checkKeys(m, `${name}[${i}]`, [key, 'label']);
    if (typeof o[key] !== 'number') throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'number', `${name}[${i}].${key}`, o[key]);
    if (!isString(o.label)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `${name}[${i}].label`, o.label);
    return { at: o[key] as number, label: o.label };
  });
}

// ---- drawing ----------------------------------------------------------------

const BG = '#ffffff';

interface Plot {
  w: number;
  h: number;
  left: number;
  top: number;
  pw: number;
  ph: number;
  xa: Axis;
  ya: Axis;
  sx: (v: number) => number;
  sy: (v: number) => number;
}

function plot(w: number, h: number, xa: Axis, ya: Axis): Plot {
  const left = 64;
  const top = 34;
  const pw = w - left - 18;
  const ph = h - top - 46;
  return {
    w, h, left, top, pw, ph, xa, ya,
    sx: (v) => left + ((v - xa.lo) / (xa.hi - xa.lo)) * pw,
    sy: (v) => top + ph - ((v - ya.lo) / (ya.hi - ya.lo)) * ph,
  };
}

/** The opening tag, background, title, grid, axes, tick and axis labels. */
function frame(p: Plot, o: ChartOptions, yLabel: string | undefined, note?: string): string[] {
  const { w, h, left, top, pw, ph } = p;
  const t = escapeXml(o.title);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 ${fmt(w)} ${fmt(h)}" width="${fmt(w)}" height="${fmt(h)}" role="img" aria-label="${t}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="11" fill="#222">`,
    `<title>${t}</title>`,
    `<rect class="background" x="0" y="0" width="${fmt(w)}" height="${fmt(h)}" fill="${BG}"/>`,
    `<text class="title" x="${fmt(w / 2)}" y="20" text-anchor="middle" font-size="14" font-weight="600">${t}</text>`,
  ];
  if (note) out.push(`<text class="note" x="${fmt(left + pw)}" y="${fmt(top - 4)}" text-anchor="end" fill="#666">${escapeXml(note)}</text>`);
  const grid: string[] = [];
  const xt: string[] = [];
  p.xa.ticks.forEach((v, i) => {
    const x = fmt(p.sx(v));
    grid.push(`M${x} ${fmt(top)}V${fmt(top + ph)}`);
    xt.push(`<text x="${x}" y="${fmt(top + ph + 15)}" text-anchor="middle">${escapeXml(p.xa.labels[i])}</text>`);
  });
  const yt: string[] = [];
  p.ya.ticks.forEach((v, i) => {
    const y = fmt(p.sy(v));
    grid.push(`M${fmt(left)} ${y}H${fmt(left + pw)}`);
    yt.push(`<text x="${fmt(left - 6)}" y="${y}" dy="0.32em" text-anchor="end">${escapeXml(p.ya.labels[i])}</text>`);
  });
  out.push(
    `<path class="grid" d="${grid.join('')}" stroke="#e6e6e6" stroke-width="1" fill="none"/>`,
    `<rect class="axes" x="${fmt(left)}" y="${fmt(top)}" width="${fmt(pw)}" height="${fmt(ph)}" fill="none" stroke="#888" stroke-width="1"/>`,
    `<g class="x-ticks">${xt.join('')}</g>`,
    `<g class="y-ticks">${yt.join('')}</g>`,
    `<text class="x-label" x="${fmt(left + pw / 2)}" y="${fmt(h - 8)}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`,
  );
  if (yLabel) {
    const cy = fmt(top + ph / 2);
    out.push(`<text class="y-label" x="14" y="${cy}" text-anchor="middle" transform="rotate(-90 14 ${cy})">${escapeXml(yLabel)}</text>`);
  }
  return out;
}

function noData(p: Plot): string {
  return `<text class="empty" x="${fmt(p.left + p.pw / 2)}" y="${fmt(p.top + p.ph / 2)}" text-anchor="middle" fill="#888" font-size="13">no data</text>`;
}

/** A legend box in the plot's top-right corner; only for two or more series. */
function legend(p: Plot, names: string[]): string {
  if (names.length < 2) return '';
  // Character widths are estimated: there is no text measurement without a browser.
  const bw = 34 + 6.5 * Math.max(...names.map((n) => n.length));
  const bh = 8 + 16 * names.length;
  const x = p.left + p.pw - bw - 8;
  const y = p.top + 8;
  const rows = names.map((n, i) => {
    const ry = y + 12 + 16 * i;
    return `<path d="M${fmt(x + 8)} ${fmt(ry)}h18" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2.5"/>` +
      `<text x="${fmt(x + 30)}" y="${fmt(ry)}" dy="0.32em">${escapeXml(n)}</text>`;
  });
  return `<g class="legend"><rect x="${fmt(x)}" y="${fmt(y)}" width="${fmt(bw)}" height="${fmt(bh)}" fill="${BG}" fill-opacity="0.85" stroke="#ccc"/>${rows.join('')}</g>`;
}

function seriesPath(name: string, i: number, d: string): string {
  // Round caps make an isolated point ("M x y h0") visible as a dot.
  return `<path class="series" data-name="${escapeXml(name)}" d="${d}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="1.5" stroke-linejoin="round" stroke-linecap="round"/>`;
}

function extent(values: Iterable<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return [lo, hi];
}

// ---- charts -----------------------------------------------------------------

/** Lines over x; null or non-finite y breaks the line. */
export function lineChart(options: LineChartOptions): string {
  const o = checkKeys(options, 'lineChart', ['title', 'xLabel', 'yLabel', 'width', 'height', 'series', 'hlines', 'vlines']);
  const { w, h } = checkBase(o, 'lineChart');
  if (!Array.isArray(o.series)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array', 'lineChart.series', o.series);
  const series = o.series.map((s, i) => {
    const so = checkKeys(s, `lineChart.series[${i}]`, ['name', 'x', 'y']);
    if (!isString(so.name)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `lineChart.series[${i}].name`, so.name);
    const x = checkArray(so.x, `lineChart.series[${i}].x`);
    const y = checkArray(so.y, `lineChart.series[${i}].y`);
    if (x.length !== y.length) {
      throw invalidValue('ERR_SONOEDGE_DIMENSION', `length ${x.length} (as x)`, `lineChart.series[${i}].y`, y);
    }
    // Points as [x, y] or null for a gap.
    const pts: ([number, number] | null)[] = [];
    for (let k = 0; k < x.length; k++) {
      const xv = x[k];
      const yv = y[k];
      pts.push(isFiniteNumber(xv) && isFiniteNumber(yv) ? [xv, yv] : null);
    }
    return { name: so.name, pts };
  });
  const hlines = checkLabelled(o.hlines, 'lineChart.hlines', 'y').filter((m) => Number.isFinite(m.at));
  const vlines = checkLabelled(o.vlines, 'lineChart.vlines', 'x').filter((m) => Number.isFinite(m.at));

  const valid = series.flatMap((s) => s.pts.filter((p): p is [number, number] => p !== null));
  const [xlo, xhi] = extent([...valid.map((p) => p[0]), ...vlines.map((m) => m.at)]);
  const [ylo, yhi] = extent([...valid.map((p) => p[1]), ...hlines.map((m) => m.at)]);
  const p = plot(w, h, niceAxis(xlo, xhi), niceAxis(ylo, yhi));
  const out = frame(p, o as unknown as ChartOptions, o.yLabel as string | undefined);
  // Marker labels go left (hlines) and top (vlines): the legend sits top-right.
  for (const m of hlines) {
    const y = fmt(p.sy(m.at));
    out.push(`<g class="hline"><path d="M${fmt(p.left)} ${y}H${fmt(p.left + p.pw)}" stroke="#555" stroke-dasharray="4 3"/>` +
      `<text x="${fmt(p.left + 4)}" y="${y}" dy="-4" fill="#555">${escapeXml(m.label)}</text></g>`);
  }
  for (const m of vlines) {
    const x = fmt(p.sx(m.at));
    out.push(`<g class="vline"><path d="M${x} ${fmt(p.top)}V${fmt(p.top + p.ph)}" stroke="#555" stroke-dasharray="4 3"/>` +
      `<text x="${x}" y="${fmt(p.top + 12)}" dx="4" fill="#555">${escapeXml(m.label)}</text></g>`);
  }
  series.forEach((s, i) => {
    let d = '';
    for (let k = 0; k < s.pts.length; k++) {
      const pt = s.pts[k];
      if (!pt) continue;
      const xy = `${fmt(p.sx(pt[0]))} ${fmt(p.sy(pt[1]))}`;
      const startsRun = k === 0 || s.pts[k - 1] === null;
      const isolated = startsRun && (k + 1 === s.pts.length || s.pts[k + 1] === null);
      d += startsRun ? `M${xy}${isolated ? 'h0' : ''}` : `L${xy}`;
    }
    out.push(seriesPath(s.name, i, d));
  });
  if (valid.length === 0) out.push(noData(p));
  out.push(legend(p, series.map((s) => s.name)), '</svg>');
  return out.join('');
}

/** Counts of the finite values in `bins` equal-width bins over their range. */
export function histogram(options: HistogramOptions): string {
  const o = checkKeys(options, 'histogram', ['title', 'xLabel', 'yLabel', 'width', 'height', 'values', 'bins', 'name']);
  const { w, h } = checkBase(o, 'histogram');
  const values = checkArray(o.values, 'histogram.values');
  const bins = o.bins === undefined ? 40 : o.bins;
  if (!isInteger(bins) || (bins as number) < 1 || (bins as number) > 10000) {
    throw invalidValue('ERR_SONOEDGE_DIMENSION', 'integer from 1 to 10000', 'histogram.bins', bins);
  }
  const nb = bins as number;
  if (o.name !== undefined && !isString(o.name)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', 'histogram.name', o.name);
  const finite: number[] = [];
  for (let i = 0; i < values.length; i++) if (isFiniteNumber(values[i])) finite.push(values[i] as number);

  let [lo, hi] = extent(finite);
  if (finite.length > 0 && lo === hi) {
    // All equal: one bar in the middle of a unit-ish range.
    const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.05;
    [lo, hi] = [lo - pad, hi + pad];
  }
  const counts = new Array<number>(nb).fill(0);
  const bw = (hi - lo) / nb;
  for (const v of finite) counts[Math.min(nb - 1, Math.floor((v - lo) / bw))]++;
  const maxCount = Math.max(0, ...counts);

  const p = plot(w, h, niceAxis(lo, hi), niceAxis(0, maxCount || 1, 5, true));
  const skipped = values.length - finite.length;
  const note = `n = ${finite.length}${skipped ? ` (${skipped} non-finite skipped)` : ''}`;
  const out = frame(p, o as unknown as ChartOptions, (o.yLabel as string | undefined) ?? 'count', note);
  let d = '';
  const y0 = fmt(p.sy(0));
  counts.forEach((c, i) => {
    if (c === 0) return;
    d += `M${fmt(p.sx(lo + i * bw))} ${y0}V${fmt(p.sy(c))}H${fmt(p.sx(lo + (i + 1) * bw))}V${y0}Z`;
  });
  out.push(`<path class="series" data-name="${escapeXml((o.name as string | undefined) ?? 'count')}" d="${d}" fill="${PALETTE[0]}" fill-opacity="0.85" stroke="${BG}" stroke-width="0.5"/>`);
  if (finite.length === 0) out.push(noData(p));
  out.push('</svg>');
  return out.join('');
}

/** Empirical CDFs: the fraction of each series' finite values <= x, as steps. */
export function cdfChart(options: CdfChartOptions): string {
  const o = checkKeys(options, 'cdfChart', ['title', 'xLabel', 'yLabel', 'width', 'height', 'series']);
  const { w, h } = checkBase(o, 'cdfChart');
  if (!Array.isArray(o.series)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array', 'cdfChart.series', o.series);
  const series = o.series.map((s, i) => {
    const so = checkKeys(s, `cdfChart.series[${i}]`, ['name', 'values']);
    if (!isString(so.name)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'string', `cdfChart.series[${i}].name`, so.name);
    const values = checkArray(so.values, `cdfChart.series[${i}].values`);
    const sorted: number[] = [];
    for (let k = 0; k < values.length; k++) if (isFiniteNumber(values[k])) sorted.push(values[k] as number);
    sorted.sort((a, b) => a - b);
    return { name: so.name, sorted };
  });
  const [lo, hi] = extent(series.flatMap((s) => s.sorted));
  const p = plot(w, h, niceAxis(lo, hi), niceAxis(0, 1));
  const out = frame(p, o as unknown as ChartOptions, (o.yLabel as string | undefined) ?? 'fraction \u2264 x');
  series.forEach((s, i) => {
    const n = s.sorted.length;
    // One step per distinct value; steps closer than half a pixel merge, so a
    // path over 100k samples stays about as long as the plot is wide.
    const steps: [number, number][] = [];
    for (let k = 0; k < n; k++) {
      if (k + 1 < n && s.sorted[k + 1] === s.sorted[k]) continue;
      const px = p.sx(s.sorted[k]);
      const py = p.sy((k + 1) / n);
      const last = steps[steps.length - 1];
      if (last && px - last[0] < 0.5) last[1] = py;
      else steps.push([px, py]);
    }
    let d = '';
    if (steps.length > 0) {
      d = `M${fmt(steps[0][0])} ${fmt(p.sy(0))}`;
      for (const [px, py] of steps) d += `H${fmt(px)}V${fmt(py)}`;
    }
    out.push(seriesPath(s.name, i, d));
  });
  if (series.every((s) => s.sorted.length === 0)) out.push(noData(p));
  out.push(legend(p, series.map((s) => s.name)), '</svg>');
  return out.join('');
}
