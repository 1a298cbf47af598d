// The automatic sector finder: where the ultrasound image lies in a full-screen
// frame (UI bars, text, logos, a colour bar, an ECG trace, calipers, a depth
// scale around it), from one frame or a few frames of a cine. Pure TypeScript
// over packed 8-bit frames; nothing here runs per frame in the pipeline (a
// stream finds its sector once, then crops every frame with the box).
//
// Method (docs/PREPROCESSING.md, section 9):
//  1. Brightness: the luma of each frame; its mean M over the frames used and,
//     from two frames on, its temporal standard deviation S.
//  2. Background: the most common value on the frame's outer ring, if at least
//     40% of the ring lies within 2 grey levels of it (a screen's flat
//     background); its noise from the ring's spread. A frame without a flat
//     ring is taken to be all image (a full-frame capture without UI).
//  3. Foreground: |M - background| above a threshold (from the noise, at least
//     1 grey level), or, with several frames, S above its own threshold (the
//     image changes, UI does not).
//  4. A majority filter (a pixel stays foreground when more than half of the
//     (2r+1)^2 window around it is): removes text strokes, thin lines (ECG,
//     dotted lines, calipers, the depth scale) and isolated specks, keeps
//     straight edges in place, fills speckle's dark grains; r =
//     clamp(round(min(width, height) / 200), 2, 5) pixels.
//  5. The connected component with the largest area, weighted by its texture
//     (flat colour bars, logos and panels score low); its holes (dark
//     chambers, cysts) filled. A region whose brightness is not spatially
//     correlated (lag-1 correlation under 0.2: white noise, not speckle) is
//     no image.
//  6. The shape. Per row, the longest run of the region (text attached to the
//     image adds short runs, outliers below). Two near-vertical sides (a
//     vertical line explains the side's rows about as well as the best
//     slanted one, RANSAC with a fixed seed): a rectangle (linear probe),
//     its top and bottom the first and last rows covering half its width.
//     Otherwise a fan: a robust line through each side over the region's
//     upper 55% (a fan's edges run from the apex to at least 64% of its
//     radius; below lie the arc and the dark periphery an edge fades into on
//     real images); the apex where they meet, the edge angles from their
//     slopes, the outer radius the 75th percentile over angle bins of the
//     farthest pixel (an ECG or a label touching the arc, or a dark patch on
//     it, moves few bins; bins the frame cuts off are left out), an inner
//     radius when the top lies well below the apex (a truncated top:
//     curvilinear probes, many phased-array displays). The box is the fitted
//     shape's, clipped to the frame. The shape is kept when it holds 90% of
//     the region's pixels and the region covers at least half of it; the
//     confidence is their intersection over union. Otherwise the region's
//     own box, kind 'region'.
// Limits: the probe at the top of the screen (apex up); an image part that
// does not differ from the background (black at depth) is not found, so the
// box ends where the signal does; UI touching the image over a long stretch
// (a bar along a whole side) joins it.
import { invalidType, invalidValue, type ErrorCode } from '../errors.js';
import { isInteger, isFiniteNumber } from '../util/is.js';
import { checkKeys } from '../util/options.js';
import type { Roi } from './options.js';

/** Packed 8-bit pixel formats the finder reads (luma 0.299 R + 0.587 G + 0.114 B for colour). */
export type SectorFrameFormat = 'GRAY8' | 'RGB8' | 'BGR8' | 'RGBA8' | 'BGRA8';

const FORMATS: Record<SectorFrameFormat, { channels: number; r: number; g: number; b: number }> = {
  GRAY8: { channels: 1, r: 0, g: 0, b: 0 },
  RGB8: { channels: 3, r: 0, g: 1, b: 2 },
  BGR8: { channels: 3, r: 2, g: 1, b: 0 },
  RGBA8: { channels: 4, r: 0, g: 1, b: 2 },
  BGRA8: { channels: 4, r: 2, g: 1, b: 0 },
};

export interface FindSectorOptions {
  /** Frames used at most, evenly spaced over the ones given (1..1024, default 32). */
  maxFrames?: number;
  /** Majority filter radius in pixels (1..32); default from the frame size: clamp(round(min(width, height) / 200), 2, 5). */
  filterRadius?: number;
  /** Grey levels above the background that count as image (0.5..255); default max(1, 3 x the background noise + 1). */
  threshold?: number;
}

/** A fan: apex in frame pixels (may lie outside the frame), edge angles in radians from the downward vertical, positive to image right (ScanConversion's convention), radii in pixels. */
export interface SectorFan {
  kind: 'sector';
  apex: { x: number; y: number };
  angleStart: number;
  angleEnd: number;
  radius: number;
  /** 0 for a pointed apex; the truncated top's distance from the apex otherwise (curvilinear probes). */
  innerRadius: number;
}
export type SectorShape = SectorFan | { kind: 'rectangle' } | { kind: 'region' };

export interface SectorFound {
  found: true;
  /** The image region's bounding box in frame pixels, inside the frame. */
  box: Roi;
  shape: SectorShape;
  /** 0..1: the fitted shape's intersection over union with the image pixels found; for a 'region', half the fraction of its box it fills. */
  confidence: number;
  framesUsed: number;
  /** The background grey level and the threshold above it that counted as image (the background is null when the frame has no flat border: all of it is image). */
  background: number | null;
  threshold: number;
}

/** BLANK: nothing differs from the background; TOO_SMALL: nothing large enough (2% of the frame) survives the filter; NO_TEXTURE: the largest region is flat or uncorrelated noise, not an ultrasound image. */
export type SectorNotFoundReason = 'BLANK' | 'TOO_SMALL' | 'NO_TEXTURE';

export interface SectorNotFound {
  found: false;
  code: Extract<ErrorCode, 'ERR_SONOEDGE_SECTOR_NOT_FOUND'>;
  reason: SectorNotFoundReason;
  message: string;
  framesUsed: number;
}

export type SectorResult = SectorFound | SectorNotFound;

const OPTION_KEYS = ['maxFrames', 'filterRadius', 'threshold'] as const;
const MAX_DIMENSION = 16384;
/** A region smaller than this fraction of the frame is not an image. */
const MIN_AREA_FRACTION = 0.02;
/** Lag-1 spatial correlation below this is noise, not speckle. */
const MIN_CORRELATION = 0.2;
/** A fitted shape is trusted when it holds this share of the pixels found (precision)... */
const MIN_PRECISION = 0.9;
/** ...and the pixels found cover this share of it (recall; dark parts of an image are not found). */
const MIN_RECALL = 0.5;
/** Slopes (dx/dy) at most this far from vertical make a rectangle's sides (about 1.1 degrees). */
const VERTICAL_SLOPE = 0.02;

/**
 * Finds the ultrasound image region in full-screen frames of one geometry
 * (`frames`: one packed frame or several). Returns the box, the fitted shape
 * and a confidence, or `found: false` with a reason. Throws a TypeError or
 * RangeError (with a code) for bad arguments.
 */
export function findSector(frames: Uint8Array | readonly Uint8Array[], width: number, height: number,
  format: SectorFrameFormat, options: FindSectorOptions = {}): SectorResult {
  const o = validate(frames, width, height, format, options);
  const w = width;
  const h = height;
  const n = w * h;
  const used = pickFrames(o.frames, o.maxFrames);
  const { mean, std } = luma(used, n, FORMATS[format]);

  const r = o.filterRadius ?? Math.min(5, Math.max(2, Math.round(Math.min(w, h) / 200)));
  const bg = background(mean, std, w, h);
  const threshold = o.threshold ?? Math.max(1, 3 * bg.noise + 1);
  const notFound = (reason: SectorNotFoundReason, message: string): SectorNotFound =>
    ({ found: false, code: 'ERR_SONOEDGE_SECTOR_NOT_FOUND', reason, message, framesUsed: used.length });

  // 3. Foreground.
  const fg = new Uint8Array(n);
  let any = 0;
  if (bg.flat) {
    const sT = Math.max(1.5, 3 * bg.temporalNoise + 1);
    for (let p = 0; p < n; p++) {
      const on = Math.abs(mean[p] - bg.level) > threshold || (std !== undefined && std[p] > sT);
      fg[p] = on ? 1 : 0;
      any += fg[p];
    }
  } else {
    fg.fill(1);
    any = n;
  }
  if (any === 0) {
    return notFound('BLANK', `Expected an image region in the ${w}x${h} frame${used.length > 1 ? 's' : ''} but received nothing that differs from the background (grey level ${round2(bg.level)})`);
  }

  // 4-5. Majority filter, then the best component, holes filled.
  const mask = majority(fg, w, h, r);
  const labels = new Int32Array(n);
  const comp = bestComponent(mask, labels, mean, w, h);
  const minArea = Math.max(16, Math.ceil(MIN_AREA_FRACTION * n));
  if (comp === undefined || comp.area < minArea) {
    return notFound('TOO_SMALL', `Expected an image region of at least ${minArea} pixels (2% of the ${w}x${h} frame) but received ${comp === undefined ? 'none' : `a largest region of ${comp.area} pixels`} after removing text, lines and specks`);
  }
  const region = fillHoles(labels, comp.label, w, h);
  const corr = correlation(mean, region, w, h);
  if (!(corr >= MIN_CORRELATION)) {
    return notFound('NO_TEXTURE', `Expected an ultrasound image (spatially correlated speckle, lag-1 correlation at least ${MIN_CORRELATION}) but received a region of ${comp.area} pixels with correlation ${Number.isNaN(corr) ? 'undefined (flat)' : round2(corr)}`);
  }

  // 6. The shape.
  const fit = fitShape(region, w, h, comp, r);
  return {
    found: true,
    box: fit.box,
    shape: fit.shape,
    confidence: round4(fit.confidence),
    framesUsed: used.length,
    background: bg.flat ? round2(bg.level) : null,
    threshold: round2(threshold),
  };
}

const round2 = (v: number): number => Math.round(v * 100) / 100;
const round4 = (v: number): number => Math.round(v * 10000) / 10000;

interface Valid { frames: readonly Uint8Array[]; maxFrames: number; filterRadius?: number; threshold?: number }

function validate(frames: unknown, width: unknown, height: unknown, format: unknown, options: unknown): Valid {
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (typeof v !== 'number') throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'an integer', name, v);
    if (!isInteger(v) || v < 1 || v > MAX_DIMENSION) throw invalidValue('ERR_SONOEDGE_DIMENSION', `an integer in [1, ${MAX_DIMENSION}]`, name, v);
  }
  if (typeof format !== 'string' || !Object.hasOwn(FORMATS, format)) {
    throw invalidValue('ERR_SONOEDGE_PIXEL_FORMAT', `one of ${Object.keys(FORMATS).join(', ')}`, 'format', format);
  }
  const list = frames instanceof Uint8Array ? [frames] : frames;
  if (!Array.isArray(list) || list.length === 0) {
    throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'a Uint8Array or a non-empty array of Uint8Arrays', 'frames', frames);
  }
  const need = (width as number) * (height as number) * FORMATS[format as SectorFrameFormat].channels;
  list.forEach((f: unknown, i: number) => {
    if (!(f instanceof Uint8Array)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'a Uint8Array', `frames[${i}]`, f);
    if (f.length < need) {
      throw invalidValue('ERR_SONOEDGE_FRAME_TOO_SHORT', `at least ${need} bytes (${width}x${height} ${format})`, `frames[${i}]`, f);
    }
  });
  const opts = checkKeys(options, 'options', OPTION_KEYS);
  const num = (key: string, lo: number, hi: number, integer: boolean): number | undefined => {
    const v = opts[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number') throw invalidType('ERR_SONOEDGE_ARG_TYPE', integer ? 'an integer' : 'a number', `options.${key}`, v);
    if (!isFiniteNumber(v) || v < lo || v > hi || (integer && !isInteger(v))) {
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', `${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}]`, `options.${key}`, v);
    }
    return v;
  };
  return {
    frames: list as readonly Uint8Array[],
    maxFrames: num('maxFrames', 1, 1024, true) ?? 32,
    filterRadius: num('filterRadius', 1, 32, true),
    threshold: num('threshold', 0.5, 255, false),
  };
}

/** At most `max` frames, evenly spaced, first and last included. */
function pickFrames(frames: readonly Uint8Array[], max: number): readonly Uint8Array[] {
  if (frames.length <= max) return frames;
  if (max === 1) return [frames[0]];
  return Array.from({ length: max }, (_, i) => frames[Math.round((i * (frames.length - 1)) / (max - 1))]);
}

/** Temporal mean of the luma, and its standard deviation from two frames on. */
function luma(frames: readonly Uint8Array[], n: number, f: { channels: number; r: number; g: number; b: number }): { mean: Float32Array; std?: Float32Array } {
  const sum = new Float64Array(n);
  const sq = frames.length > 1 ? new Float64Array(n) : undefined;
  for (const frame of frames) {
    for (let p = 0, q = 0; p < n; p++, q += f.channels) {
      const v = f.channels === 1 ? frame[p] : 0.299 * frame[q + f.r] + 0.587 * frame[q + f.g] + 0.114 * frame[q + f.b];
      sum[p] += v;
      if (sq) sq[p] += v * v;
    }
  }
  const k = frames.length;
  const mean = new Float32Array(n);
  for (let p = 0; p < n; p++) mean[p] = sum[p] / k;
  if (!sq) return { mean };
  const std = new Float32Array(n);
  for (let p = 0; p < n; p++) std[p] = Math.sqrt(Math.max(0, sq[p] / k - (sum[p] / k) ** 2));
  return { mean, std };
}

/** The flat background on the frame's outer ring: its level, its noise (robust spread) and its temporal noise. */
function background(mean: Float32Array, std: Float32Array | undefined, w: number, h: number): { flat: boolean; level: number; noise: number; temporalNoise: number } {
  const t = Math.max(1, Math.round(Math.min(w, h) / 100));
  const ring: number[] = [];
  for (let y = 0; y < h; y++) {
    const edgeRow = y < t || y >= h - t;
    for (let x = 0; x < w; x++) if (edgeRow || x < t || x >= w - t) ring.push(y * w + x);
  }
  const hist = new Uint32Array(256);
  for (const p of ring) hist[Math.min(255, Math.max(0, Math.round(mean[p])))]++;
  let mode = 0;
  for (let v = 1; v < 256; v++) if (hist[v] > hist[mode]) mode = v;
  const near = ring.filter((p) => Math.abs(mean[p] - mode) <= 2);
  const flat = near.length >= 0.4 * ring.length;
  const wide = ring.filter((p) => Math.abs(mean[p] - mode) <= 8);
  const noise = 1.4826 * median(wide.map((p) => Math.abs(mean[p] - mode)));
  const temporalNoise = std === undefined ? 0 : median(near.map((p) => std[p]));
  return { flat, level: near.length > 0 ? near.reduce((s, p) => s + mean[p], 0) / near.length : mode, noise, temporalNoise };
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = Float64Array.from(values).sort();
  return s[(s.length - 1) >> 1];
}

/** A pixel is kept when more than half of the (2r+1)^2 window around it (clipped to the frame) is foreground. */
function majority(fg: Uint8Array, w: number, h: number, r: number): Uint8Array {
  const W = w + 1;
  const integral = new Int32Array(W * (h + 1));
  for (let y = 0; y < h; y++) {
    let row = 0;
    for (let x = 0; x < w; x++) {
      row += fg[y * w + x];
      integral[(y + 1) * W + x + 1] = integral[y * W + x + 1] + row;
    }
  }
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    const y0 = Math.max(0, y - r);
    const y1 = Math.min(h, y + r + 1);
    for (let x = 0; x < w; x++) {
      const x0 = Math.max(0, x - r);
      const x1 = Math.min(w, x + r + 1);
      const count = integral[y1 * W + x1] - integral[y0 * W + x1] - integral[y1 * W + x0] + integral[y0 * W + x0];
      out[y * w + x] = 2 * count > (x1 - x0) * (y1 - y0) ? 1 : 0;
    }
  }
  return out;
}

interface Component { label: number; area: number; minX: number; maxX: number; minY: number; maxY: number }

/**
 * Labels the 4-connected components of `mask` (into `labels`, from 1) and
 * returns the one with the largest area weighted by texture: the fraction of
 * its pixels that differ from their 3x3 neighbourhood's mean by more than one
 * grey level (speckle does, flat bars, panels and logos do not).
 */
function bestComponent(mask: Uint8Array, labels: Int32Array, mean: Float32Array, w: number, h: number): Component | undefined {
  const stack = new Int32Array(w * h);
  let best: Component | undefined;
  let bestScore = -1;
  let label = 0;
  for (let start = 0; start < w * h; start++) {
    if (mask[start] !== 1 || labels[start] !== 0) continue;
    label++;
    const c: Component = { label, area: 0, minX: w, maxX: -1, minY: h, maxY: -1 };
    let textured = 0;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    while (top > 0) {
      const p = stack[--top];
      const x = p % w;
      const y = (p - x) / w;
      c.area++;
      if (x < c.minX) c.minX = x;
      if (x > c.maxX) c.maxX = x;
      if (y < c.minY) c.minY = y;
      if (y > c.maxY) c.maxY = y;
      if (x > 0 && x < w - 1 && y > 0 && y < h - 1) {
        let s = 0;
        for (let dy = -w; dy <= w; dy += w) s += mean[p + dy - 1] + mean[p + dy] + mean[p + dy + 1];
        if (Math.abs(mean[p] - s / 9) > 1) textured++;
      }
      if (x > 0 && mask[p - 1] === 1 && labels[p - 1] === 0) { labels[p - 1] = label; stack[top++] = p - 1; }
      if (x < w - 1 && mask[p + 1] === 1 && labels[p + 1] === 0) { labels[p + 1] = label; stack[top++] = p + 1; }
      if (y > 0 && mask[p - w] === 1 && labels[p - w] === 0) { labels[p - w] = label; stack[top++] = p - w; }
      if (y < h - 1 && mask[p + w] === 1 && labels[p + w] === 0) { labels[p + w] = label; stack[top++] = p + w; }
    }
    const score = c.area * (0.25 + textured / c.area);
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

/** The component `label` of `labels` with every hole (a region not connected to the frame's border outside it) filled: 1 inside, 0 outside. */
function fillHoles(labels: Int32Array, label: number, w: number, h: number): Uint8Array {
  const outside = new Uint8Array(w * h);
  const stack = new Int32Array(w * h);
  let top = 0;
  const push = (p: number): void => {
    if (outside[p] === 0 && labels[p] !== label) { outside[p] = 1; stack[top++] = p; }
  };
  for (let x = 0; x < w; x++) { push(x); push((h - 1) * w + x); }
  for (let y = 0; y < h; y++) { push(y * w); push(y * w + w - 1); }
  while (top > 0) {
    const p = stack[--top];
    const x = p % w;
    if (x > 0) push(p - 1);
    if (x < w - 1) push(p + 1);
    if (p >= w) push(p - w);
    if (p < (h - 1) * w) push(p + w);
  }
  const region = new Uint8Array(w * h);
  for (let p = 0; p < w * h; p++) region[p] = outside[p] ? 0 : 1;
  return region;
}

/** Lag-1 autocorrelation of `mean` over horizontal and vertical neighbour pairs inside `region` (NaN when flat). */
function correlation(mean: Float32Array, region: Uint8Array, w: number, h: number): number {
  let s = 0;
  let k = 0;
  for (let p = 0; p < w * h; p++) if (region[p]) { s += mean[p]; k++; }
  const mu = s / k;
  let num = 0;
  let den = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      if (!region[p]) continue;
      const a = mean[p] - mu;
      den += a * a;
      if (x + 1 < w && region[p + 1]) num += a * (mean[p + 1] - mu);
      if (y + 1 < h && region[p + w]) num += a * (mean[p + w] - mu);
    }
  }
  // Each pixel has up to two forward pairs; den counts it once, so halve num's pair count.
  return den > 1e-6 * k ? num / (2 * den) : NaN;
}

interface Line { a: number; b: number; inliers: number; points: number }

/** A robust line x = a + b*y through points (ys[i], xs[i]): RANSAC with a fixed seed, then least squares on the inliers within 1.5 px. */
function robustLine(ys: number[], xs: number[]): Line | undefined {
  const m = ys.length;
  if (m < 2) return undefined;
  const tol = 1.5;
  let seed = 0x9e3779b9;
  const rand = (): number => {
    // mulberry32: a small deterministic generator, so the same frames always give the same fit.
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const count = (a: number, b: number): number => {
    let c = 0;
    for (let i = 0; i < m; i++) if (Math.abs(xs[i] - (a + b * ys[i])) <= tol) c++;
    return c;
  };
  let best = { a: xs[0], b: 0, inliers: -1 };
  const span = ys[m - 1] - ys[0];
  for (let it = 0; it < 400; it++) {
    const i = Math.floor(rand() * m);
    const j = Math.floor(rand() * m);
    if (Math.abs(ys[i] - ys[j]) < Math.max(1, span / 8)) continue;
    const b = (xs[j] - xs[i]) / (ys[j] - ys[i]);
    const a = xs[i] - b * ys[i];
    const c = count(a, b);
    if (c > best.inliers) best = { a, b, inliers: c };
  }
  if (best.inliers < 0) {
    // Every row within span/8 of each other: too few rows to tell a slope.
    return undefined;
  }
  for (let round = 0; round < 3; round++) {
    let sy = 0, sx = 0, syy = 0, sxy = 0, k = 0;
    for (let i = 0; i < m; i++) {
      if (Math.abs(xs[i] - (best.a + best.b * ys[i])) > tol) continue;
      sy += ys[i]; sx += xs[i]; syy += ys[i] * ys[i]; sxy += ys[i] * xs[i]; k++;
    }
    const d = k * syy - sy * sy;
    if (k < 2 || d <= 0) break;
    const b = (k * sxy - sy * sx) / d;
    const a = (sx - b * sy) / k;
    best = { a, b, inliers: count(a, b) };
  }
  return { a: best.a, b: best.b, inliers: best.inliers, points: m };
}

function quantile(values: number[], q: number): number {
  const s = Float64Array.from(values).sort();
  return s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))];
}

/** The vertical line x = c (c on a half-pixel grid) that most of `xs` lie within 1.5 px of, refined to their mean. */
function verticalLine(xs: number[]): { x: number; inliers: number } {
  let lo = Infinity, hi = -Infinity;
  for (const x of xs) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  let best = { x: lo, inliers: -1 };
  for (let c = lo; c <= hi; c += 0.5) {
    let k = 0;
    for (const x of xs) if (Math.abs(x - c) <= 1.5) k++;
    if (k > best.inliers) best = { x: c, inliers: k };
  }
  let sum = 0, k = 0;
  for (const x of xs) if (Math.abs(x - best.x) <= 1.5) { sum += x; k++; }
  return { x: sum / k, inliers: best.inliers };
}

function fitShape(region: Uint8Array, w: number, h: number, c: Component, r: number): { box: Roi; shape: SectorShape; confidence: number } {
  const regionBox: Roi = { x: c.minX, y: c.minY, width: c.maxX - c.minX + 1, height: c.maxY - c.minY + 1 };
  let area = 0;
  for (let p = 0; p < w * h; p++) area += region[p];
  const asRegion = { box: regionBox, shape: { kind: 'region' } as SectorShape, confidence: (0.5 * area) / (regionBox.width * regionBox.height) };

  // Per row, the longest run of the region's pixels: text or a label attached to
  // the image adds short runs of its own (outliers to the side lines) rather than
  // moving the row's ends. A side on the frame's border says nothing about the
  // shape's edges.
  const rows: number[] = [];
  const left: number[] = [];
  const right: number[] = [];
  for (let y = c.minY; y <= c.maxY; y++) {
    let bestS = -1, bestE = -2, s = -1;
    for (let x = c.minX; x <= c.maxX + 1; x++) {
      const on = x <= c.maxX && region[y * w + x] === 1;
      if (on && s < 0) s = x;
      if (!on && s >= 0) {
        if (x - 1 - s > bestE - bestS) { bestS = s; bestE = x - 1; }
        s = -1;
      }
    }
    if (bestS < 0) continue;
    rows.push(y); left.push(bestS); right.push(bestE);
  }
  const ly: number[] = [], lx: number[] = [], ry: number[] = [], rx: number[] = [];
  for (let i = 0; i < rows.length; i++) {
    if (left[i] > 0) { ly.push(rows[i]); lx.push(left[i]); }
    if (right[i] < w - 1) { ry.push(rows[i]); rx.push(right[i]); }
  }
  const minSide = 10;
  const L = ly.length >= minSide ? robustLine(ly, lx) : undefined;
  const R = ry.length >= minSide ? robustLine(ry, rx) : undefined;
  const VL = lx.length >= minSide ? verticalLine(lx) : undefined;
  const VR = rx.length >= minSide ? verticalLine(rx) : undefined;
  /** Rows whose run covers at least half of the width between the fitted sides there. */
  const fullRows = (x0At: (y: number) => number, x1At: (y: number) => number): number[] =>
    rows.filter((y, i) => right[i] - left[i] + 1 >= 0.5 * (x1At(y) - x0At(y) + 1));

  const clipBox = (x0: number, y0: number, x1: number, y1: number): Roi | undefined => {
    const bx0 = Math.max(0, Math.round(x0));
    const by0 = Math.max(0, Math.round(y0));
    const bx1 = Math.min(w - 1, Math.round(x1));
    const by1 = Math.min(h - 1, Math.round(y1));
    return bx1 >= bx0 && by1 >= by0 ? { x: bx0, y: by0, width: bx1 - bx0 + 1, height: by1 - by0 + 1 } : undefined;
  };
  /**
   * How the shape (`inside`, within `box`) agrees with the region: precision (the
   * region's share inside the shape), recall (the shape's share the region
   * covers; dark parts of an image lower it) and their IoU.
   */
  const agreement = (box: Roi, inside: (x: number, y: number) => boolean): { precision: number; recall: number; iou: number } => {
    let inter = 0, shape = 0;
    for (let y = box.y; y < box.y + box.height; y++) {
      for (let x = box.x; x < box.x + box.width; x++) {
        if (!inside(x, y)) continue;
        shape++;
        inter += region[y * w + x];
      }
    }
    return { precision: inter / area, recall: shape > 0 ? inter / shape : 0, iou: inter / (area + shape - inter) };
  };
  const accept = (a: { precision: number; recall: number }): boolean => a.precision >= MIN_PRECISION && a.recall >= MIN_RECALL;

  // A rectangle: each side on the frame's border or better explained by a vertical
  // line than by a slanted one (a colour bar or markers overlapping one side can
  // tilt the best slanted line a little, never a fan's side).
  const vertical = (line: Line | undefined, v: { x: number; inliers: number } | undefined): boolean =>
    line === undefined || v === undefined || Math.abs(line.b) <= VERTICAL_SLOPE || v.inliers >= 0.8 * line.inliers;
  if (vertical(L, VL) && vertical(R, VR)) {
    const x0 = VL?.x ?? c.minX;
    const x1 = VR?.x ?? c.maxX;
    const full = fullRows(() => x0, () => x1);
    const box = full.length > 0 ? clipBox(x0, full[0], x1, full[full.length - 1]) : undefined;
    if (!box) return asRegion;
    const a = agreement(box, () => true);
    return accept(a) ? { box, shape: { kind: 'rectangle' }, confidence: a.iou } : asRegion;
  }

  // A sector: two sides that meet above the region's middle, fitted to the rows of
  // the region's upper 55%. A fan's straight edges run from the apex down to at
  // least 64% of its radius (100 degrees wide), while the lower rows hold the arc
  // and, on a real image, the dark lateral parts an edge fades into.
  const cut = c.minY + 0.55 * (c.maxY - c.minY);
  const upper = (ys: number[], xs: number[]): [number[], number[]] => {
    const keep = ys.map((y) => y <= cut);
    return [ys.filter((_, i) => keep[i]), xs.filter((_, i) => keep[i])];
  };
  const [uly, ulx] = upper(ly, lx);
  const [ury, urx] = upper(ry, rx);
  const UL = uly.length >= minSide ? robustLine(uly, ulx) : undefined;
  const UR = ury.length >= minSide ? robustLine(ury, urx) : undefined;
  const f = UL && UR && UL.inliers >= minSide && UR.inliers >= minSide ? fan(UL, UR) : undefined;
  return f ? { box: f.box, shape: f.shape, confidence: f.iou } : asRegion;

  function fan(L: Line, R: Line): { box: Roi; shape: SectorFan; iou: number } | undefined {
    if (R.b - L.b < 2 * VERTICAL_SLOPE) return undefined;
    const ay = (L.a - R.a) / (R.b - L.b);
    const ax = L.a + L.b * ay;
    if (!(ay < (c.minY + c.maxY) / 2)) return undefined;
    const t0 = Math.atan(L.b);
    const t1 = Math.atan(R.b);

    // Outer (and inner) radius from angle bins over the middle 80% of the fan.
    const shapeRows = fullRows((y) => L.a + L.b * y, (y) => R.a + R.b * y).filter((y) => y > ay);
    if (shapeRows.length === 0) return undefined;
    const top = shapeRows[0];
    const reach = Math.hypot(Math.max(Math.abs(c.minX - ax), Math.abs(c.maxX - ax)), c.maxY - ay);
    const bins = Math.min(180, Math.max(8, Math.round(((t1 - t0) * reach) / 3)));
    const far = new Float64Array(bins).fill(-1);
    const near = new Float64Array(bins).fill(Infinity);
    // A bin whose farthest pixel lies on the frame's border is cut off by the frame: its arc is further out.
    const cutOff = new Uint8Array(bins);
    for (let y = c.minY; y <= c.maxY; y++) {
      for (let x = c.minX; x <= c.maxX; x++) {
        if (!region[y * w + x]) continue;
        const th = Math.atan2(x - ax, y - ay);
        const k = Math.floor(((th - t0) / (t1 - t0)) * bins);
        if (k < 0 || k >= bins) continue;
        const d = Math.hypot(x - ax, y - ay);
        if (d > far[k]) { far[k] = d; cutOff[k] = x === 0 || x === w - 1 || y === h - 1 ? 1 : 0; }
        if (d < near[k]) near[k] = d;
      }
    }
    // The radius: the 75th percentile of the middle 80% of bins not cut off; failing
    // three of those, of any bins not cut off (the corners of a fan whose arc leaves
    // the frame); failing those, the farthest pixel (the box then reaches the frame's edge).
    const lo = Math.floor(bins * 0.1);
    const hi = Math.ceil(bins * 0.9);
    const middle: number[] = [];
    const whole: number[] = [];
    const nearList: number[] = [];
    let farthest = -1;
    for (let k = 0; k < bins; k++) {
      if (far[k] < 0) continue;
      farthest = Math.max(farthest, far[k]);
      if (k >= lo && k < hi) nearList.push(near[k]);
      if (cutOff[k]) continue;
      whole.push(far[k]);
      if (k >= lo && k < hi) middle.push(far[k]);
    }
    if (nearList.length < 3) return undefined;
    const radius = middle.length >= 3 ? quantile(middle, 0.75) : whole.length > 0 ? quantile(whole, 0.75) : farthest;
    // A pointed apex loses about r rows to the majority filter; a top further below
    // the apex is a truncated one (curvilinear and many phased-array displays).
    const innerRadius = top - ay > 2 * r + 4 ? quantile(nearList, 0.5) : 0;
    if (!(radius > innerRadius)) return undefined;

    const xs: number[] = whole.length === 0 ? [c.minX, c.maxX] : [];
    const ys: number[] = [];
    for (const d of [innerRadius, radius]) for (const th of [t0, t1]) { xs.push(ax + d * Math.sin(th)); ys.push(ay + d * Math.cos(th)); }
    if (t0 <= 0 && t1 >= 0) ys.push(ay + radius);
    const box = clipBox(Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys));
    if (!box) return undefined;
    const a = agreement(box, (x, y) => {
      const d = Math.hypot(x - ax, y - ay);
      if (d > radius || d < innerRadius) return false;
      const th = Math.atan2(x - ax, y - ay);
      return th >= t0 && th <= t1;
    });
    if (!accept(a)) return undefined;
    return {
      box,
      shape: {
        kind: 'sector',
        apex: { x: round2(ax), y: round2(ay) },
        angleStart: round4(t0),
        angleEnd: round4(t1),
        radius: round2(radius),
        innerRadius: round2(innerRadius),
      },
      iou: a.iou,
    };
  }
}
