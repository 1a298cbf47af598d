// Post-processing of model outputs into clinical quantities: class
// probabilities, segmentation masks, the LV contour and area, volumes by the
// single-plane area-length method, ED/ES/EF over a cine, and display smoothing
// with hysteresis. Pure TypeScript, allocation-free per frame where it matters
// (the MaskAnalyzer keeps its buffers). The area-length definition matches the
// harness (training/sonoedge_train/metrics.py: lv_area_length, ef_from_masks).

/** Numerically stable softmax of src[offset .. offset+n) into out[0 .. n). */
export function softmax(src: ArrayLike<number>, out: Float32Array | Float64Array, offset = 0, n = src.length - offset): typeof out {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, src[offset + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp(src[offset + i] - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < n; i++) out[i] /= sum;
  return out;
}

/** Index of the largest value (the first on ties); 0 for an empty array. */
export function argmaxIndex(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}

export interface Ranked { index: number; label: string; score: number }

/** The k highest scores, best first; ties keep the lower index first. */
export function topK(scores: ArrayLike<number>, k: number, labels: readonly string[] = []): Ranked[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => scores[b] - scores[a] || a - b);
  return idx.slice(0, Math.max(0, k)).map((i) => ({ index: i, label: labels[i] ?? String(i), score: scores[i] }));
}

export interface Component {
  /** Pixels in the component. */
  area: number;
  /** A view of the analyzer's mask buffer: 1 inside the component, 0 elsewhere (valid until the next call). */
  mask: Uint8Array;
}

/**
 * Mask operations on one output geometry, with buffers allocated once:
 * channel argmax, the largest connected component of a label, its outer
 * contour (Moore-neighbour tracing) and its area and long axis.
 */
export class MaskAnalyzer {
  readonly width: number;
  readonly height: number;
  readonly #labels: Uint8Array;
  readonly #mask: Uint8Array;
  readonly #component: Int32Array;
  readonly #stack: Int32Array;

  constructor(width: number, height: number) {
    this.width = width;
    this.height = height;
    const n = width * height;
    this.#labels = new Uint8Array(n);
    this.#mask = new Uint8Array(n);
    this.#component = new Int32Array(n);
    this.#stack = new Int32Array(n);
  }

  /** Per-pixel argmax over `channels` planes of an NCHW [1, C, H, W] tensor. Returns the analyzer's label buffer. */
  argmax(logits: ArrayLike<number>, channels: number): Uint8Array {
    const n = this.width * this.height;
    if (logits.length < channels * n) {
      throw new RangeError(`Expected logits of at least ${channels * n} values for ${channels}x${this.height}x${this.width} but received ${logits.length}`);
    }
    const out = this.#labels;
    for (let p = 0; p < n; p++) {
      let best = 0;
      let bestV = logits[p];
      for (let c = 1; c < channels; c++) {
        const v = logits[c * n + p];
        if (v > bestV) {
          bestV = v;
          best = c;
        }
      }
      out[p] = best;
    }
    return out;
  }

  /** The largest 8-connected (or 4-connected) component of `label` in `labels`. Ties keep the first found in raster order. */
  largestComponent(labels: Uint8Array, label: number, connectivity: 4 | 8 = 8): Component {
    const w = this.width;
    const h = this.height;
    const comp = this.#component;
    const stack = this.#stack;
    comp.fill(0);
    let next = 0;
    let bestId = 0;
    let bestArea = 0;
    for (let start = 0; start < w * h; start++) {
      if (labels[start] !== label || comp[start] !== 0) continue;
      next++;
      let area = 0;
      let top = 0;
      stack[top++] = start;
      comp[start] = next;
      while (top > 0) {
        const p = stack[--top];
        area++;
        const x = p % w;
        const y = (p - x) / w;
        for (let dy = -1; dy <= 1; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            if ((dx === 0 && dy === 0) || (connectivity === 4 && dx !== 0 && dy !== 0)) continue;
            const xx = x + dx;
            if (xx < 0 || xx >= w) continue;
            const q = yy * w + xx;
            if (labels[q] === label && comp[q] === 0) {
              comp[q] = next;
              stack[top++] = q;
            }
          }
        }
      }
      if (area > bestArea) {
        bestArea = area;
        bestId = next;
      }
    }
    const mask = this.#mask;
    for (let p = 0; p < w * h; p++) mask[p] = bestId !== 0 && comp[p] === bestId ? 1 : 0;
    return { area: bestArea, mask };
  }

  /**
   * The outer boundary of a binary mask's first component in raster order, as
   * pixel-centre coordinates [x0, y0, x1, y1, ...] clockwise (image axes),
   * by Moore-neighbour tracing, stopping when the first step repeats.
   */
  contour(mask: Uint8Array): number[] {
    const w = this.width;
    const h = this.height;
    let start = -1;
    for (let p = 0; p < w * h; p++) {
      if (mask[p] !== 0) {
        start = p;
        break;
      }
    }
    if (start < 0) return [];
    // Clockwise neighbour offsets starting from west: W, NW, N, NE, E, SE, S, SW.
    const DX = [-1, -1, 0, 1, 1, 1, 0, -1];
    const DY = [0, -1, -1, -1, 0, 1, 1, 1];
    const inside = (x: number, y: number): boolean => x >= 0 && y >= 0 && x < w && y < h && mask[y * w + x] !== 0;
    const sx = start % w;
    const sy = (start - sx) / w;
    const pts = [sx, sy];
    let x = sx;
    let y = sy;
    let dir = 0; // the west neighbour of the first pixel in raster order is background
    let p1x = -1;
    let p1y = -1;
    for (let guard = 0; guard < 8 * w * h + 8; guard++) {
      let found = -1;
      for (let k = 0; k < 8; k++) {
        const d = (dir + k) % 8;
        if (inside(x + DX[d], y + DY[d])) {
          found = d;
          break;
        }
      }
      if (found < 0) return pts; // a single pixel
      const nx = x + DX[found];
      const ny = y + DY[found];
      // Stop when the first step (start -> p1) is about to repeat.
      if (x === sx && y === sy && nx === p1x && ny === p1y) break;
      if (p1x < 0) {
        p1x = nx;
        p1y = ny;
      }
      x = nx;
      y = ny;
      // Resume the clockwise search just after the background neighbour we came past.
      dir = (found + 6) % 8;
      if (x !== sx || y !== sy) pts.push(x, y);
    }
    return pts;
  }
}

function pointLineDistance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  if (len2 === 0) return Math.hypot(px - ax, py - ay);
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

function douglasPeucker(pts: number[], first: number, last: number, eps: number, keep: Uint8Array): void {
  let maxD = -1;
  let idx = -1;
  for (let i = first + 1; i < last; i++) {
    const d = pointLineDistance(pts[2 * i], pts[2 * i + 1], pts[2 * first], pts[2 * first + 1], pts[2 * last], pts[2 * last + 1]);
    if (d > maxD) {
      maxD = d;
      idx = i;
    }
  }
  if (idx >= 0 && maxD > eps) {
    keep[idx] = 1;
    douglasPeucker(pts, first, idx, eps, keep);
    douglasPeucker(pts, idx, last, eps, keep);
  }
}

/**
 * Douglas-Peucker simplification of a closed polygon [x0, y0, ...]: no kept
 * point lies further than `epsilon` from the simplified outline's removed
 * points. The polygon is split at its first point and the point furthest from it.
 */
export function simplifyPolygon(points: readonly number[], epsilon: number): number[] {
  const n = points.length / 2;
  if (n <= 3) return [...points];
  const pts = [...points];
  let far = 0;
  let farD = -1;
  for (let i = 1; i < n; i++) {
    const d = Math.hypot(pts[2 * i] - pts[0], pts[2 * i + 1] - pts[1]);
    if (d > farD) {
      farD = d;
      far = i;
    }
  }
  const keep = new Uint8Array(n + 1);
  keep[0] = 1;
  keep[far] = 1;
  const closed = [...pts, pts[0], pts[1]];
  douglasPeucker(closed, 0, far, epsilon, keep);
  douglasPeucker(closed, far, n, epsilon, keep);
  const out: number[] = [];
  for (let i = 0; i < n; i++) if (keep[i]) out.push(pts[2 * i], pts[2 * i + 1]);
  return out;
}

export interface AreaLength {
  /** Area in mm^2 (pixel count times the pixel area). */
  areaMm2: number;
  /** Long axis in mm: the extent of the pixel centres along the principal axis, plus one pixel. */
  lengthMm: number;
}

/**
 * Area and long-axis length of a binary mask with square pixels of
 * `spacingMm`, as the harness defines them (fewer than 3 pixels: zeros).
 */
export function areaLength(mask: Uint8Array, width: number, spacingMm: number): AreaLength {
  let n = 0;
  let mx = 0;
  let my = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    const x = p % width;
    n++;
    mx += x;
    my += (p - x) / width;
  }
  if (n < 3) return { areaMm2: 0, lengthMm: 0 };
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    const x = (p % width) - mx;
    const y = (p - (p % width)) / width - my;
    sxx += x * x;
    sxy += x * y;
    syy += y * y;
  }
  // Principal axis of the 2x2 scatter matrix.
  const theta = 0.5 * Math.atan2(2 * sxy, sxx - syy);
  const ux = Math.cos(theta);
  const uy = Math.sin(theta);
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    const x = (p % width) - mx;
    const y = (p - (p % width)) / width - my;
    const proj = x * ux + y * uy;
    lo = Math.min(lo, proj);
    hi = Math.max(hi, proj);
  }
  return { areaMm2: n * spacingMm * spacingMm, lengthMm: (hi - lo + 1) * spacingMm };
}

/** Single-plane area-length volume in mL: V = 8 A^2 / (3 pi L), A in mm^2 and L in mm. */
export function areaLengthVolumeMl(areaMm2: number, lengthMm: number): number {
  return lengthMm === 0 ? 0 : (8 * areaMm2 * areaMm2) / (3 * Math.PI * lengthMm) / 1000;
}

export interface EjectionFractionResult {
  /** Ejection fraction in percent, (EDV - ESV) / EDV. */
  ef: number;
  /** Frame indices (as given to push) of end-diastole (largest volume) and end-systole (smallest). */
  edFrame: number;
  esFrame: number;
  edvMl: number;
  esvMl: number;
  /** Whether the window supports an EF: enough frames, no gaps, ED before or after ES with a plausible EF. */
  valid: boolean;
  /** Why not, when not valid. */
  reason?: string;
}

export interface EjectionFractionOptions {
  /** Frames the window holds: at least one cardiac cycle (default 64). */
  window?: number;
  /** Frames needed before an EF is valid (default 16). */
  minFrames?: number;
  /** Plausible EF range in percent (default [5, 90]). */
  range?: [number, number];
}

/**
 * EF over a sliding window of per-frame LV measurements: volumes by the
 * area-length method, ED = the largest volume, ES = the smallest.
 */
export class EjectionFraction {
  readonly #window: number;
  readonly #minFrames: number;
  readonly #range: [number, number];
  readonly #frames: Int32Array;
  readonly #volumes: Float64Array;
  #count = 0;
  #head = 0;
  #gap = false;

  constructor(options: EjectionFractionOptions = {}) {
    this.#window = options.window ?? 64;
    this.#minFrames = options.minFrames ?? 16;
    this.#range = options.range ?? [5, 90];
    this.#frames = new Int32Array(this.#window);
    this.#volumes = new Float64Array(this.#window);
  }

  /** Adds one frame's LV area and length; a frame without a usable mask resets the window. */
  push(frame: number, m: AreaLength | undefined): void {
    if (m === undefined || m.lengthMm === 0) {
      this.reset();
      this.#gap = true;
      return;
    }
    this.#frames[this.#head] = frame;
    this.#volumes[this.#head] = areaLengthVolumeMl(m.areaMm2, m.lengthMm);
    this.#head = (this.#head + 1) % this.#window;
    this.#count = Math.min(this.#count + 1, this.#window);
  }

  reset(): void {
    this.#count = 0;
    this.#head = 0;
    this.#gap = false;
  }

  result(): EjectionFractionResult {
    let ed = -1;
    let es = -1;
    for (let k = 0; k < this.#count; k++) {
      const i = (this.#head - this.#count + k + this.#window) % this.#window;
      if (ed < 0 || this.#volumes[i] > this.#volumes[ed]) ed = i;
      if (es < 0 || this.#volumes[i] < this.#volumes[es]) es = i;
    }
    if (ed < 0) {
      return { ef: 0, edFrame: -1, esFrame: -1, edvMl: 0, esvMl: 0, valid: false, reason: this.#gap ? 'a frame had no LV mask' : 'no frames' };
    }
    const edv = this.#volumes[ed];
    const esv = this.#volumes[es];
    const ef = edv === 0 ? 0 : (100 * (edv - esv)) / edv;
    let reason: string | undefined;
    if (this.#count < this.#minFrames) reason = `${this.#count} of ${this.#minFrames} frames`;
    else if (ef < this.#range[0] || ef > this.#range[1]) reason = `EF ${ef.toFixed(1)}% outside ${this.#range[0]}-${this.#range[1]}%`;
    return { ef, edFrame: this.#frames[ed], esFrame: this.#frames[es], edvMl: edv, esvMl: esv, valid: reason === undefined, ...(reason ? { reason } : {}) };
  }
}

export interface ClassSmootherOptions {
  /** Weight of the newest frame in the exponential moving average (default 0.3). */
  alpha?: number;
  /** A new class must lead the shown one by this much smoothed probability (default 0.1)... */
  margin?: number;
  /** ...for this many consecutive frames (default 3) before the display switches. */
  hold?: number;
}

/**
 * Smooths per-frame class probabilities for display: an exponential moving
 * average, and a shown class that changes only when another one leads it by
 * `margin` for `hold` frames in a row, so a display does not flicker.
 */
export class ClassSmoother {
  readonly #alpha: number;
  readonly #margin: number;
  readonly #hold: number;
  readonly #avg: Float64Array;
  #shown = -1;
  #candidate = -1;
  #streak = 0;

  constructor(classes: number, options: ClassSmootherOptions = {}) {
    this.#alpha = options.alpha ?? 0.3;
    this.#margin = options.margin ?? 0.1;
    this.#hold = options.hold ?? 3;
    this.#avg = new Float64Array(classes);
  }

  /** Feeds one frame's probabilities; returns the class to show. */
  update(probs: ArrayLike<number>): number {
    const a = this.#alpha;
    const first = this.#shown < 0;
    let best = 0;
    for (let c = 0; c < this.#avg.length; c++) {
      this.#avg[c] = first ? probs[c] : a * probs[c] + (1 - a) * this.#avg[c];
      if (this.#avg[c] > this.#avg[best]) best = c;
    }
    if (first) {
      this.#shown = best;
      return best;
    }
    if (best !== this.#shown && this.#avg[best] - this.#avg[this.#shown] >= this.#margin) {
      this.#streak = best === this.#candidate ? this.#streak + 1 : 1;
      this.#candidate = best;
      if (this.#streak >= this.#hold) {
        this.#shown = best;
        this.#streak = 0;
        this.#candidate = -1;
      }
    } else {
      this.#streak = 0;
      this.#candidate = -1;
    }
    return this.#shown;
  }

  /** The smoothed probabilities (a live view). */
  get probabilities(): Float64Array {
    return this.#avg;
  }
}

/**
 * Smooths a score in [0, 1] and turns it into a good/poor state with two
 * thresholds: it becomes good above `enter` and poor again only below `exit`.
 */
export class ScoreHysteresis {
  readonly #alpha: number;
  readonly #enter: number;
  readonly #exit: number;
  #value = NaN;
  #good = false;

  constructor(options: { alpha?: number; enter?: number; exit?: number } = {}) {
    this.#alpha = options.alpha ?? 0.3;
    this.#enter = options.enter ?? 0.6;
    this.#exit = options.exit ?? 0.5;
    if (!(this.#exit <= this.#enter)) {
      throw new RangeError(`Expected exit <= enter for the quality thresholds but received exit ${this.#exit}, enter ${this.#enter}`);
    }
  }

  update(score: number): { value: number; good: boolean } {
    this.#value = Number.isNaN(this.#value) ? score : this.#alpha * score + (1 - this.#alpha) * this.#value;
    if (!this.#good && this.#value >= this.#enter) this.#good = true;
    else if (this.#good && this.#value < this.#exit) this.#good = false;
    return { value: this.#value, good: this.#good };
  }
}
