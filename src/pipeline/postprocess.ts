// Post-processing of model outputs into clinical quantities: class
// probabilities, segmentation masks, the LV contour and area, volumes by the
// single-plane area-length method, ED/ES/EF over a cine, and display smoothing
// with hysteresis. Pure TypeScript, allocation-free per frame where it matters
// (the MaskAnalyzer keeps its buffers). The area-length definition matches the
// harness (training/sonoedge_train/metrics.py: lv_area_length, ef_from_masks).

/**
 * Numerically stable softmax of src[offset .. offset+n) into out[0 .. n), of the
 * logits divided by `temperature` (> 0; default 1): softmax(logits / T).
 */
export function softmax(src: ArrayLike<number>, out: Float32Array | Float64Array, offset = 0, n = src.length - offset, temperature = 1): typeof out {
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, src[offset + i]);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((src[offset + i] - max) / temperature);
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

  /**
   * Border pixels of a binary mask: mask pixels with at least one of their 8 neighbours inside the image and not in
   * the mask (the image edge alone does not make a border pixel).
   */
  borderPixels(mask: Uint8Array): number {
    const w = this.width;
    const h = this.height;
    let n = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (mask[y * w + x] === 0) continue;
        let border = false;
        for (let dy = -1; dy <= 1 && !border; dy++) {
          const yy = y + dy;
          if (yy < 0 || yy >= h) continue;
          for (let dx = -1; dx <= 1; dx++) {
            const xx = x + dx;
            if (xx < 0 || xx >= w || (dx === 0 && dy === 0)) continue;
            if (mask[yy * w + xx] === 0) {
              border = true;
              break;
            }
          }
        }
        if (border) n++;
      }
    }
    return n;
  }

  /**
   * The LV border band's width in pixels (calibration.lv_border): band pixels (bandPixels: anywhere in the image,
   * LV probability strictly inside (low, high)) over the mask's border pixels; undefined when the mask has none.
   */
  borderBand(logits: ArrayLike<number>, channels: number, lv: number, mask: Uint8Array, bounds: { low: number; high: number }): number | undefined {
    const border = this.borderPixels(mask);
    if (border === 0) return undefined;
    return bandPixels(logits, channels, this.width * this.height, lv, bounds.low, bounds.high) / border;
  }
}

/**
 * Pixels of an NCHW [1, C, H, W] logits tensor (`pixels` = H x W) whose class-`lv` probability, softmax over the C
 * logits at the pixel (temperature 1), lies strictly between `low` and `high`. Exact, and mostly without exp: with
 * S = sum over c != lv of exp(l_c - l_lv), p = 1 / (1 + S), and low < p < high iff (1 - high) / high < S <
 * (1 - low) / low. With m = max over c != lv of l_c - l_lv, exp(m) <= S <= (C - 1) exp(m): m >= ln((1 - low) / low)
 * means S >= the upper bound, m <= ln((1 - high) / high / (C - 1)) means S <= the lower bound (equality only where p
 * is exactly low or high: not in the band either way); only the pixels between need S.
 */
export function bandPixels(logits: ArrayLike<number>, channels: number, pixels: number, lv: number, low: number, high: number): number {
  if (logits.length < channels * pixels) {
    throw new RangeError(`Expected logits of at least ${channels * pixels} values for ${channels} channels of ${pixels} pixels but received ${logits.length}`);
  }
  const sLo = (1 - high) / high;
  const sHi = (1 - low) / low;
  const lnHi = Math.log(sHi);
  const lnLo = Math.log(sLo / (channels - 1));
  const lvOff = lv * pixels;
  let n = 0;
  for (let p = 0; p < pixels; p++) {
    const l = logits[lvOff + p];
    let m = -Infinity;
    for (let c = 0; c < channels; c++) {
      if (c === lv) continue;
      const v = logits[c * pixels + p];
      if (v > m) m = v;
    }
    const d = m - l;
    if (!(d < lnHi) || !(d > lnLo)) continue;
    let s = 0;
    for (let c = 0; c < channels; c++) if (c !== lv) s += Math.exp(logits[c * pixels + p] - l);
    if (s > sLo && s < sHi) n++;
  }
  return n;
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
  /** Area in mm^2 (pixel count times the pixel area sx * sy). */
  areaMm2: number;
  /** Long axis in mm: the extent of the pixel centres along the principal axis (in mm), plus one pixel along it. */
  lengthMm: number;
}

/**
 * Area and long-axis length of a binary mask whose pixels are `spacingMm` wide:
 * one number for square pixels, or [sx, sy] (mm per pixel along x and y).
 * Pixel centres are placed in mm (x * sx, y * sy) before the principal-axis
 * fit and the extent, so a non-square grid measures the shape it shows. The
 * "one pixel" added to the extent of the centres is the pixel's size along the
 * axis u, |(ux * sx, uy * sy)|: sx along x, sy along y, and for square pixels
 * the harness's definition (training/sonoedge_train/metrics.py lv_area_length:
 * (extent + 1) * spacing). Fewer than 3 pixels: zeros.
 */
export function areaLength(mask: Uint8Array, width: number, spacingMm: number | readonly [number, number],
  axis: PrincipalAxis | null = principalAxis(mask, width, spacingMm)): AreaLength {
  const [sx, sy] = spacingXY(spacingMm);
  if (!axis) return { areaMm2: 0, lengthMm: 0 };
  const { mx, my, ux, uy } = axis;
  let lo = Infinity;
  let hi = -Infinity;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    const x = (p % width) * sx - mx;
    const y = ((p - (p % width)) / width) * sy - my;
    const proj = x * ux + y * uy;
    lo = Math.min(lo, proj);
    hi = Math.max(hi, proj);
  }
  return { areaMm2: axis.n * sx * sy, lengthMm: hi - lo + Math.hypot(ux * sx, uy * sy) };
}

/** One spacing for square pixels, or [x, y], as [x, y] mm per pixel. */
export const spacingXY = (spacingMm: number | readonly [number, number]): readonly [number, number] =>
  (typeof spacingMm === 'number' ? [spacingMm, spacingMm] : spacingMm);

/**
 * A mask's pixel count, centroid (mx, my), principal axis (ux, uy) and elongation (the square root of the scatter
 * matrix's larger eigenvalue over its smaller one: a filled ellipse's axis ratio; Infinity for a line), with pixel
 * centres at (x * sx, y * sy) mm.
 */
export interface PrincipalAxis { n: number; mx: number; my: number; ux: number; uy: number; elongation: number }

/**
 * The principal axis of the mask's pixel centres in mm (the major axis of their 2x2 scatter matrix); null under 3
 * pixels. areaLength and beamAngleDeg each take it, so a caller that needs both scans the mask once for it.
 */
export function principalAxis(mask: Uint8Array, width: number, spacingMm: number | readonly [number, number]): PrincipalAxis | null {
  const [sx, sy] = spacingXY(spacingMm);
  let n = 0;
  let mx = 0;
  let my = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    const x = p % width;
    n++;
    mx += x * sx;
    my += ((p - x) / width) * sy;
  }
  if (n < 3) return null;
  mx /= n;
  my /= n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] === 0) continue;
    const x = (p % width) * sx - mx;
    const y = ((p - (p % width)) / width) * sy - my;
    sxx += x * x;
    sxy += x * y;
    syy += y * y;
  }
  const theta = 0.5 * Math.atan2(2 * sxy, sxx - syy);
  const mean = (sxx + syy) / 2;
  const gap = Math.hypot((sxx - syy) / 2, sxy);
  const minor = mean - gap;
  return { n, mx, my, ux: Math.cos(theta), uy: Math.sin(theta), elongation: minor > 0 ? Math.sqrt((mean + gap) / minor) : Infinity };
}

/**
 * A mask rounder than this (PrincipalAxis.elongation; a filled ellipse's axis ratio) has no long axis worth an angle:
 * a disc's principal axis turns with a few pixels. A normal LV in an apical view is 1.6-2 times as long as it is wide,
 * a dilated, spherical one down to about 1.3.
 */
export const MIN_ELONGATION = 1.3;

/**
 * The angle in degrees [0, 90] between the LV's long axis (the mask's principal axis, in mm) and the beam that runs
 * from the probe through the LV's centroid; null under 3 pixels, or for a mask rounder than MIN_ELONGATION (its axis
 * means nothing). The probe sits at the top centre of the model's input, ((width - 1) / 2, -0.5) in pixel centres:
 * the convention of every apical training image, scan-converted or cropped, where the sector's apex is the top centre
 * of its box (a steered sector's apex off the centre, or one above the box, moves it by a few degrees). In an apical
 * view the beam enters at the LV apex and the long axis runs down the beam; a heart turned in the image, or a
 * long-axis view read as apical, lies across it.
 */
export function beamAngleDeg(mask: Uint8Array, width: number, spacingMm: number | readonly [number, number],
  axis: PrincipalAxis | null = principalAxis(mask, width, spacingMm)): number | null {
  const [sx, sy] = spacingXY(spacingMm);
  if (!axis || axis.elongation < MIN_ELONGATION) return null;
  // The beam from the probe to the centroid; by > 0, since the probe lies above every pixel centre.
  const bx = axis.mx - ((width - 1) / 2) * sx;
  const by = axis.my + 0.5 * sy;
  const cos = Math.min(1, Math.abs(axis.ux * bx + axis.uy * by) / Math.hypot(bx, by));
  return (Math.acos(cos) * 180) / Math.PI;
}

/** Single-plane area-length volume in mL: V = 8 A^2 / (3 pi L), A in mm^2 and L in mm. */
export function areaLengthVolumeMl(areaMm2: number, lengthMm: number): number {
  return lengthMm === 0 ? 0 : (8 * areaMm2 * areaMm2) / (3 * Math.PI * lengthMm) / 1000;
}

/** One cardiac beat: a confirmed end-diastole (local maximum of the LV volume) and the end-systole (minimum) after it. */
export interface Beat {
  edSeq: number;
  esSeq: number;
  edvMl: number;
  esvMl: number;
  /** This beat's EF in percent, (EDV - ESV) / EDV, before calibration. */
  efRaw: number;
  /** The calibrated EF of this beat (slope * efRaw + intercept, clamped to [0, 100]). */
  ef: number;
}

/** The package's EF calibration (lv_segmentation manifest `calibration.ef`): EF = slope * EF_raw + intercept. */
export interface EfCalibration {
  slope: number;
  intercept: number;
  /** Standard deviation of the calibrated EF's residuals against the truth, in EF points. */
  residualSd: number;
  /**
   * The EF rule the calibration was fitted for (manifest `calibration.ef.trim`, in (0, 0.5]): ED and ES volumes are
   * the means of a share of the volumes instead of the largest and the smallest one (see EjectionFraction). Absent:
   * the largest and the smallest.
   */
  trim?: number;
  /**
   * The interval (manifest `calibration.ef.interval`): 'statistical' (absent: the default), ef +- the half-width;
   * 'with_uncalibrated', from the lower of ef and the uncalibrated EF (efRaw, clamped to [0, 100]) minus the
   * half-width to the higher plus it, for a calibration fitted on simulation, which may not hold for a scan (the
   * forty-third and forty-fourth waves, training/RESULTS.md; the bundled package carries it). The quality flag judges
   * the half-width either way.
   */
  interval?: EfInterval;
}

/** How the EF's 95% interval treats the calibration (EfCalibration.interval). */
export type EfInterval = 'statistical' | 'with_uncalibrated';

/**
 * The package's LV border band rule (lv_segmentation manifest `calibration.lv_border`): a pixel whose LV probability
 * lies strictly between `low` and `high` is a band pixel; an EF whose window's mean band width (band pixels over the
 * LV mask's border pixels) exceeds `threshold` pixels has quality low.
 */
export interface LvBorder { low: number; high: number; threshold: number }

export interface EjectionFractionResult {
  /** Ejection fraction in percent: calibrated (slope * efRaw + intercept, clamped to [0, 100]). */
  ef: number;
  /** Before calibration: the median of the beats' EFs, or (EDV - ESV) / EDV of the window's (trimmed) extremes (before a second beat, or with estimate 'window'). */
  efRaw: number;
  /**
   * 95% interval of `ef` in percent (clamped to [0, 100]); null when not valid. With a calibration whose interval is
   * 'with_uncalibrated' it also covers the uncalibrated EF.
   */
  ci: [number, number] | null;
  /**
   * 'low' when not valid, fewer than 2 beats, a statistical half-width over maxHalfWidth, an uncertain frame or one
   * measured under the quality bar in the window, or (with borderThreshold) a mean LV border band wider than the
   * threshold.
   */
  quality: 'ok' | 'low';
  /** Why the quality is low (absent when ok). */
  qualityReason?: string;
  /** Where the EF value comes from: 'beats', the median over the window's beats (two or more); 'window', the window's (trimmed) largest and smallest volumes (fewer than two beats, or estimate 'window'). */
  method: 'beats' | 'window';
  /** The window's beats, oldest first. */
  beats: Beat[];
  /** ED and ES the EF comes from: the latest beat's with method 'beats', else the window's extremes (frame seqs as given to push). */
  edFrame: number;
  esFrame: number;
  edvMl: number;
  esvMl: number;
  /** The frame whose ED (ES) this frame confirmed, or null: each ED and ES is confirmed on exactly one frame. */
  edConfirmed: number | null;
  esConfirmed: number | null;
  /** Frames in the window, and how many of them were uncertain (in-distribution state). */
  frames: number;
  uncertainFrames: number;
  /**
   * With the borderThreshold option only (the package's calibration.lv_border): the mean LV border band width in
   * pixels over the window's frames that carry one; null when none does.
   */
  borderBand?: number | null;
  /** Whether the window supports an EF: a full beat (or, before one, enough frames) with a plausible EF. */
  valid: boolean;
  /** Why not, when not valid. */
  reason?: string;
}

export interface EjectionFractionOptions {
  /** Frames the window holds: several cardiac cycles (default 128: 4.3 s at 30 fps, 4 beats at 56 per minute). */
  window?: number;
  /** Samples the window needs before any EF is valid, from beats or from the window (default 16). */
  minFrames?: number;
  /** Plausible EF range in percent (default [5, 90]). */
  range?: [number, number];
  /** Consecutive ineligible frames bridged without emptying the window (default 3). */
  maxSkip?: number;
  /**
   * Frames of a view other than the window's measured into the window, in a run since the window's view was last
   * shown; the next one in the run empties the window, which starts over in that view. Default VIEW_HOLD, 32; 0:
   * off, such frames are ineligible, bridged under maxSkip (the next one starts a window in that view). A flip
   * between A4C and A2C at the same phase of every beat (the view model's doubt, not a new plane) no longer empties
   * the window once a beat, and the runtime finds those cines' beats. Measured with 32 in the thirtieth wave
   * (training/RESULTS.md; not adopted: those EFs read higher, towards the model's own reading, which on the
   * independent generator reads high) and adopted in the thirty-second, whose rule judges a runtime rule by its
   * distance to the model's reading with a small allowance against the reference.
   */
  viewHold?: number;
  /**
   * A frame whose LV volume differs from the window's previous one by more than
   * this factor per frame between them (either way) is ineligible (default 2; 0
   * turns the rule off): a ventricle does not halve or double between two
   * frames, a segmentation that loses the cavity for a frame (an artefact
   * across it, a dropout) does. Across a gap the factor is maxStep to the power
   * stepFrames(...): the frames since the window's last volume, at most
   * maxSkip + 1 (the thirty-eighth wave, training/RESULTS.md).
   */
  maxStep?: number;
  /**
   * Where the EF value comes from (default 'beats'): 'beats', the median of the window's beats' EFs once there are
   * two beats (before that, the window's extremes); 'window', the window's (trimmed) largest and smallest volumes whatever
   * beats were found (valid from minFrames frames). The beats give the ED/ES flags, the beat count and the
   * beat-to-beat spread of the interval either way. The nineteenth wave measured both (training/RESULTS.md).
   */
  estimate?: 'window' | 'beats';
  /** Beat detection: an extremum must stand out by this fraction of the window's volume range (default 0.3)... */
  prominence?: number;
  /** ...and by at least this fraction of the window's largest volume (default 0.05). */
  minProminence?: number;
  /** Samples after an extremum before it can be confirmed (default 2). */
  confirmDelay?: number;
  /** Frames between two EDs (and between two ESs) at least (default 8: 225 per minute at 30 fps). */
  minCycle?: number;
  /**
   * Frames from an ED to its ES at least (default MIN_SYSTOLE): a minimum sooner after the pending ED is noise, not
   * an end-systole; it is not flagged and makes no beat, and the ED stays pending (the twenty-first wave,
   * training/RESULTS.md). 0: off.
   */
  minSystole?: number;
  /**
   * No EF while more than maxLongShare of the window's samples (at least LENGTH_REFERENCE_FRAMES of them) have an LV
   * long axis over maxLengthRatio times the window's lower-quartile long axis: a ventricle shortens by 10-20% in
   * systole, an LV mask that runs past the mitral annulus into the atrium grows by half (defaults MAX_LENGTH_RATIO,
   * off, and MAX_LONG_SHARE; ratio 0: off). Measured with 1.25 and 0.1 in the twenty-first wave
   * (training/RESULTS.md) and not adopted: it withheld one EF of 64 on the independent generator.
   */
  maxLengthRatio?: number;
  /** The share of the window maxLengthRatio allows (default MAX_LONG_SHARE). */
  maxLongShare?: number;
  /** EF calibration from the package; default none (slope 1, intercept 0, residualSd 0). */
  calibration?: EfCalibration;
  /** Beat-to-beat standard deviation (EF points) assumed when fewer than 2 beats were seen (default 5). */
  singleBeatSd?: number;
  /**
   * A statistical half-width (1.96 sqrt(residualSd^2 + s^2 / n)) over this many EF points makes the quality low
   * (default 10); with the calibration's interval 'with_uncalibrated' the interval shown can be wider.
   */
  maxHalfWidth?: number;
  /**
   * The package's calibration.lv_border threshold (pixels): a mean LV border band over the window wider than this
   * makes the quality low; with it the result carries `borderBand`. Default none.
   */
  borderThreshold?: number;
}

/** Per-sample information besides the measurement. */
export interface EfSampleInfo {
  /** The shown view: the window holds one view; frames of another are measured up to viewHold in a row (past it, they restart it). */
  view?: string;
  /** The frame's in-distribution state was uncertain: the EF's quality becomes low while it is in the window. */
  uncertain?: boolean;
  /** The frame's LV border band width in pixels (MaskAnalyzer.borderBand); undefined or null: none (no border). */
  borderBand?: number | null;
  /**
   * The frame was segmented while its smoothed quality was under the quality bar, the segmentation gate held open
   * through a dip (PipelineOptions.qualityHold): the EF's quality becomes low while it is in the window.
   */
  belowGate?: boolean;
}

/**
 * The frames the one-frame step rule (EjectionFractionOptions.maxStep) spans between a volume and the window's last
 * one: the larger of the frame numbers' difference and the ineligible frames bridged since plus one (the volumes the
 * rule itself refused among them), at least 1 and at most maxSkip + 1. Frames a busy scheduler dropped, and those
 * between two segmented ones (segmentationStride s: a step of s frames), count through the difference; a sequence
 * number that went backwards (a restarted or wrapped counter) counts by the bridged frames alone; NaN counts as 1.
 * The thirty-eighth wave (training/RESULTS.md) chose to count the refused volumes: a heart whose volume jumps more
 * than twice in one frame in rapid filling is measured again from the frame after, at the price of letting an
 * artefact that lasts in from its second frame when it is within maxStep^2 of the last volume.
 */
export function stepFrames(seqDiff: number, bridged: number, maxSkip: number): number {
  const g = Math.max(Number.isNaN(seqDiff) ? 1 : seqDiff, bridged + 1, 1);
  return Math.min(Math.floor(g), Math.max(1, maxSkip + 1));
}

/** EjectionFractionOptions.viewHold's default: 32 frames (the thirty-second wave, training/RESULTS.md). */
export const VIEW_HOLD = 32;
/** EjectionFractionOptions.minSystole's default: frames from an ED to its ES at least. */
export const MIN_SYSTOLE = 3;
/** EjectionFractionOptions.maxLengthRatio's default: off (1.25 measured in the twenty-first wave, not adopted). */
export const MAX_LENGTH_RATIO = 0;
/** EjectionFractionOptions.maxLongShare's default. */
export const MAX_LONG_SHARE = 0.1;
/** Samples the window needs before maxLengthRatio applies. */
export const LENGTH_REFERENCE_FRAMES = 8;

const clampPercent = (v: number): number => Math.min(100, Math.max(0, v));
/** How many volumes a trimmed ED or ES averages over n: max(1, floor(trim x n + 0.5)). */
export const trimCount = (trim: number, n: number): number => Math.max(1, Math.floor(trim * n + 0.5));
const efOf = (edv: number, esv: number): number => (edv === 0 ? 0 : (100 * (edv - esv)) / edv);

/** The median (the mean of the two middle values for an even count) of a non-empty array. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * EF over a sliding window of per-frame LV measurements (volumes by the
 * area-length method), with beat detection on the volume curve.
 *
 * Beats: a zig-zag over the volume curve. An end-diastole (ED) is a local
 * maximum and an end-systole (ES) a local minimum that stands out by delta =
 * max(prominence x the window's volume range, minProminence x its largest
 * volume) on both sides; it is confirmed on the first frame at least
 * `confirmDelay` samples after it whose volume is back by delta (a delay of a
 * few frames), and never again. The first
 * extremum of a window has no left side and is not reported; an ED (ES)
 * closer than `minCycle` frames to the previous one is not reported, nor an
 * ES fewer than `minSystole` frames after the pending ED (that ED stays
 * pending). A beat
 * is an ED and the ES after it. EF is the median of the window's beats' EFs
 * when there are at least two beats; before that (no beat, or one beat alone,
 * which may be noise standing out in a plateau after a gap: twenty-ninth wave,
 * training/RESULTS.md), (EDV - ESV) / EDV of the window's largest and smallest
 * volume. Either way the EF is valid only once
 * the window holds `minFrames` samples (a beat found in the first frames of a
 * window emptied by a gap is noise against a tiny range). With
 * `estimate: 'window'` the value is always the window's, beats found or not
 * (measured and not adopted in the nineteenth wave, training/RESULTS.md).
 *
 * Trimmed volumes (calibration.trim): the largest and smallest of noisy
 * volumes overstate EF, and the more so the more frames a beat has. With a
 * trim, the window's EDV and ESV are the means of its k = max(1,
 * floor(trim x n + 0.5)) largest and k smallest of its n volumes, and a beat's
 * the means of the k largest within k samples of its ED and the k smallest
 * within k samples of its ES (those there when it is confirmed), k from twice
 * the beat's ED-to-ES samples. The frames named ED and ES stay the extremes.
 *
 * Gaps: an ineligible frame (`skip`, `push` without a measurement, or a view
 * other than the window's) is bridged: up to `maxSkip` in a row keep the
 * window; the next one in the same run empties it (a frame of another view
 * then starts a new window of that view). With `viewHold` above 0 (the
 * default, 32), a frame of another view is measured into the window instead,
 * while the run of such frames since the window's view was last shown is at
 * most `viewHold` long; the next one empties the window and starts a new one
 * in its view.
 *
 * Calibration and interval: ef = clamp(slope x efRaw + intercept, 0, 100);
 * the 95% interval is ef +- 1.96 sqrt(residualSd^2 + s^2 / n), clamped to
 * [0, 100], over n = max(1, beats) with the beat-to-beat variance s^2 =
 * (singleBeatSd^2 + sum (ef_i - mean)^2) / n: the calibrated beat EFs' sum of
 * squares pooled with a prior of singleBeatSd counted as one degree of
 * freedom (so one beat, or a few identical ones, never claim a narrow interval).
 * With the calibration's interval 'with_uncalibrated' the interval runs from
 * min(ef, efRaw) - half to max(ef, efRaw) + half; the quality flag's
 * maxHalfWidth judges the half-width alone.
 */
export class EjectionFraction {
  readonly #window: number;
  readonly #estimate: 'window' | 'beats';
  readonly #minFrames: number;
  readonly #range: [number, number];
  readonly #maxSkip: number;
  readonly #viewHold: number;
  readonly #maxStep: number;
  readonly #prominence: number;
  readonly #minProminence: number;
  readonly #delay: number;
  readonly #minCycle: number;
  readonly #minSystole: number;
  readonly #maxLengthRatio: number;
  readonly #maxLongShare: number;
  readonly #cal: EfCalibration;
  readonly #singleBeatSd: number;
  readonly #maxHalf: number;
  readonly #borderThreshold: number | undefined;
  // The window: a ring of the last `window` samples, indexed by the sample counter n.
  readonly #seqs: Float64Array;
  readonly #volumes: Float64Array;
  readonly #lengths: Float64Array;
  readonly #uncertain: Uint8Array;
  /** Each sample measured under the quality bar (EfSampleInfo.belowGate). */
  readonly #belowGate: Uint8Array;
  /** Each sample's LV border band width; NaN for none. */
  readonly #band: Float64Array;
  #n = 0;
  #start = 0;
  #view: string | undefined;
  #skipRun = 0;
  /** Frames of a view other than the window's pushed since its view was last pushed. */
  #otherRun = 0;
  #resetReason: string | undefined;
  // Beat detection.
  #mode: 0 | 1 | -1 = 0;
  #pivot = -1;
  #pivotV = 0;
  #lastEd = -Infinity;
  #lastEs = -Infinity;
  #pendingEd: { seq: number; v: number; k: number } | undefined;
  #beats: Beat[] = [];
  #edConfirmed: number | null = null;
  #esConfirmed: number | null = null;

  constructor(options: EjectionFractionOptions = {}) {
    this.#window = options.window ?? 128;
    this.#estimate = options.estimate ?? 'beats';
    this.#minFrames = options.minFrames ?? 16;
    this.#range = options.range ?? [5, 90];
    this.#maxSkip = options.maxSkip ?? 3;
    this.#viewHold = options.viewHold ?? VIEW_HOLD;
    this.#maxStep = options.maxStep ?? 2;
    this.#prominence = options.prominence ?? 0.3;
    this.#minProminence = options.minProminence ?? 0.05;
    this.#delay = options.confirmDelay ?? 2;
    this.#minCycle = options.minCycle ?? 8;
    this.#minSystole = options.minSystole ?? MIN_SYSTOLE;
    this.#maxLengthRatio = options.maxLengthRatio ?? MAX_LENGTH_RATIO;
    this.#maxLongShare = options.maxLongShare ?? MAX_LONG_SHARE;
    this.#cal = options.calibration ?? { slope: 1, intercept: 0, residualSd: 0 };
    this.#singleBeatSd = options.singleBeatSd ?? 5;
    this.#maxHalf = options.maxHalfWidth ?? 10;
    this.#seqs = new Float64Array(this.#window);
    this.#volumes = new Float64Array(this.#window);
    this.#lengths = new Float64Array(this.#window);
    this.#uncertain = new Uint8Array(this.#window);
    this.#belowGate = new Uint8Array(this.#window);
    this.#borderThreshold = options.borderThreshold;
    this.#band = new Float64Array(this.#window);
  }

  /**
   * Adds one frame's LV area and length. A frame without a usable measurement
   * (undefined, a zero length, or a volume that is not a finite number), or of
   * a view other than the window's, is skipped under the gap rule.
   */
  push(frame: number, m: AreaLength | undefined, info: EfSampleInfo = {}): void {
    if (m === undefined || m.lengthMm === 0) {
      this.skip(frame, 'no LV');
      return;
    }
    if (this.count > 0 && info.view !== undefined && this.#view !== undefined) {
      if (info.view === this.#view) {
        this.#otherRun = 0;
      } else if (this.#viewHold > 0) {
        if (++this.#otherRun > this.#viewHold) {
          this.reset(`view changed from ${this.#view} to ${info.view} for ${this.#otherRun} frames (at most ${this.#viewHold} of another view are measured into the window)`);
        }
      } else if (this.#skipRun < this.#maxSkip) {
        this.skip(frame, `view ${info.view}, not the window's ${this.#view}`);
        return;
      } else {
        this.reset(`view changed from ${this.#view} to ${info.view} for ${this.#skipRun + 1} frames`);
      }
    }
    const volume = areaLengthVolumeMl(m.areaMm2, m.lengthMm);
    if (!Number.isFinite(volume)) {
      // NaN passes every comparison below and would poison the window's extremes.
      this.skip(frame, `LV volume ${volume} ml (area ${m.areaMm2} mm2, length ${m.lengthMm} mm)`);
      return;
    }
    if (this.count > 0 && this.#maxStep > 0) {
      const last = (this.#n - 1) % this.#window;
      const prev = this.#volumes[last];
      const g = stepFrames(frame - this.#seqs[last], this.#skipRun, this.#maxSkip);
      const factor = this.#maxStep ** g;
      if (volume * factor < prev || volume > prev * factor) {
        const span = g === 1 ? `more than a factor ${this.#maxStep} in one frame` : `more than a factor ${this.#maxStep} per frame over ${g} frames`;
        this.skip(frame, `LV volume ${volume.toFixed(1)} ml after ${prev.toFixed(1)} ml (${span})`);
        return;
      }
    }
    this.#edConfirmed = null;
    this.#esConfirmed = null;
    this.#skipRun = 0;
    if (this.count === 0) this.#view = info.view;
    const i = this.#n % this.#window;
    this.#seqs[i] = frame;
    this.#volumes[i] = volume;
    this.#lengths[i] = m.lengthMm;
    this.#uncertain[i] = info.uncertain ? 1 : 0;
    this.#belowGate[i] = info.belowGate ? 1 : 0;
    this.#band[i] = info.borderBand ?? NaN;
    this.#n++;
    this.#detect();
    // Beats whose ED has left the window leave with it.
    const oldest = this.#seqs[this.#first() % this.#window];
    while (this.#beats.length > 0 && this.#beats[0].edSeq < oldest) this.#beats.shift();
  }

  /** An ineligible frame: bridged while the run of them is at most maxSkip long, else the window empties. */
  skip(frame: number, reason: string): void {
    this.#edConfirmed = null;
    this.#esConfirmed = null;
    if (this.count === 0) return;
    this.#skipRun++;
    if (this.#skipRun > this.#maxSkip) {
      this.reset(`${this.#skipRun} frames in a row without a usable LV measurement (at most ${this.#maxSkip} are bridged); the last at frame ${frame}: ${reason}`);
    }
  }

  /** Empties the window (and the beat detection); `reason` is reported until the next measurement. */
  reset(reason?: string): void {
    this.#start = this.#n;
    this.#view = undefined;
    this.#skipRun = 0;
    this.#otherRun = 0;
    this.#resetReason = reason;
    this.#mode = 0;
    this.#pivot = -1;
    this.#lastEd = -Infinity;
    this.#lastEs = -Infinity;
    this.#pendingEd = undefined;
    this.#beats = [];
    this.#edConfirmed = null;
    this.#esConfirmed = null;
  }

  /** Samples in the window. */
  get count(): number {
    return Math.min(this.#n - this.#start, this.#window);
  }

  /** The window's view (the shown view of its first frame), if any. */
  get view(): string | undefined {
    return this.#view;
  }

  #first(): number {
    return this.#n - this.count;
  }

  #v(k: number): number {
    return this.#volumes[k % this.#window];
  }

  /** The sample index of the largest (sign 1) or smallest (sign -1) volume among samples a..b (inclusive, clamped to the window); ties: the first. */
  #extreme(a: number, b: number, sign: 1 | -1): number {
    let best = -1;
    for (let k = Math.max(a, this.#first()); k <= b; k++) if (best < 0 || sign * (this.#v(k) - this.#v(best)) > 0) best = k;
    return best;
  }

  /**
   * The means of the `count` largest and of the `count` smallest volumes among samples a..b (clamped to the window;
   * fewer when fewer are there), from one sort, each summed from the extreme inwards. NaN only when none is there:
   * for a beat whose ED has already left the window, which `push` drops right after it is made (the window itself
   * and a span around a sample in it are never empty).
   */
  #trimmedMeans(a: number, b: number, count: number): { hi: number; lo: number } {
    const vs: number[] = [];
    for (let k = Math.max(a, this.#first()); k <= Math.min(b, this.#n - 1); k++) vs.push(this.#v(k));
    vs.sort((x, y) => x - y);
    const m = Math.min(count, vs.length);
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < m; i++) {
      hi += vs[vs.length - 1 - i];
      lo += vs[i];
    }
    return { hi: hi / m, lo: lo / m };
  }

  /** Zig-zag beat detection on the newest sample (see the class comment). */
  #detect(): void {
    const last = this.#n - 1;
    const first = this.#first();
    const hi = this.#v(this.#extreme(first, last, 1));
    const lo = this.#v(this.#extreme(first, last, -1));
    const delta = Math.max(this.#prominence * (hi - lo), this.#minProminence * hi);
    if (!(delta > 0)) return;
    for (;;) {
      let cand: number;
      let sign: 1 | -1;
      let left: number;
      if (this.#mode === 0) {
        // No pivot yet: the earlier of the window's extremes once the curve has turned at it, else the later one; its
        // left side is the opposite extreme before it. (The later alone would let a newest sample that is the window's
        // maximum hide a minimum that has already turned: a cine starting just before ES.)
        const mx = this.#extreme(first, last, 1);
        const mn = this.#extreme(first, last, -1);
        if (mx === mn) return;
        const early = Math.min(mx, mn);
        const earlySign: 1 | -1 = early === mx ? 1 : -1;
        const turned = last - early >= this.#delay && earlySign * (this.#v(early) - this.#v(last)) >= delta;
        cand = turned ? early : Math.max(mx, mn);
        sign = cand === mx ? 1 : -1;
        left = cand > first ? this.#v(this.#extreme(first, cand - 1, sign === 1 ? -1 : 1)) : this.#v(cand);
      } else {
        sign = this.#mode;
        cand = this.#extreme(this.#pivot + 1, last, sign);
        if (cand < 0) return;
        left = this.#pivotV;
      }
      // Confirmed once the newest sample is back by delta: a curve that jumps and falls again (a spike, the seam of
      // a looped clip) has not turned.
      if (last - cand < this.#delay) return;
      const v = this.#v(cand);
      if (sign * (v - this.#v(last)) < delta) return;
      // Confirmed: the curve turned at `cand`.
      this.#mode = sign === 1 ? -1 : 1;
      this.#pivot = cand;
      this.#pivotV = v;
      if (sign * (v - left) >= delta) this.#report(sign, cand);
    }
  }

  /** A confirmed extremum at sample `k`: an ED waits for its ES; an ES after one makes a beat. */
  #report(sign: 1 | -1, k: number): void {
    const seq = this.#seqs[k % this.#window];
    const v = this.#v(k);
    if (sign === 1) {
      if (seq - this.#lastEd < this.#minCycle) return;
      this.#lastEd = seq;
      this.#edConfirmed = seq;
      this.#pendingEd = { seq, v, k };
      return;
    }
    if (seq - this.#lastEs < this.#minCycle) return;
    const ed = this.#pendingEd;
    if (ed && seq - ed.seq < this.#minSystole) return;
    this.#lastEs = seq;
    this.#esConfirmed = seq;
    this.#pendingEd = undefined;
    if (ed) {
      let edv = ed.v;
      let esv = v;
      const trim = this.#cal.trim;
      if (trim !== undefined) {
        const c = trimCount(trim, 2 * (k - ed.k));
        edv = this.#trimmedMeans(ed.k - c, ed.k + c, c).hi;
        esv = this.#trimmedMeans(k - c, k + c, c).lo;
      }
      const efRaw = efOf(edv, esv);
      this.#beats.push({ edSeq: ed.seq, esSeq: seq, edvMl: edv, esvMl: esv, efRaw, ef: this.#calibrate(efRaw) });
    }
  }

  /** Why there is no EF under maxLengthRatio (see EjectionFractionOptions), if there is a reason. */
  #longAxisReason(count: number): string | undefined {
    if (!(this.#maxLengthRatio > 0) || count < LENGTH_REFERENCE_FRAMES) return undefined;
    const ls: number[] = [];
    for (let k = this.#first(); k < this.#n; k++) ls.push(this.#lengths[k % this.#window]);
    ls.sort((a, b) => a - b);
    const q = ls[(count - 1) >> 2];
    let long = 0;
    while (long < count && ls[count - 1 - long] > this.#maxLengthRatio * q) long++;
    if (long <= this.#maxLongShare * count) return undefined;
    return `LV long axis over ${this.#maxLengthRatio} x the window's lower quartile (${q.toFixed(1)} mm) on ${long} of ${count} frames: an LV that runs past its annulus`;
  }

  #calibrate(efRaw: number): number {
    return clampPercent(this.#cal.slope * efRaw + this.#cal.intercept);
  }

  result(): EjectionFractionResult {
    const count = this.count;
    const confirmed = { edConfirmed: this.#edConfirmed, esConfirmed: this.#esConfirmed };
    if (count === 0) {
      return {
        ef: 0, efRaw: 0, ci: null, quality: 'low', qualityReason: 'no EF', method: 'window', beats: [],
        edFrame: -1, esFrame: -1, edvMl: 0, esvMl: 0, ...confirmed, frames: 0, uncertainFrames: 0,
        ...(this.#borderThreshold !== undefined ? { borderBand: null } : {}), valid: false, reason: this.#resetReason ?? 'no frames',
      };
    }
    // One pass over the window: its uncertain frames, those under the quality bar, and the mean border band of the
    // frames that carry one.
    let uncertainFrames = 0;
    let belowGate = 0;
    let bandSum = 0;
    let banded = 0;
    for (let k = this.#first(); k < this.#n; k++) {
      uncertainFrames += this.#uncertain[k % this.#window];
      belowGate += this.#belowGate[k % this.#window];
      const b = this.#band[k % this.#window];
      if (!Number.isNaN(b)) {
        bandSum += b;
        banded++;
      }
    }
    const beats = this.#beats.map((b) => ({ ...b }));
    let efRaw: number;
    let ed: { seq: number; v: number };
    let es: { seq: number; v: number };
    let reason: string | undefined;
    // From beats only once there are two: one beat alone may be noise standing out in a plateau (a window emptied
    // by a gap, twenty-ninth wave), and the window's trimmed extremes cover a lone beat anyway.
    const fromBeats = this.#estimate === 'beats' && beats.length > 1;
    if (fromBeats) {
      efRaw = median(beats.map((b) => b.efRaw));
      const b = beats[beats.length - 1];
      ed = { seq: b.edSeq, v: b.edvMl };
      es = { seq: b.esSeq, v: b.esvMl };
    } else {
      const mx = this.#extreme(this.#first(), this.#n - 1, 1);
      const mn = this.#extreme(this.#first(), this.#n - 1, -1);
      ed = { seq: this.#seqs[mx % this.#window], v: this.#v(mx) };
      es = { seq: this.#seqs[mn % this.#window], v: this.#v(mn) };
      const trim = this.#cal.trim;
      if (trim !== undefined) {
        const t = this.#trimmedMeans(this.#first(), this.#n - 1, trimCount(trim, count));
        ed.v = t.hi;
        es.v = t.lo;
      }
      efRaw = efOf(ed.v, es.v);
    }
    // Either way an EF needs minFrames samples: a beat found within a few frames of a window's start (a window
    // emptied by a gap in diastasis) is noise standing out against a tiny range (twenty-sixth wave).
    if (count < this.#minFrames) reason = `${count} of ${this.#minFrames} frames`;
    const ef = this.#calibrate(efRaw);
    if (reason === undefined && (ef < this.#range[0] || ef > this.#range[1])) reason = `EF ${ef.toFixed(1)}% outside ${this.#range[0]}-${this.#range[1]}%`;
    if (reason === undefined) reason = this.#longAxisReason(count);
    const valid = reason === undefined;
    let ci: [number, number] | null = null;
    let half = Infinity;
    if (valid) {
      // Beat-to-beat variance pooled with the prior singleBeatSd^2 counted as one degree of freedom.
      const n = Math.max(1, beats.length);
      const cal = beats.map((b) => b.ef);
      const mean = cal.reduce((x, y) => x + y, 0) / n;
      const ss = cal.reduce((x, y) => x + (y - mean) ** 2, 0);
      const variance = (this.#singleBeatSd ** 2 + ss) / n;
      half = 1.96 * Math.sqrt(this.#cal.residualSd ** 2 + variance / n);
      const raw = this.#cal.interval === 'with_uncalibrated' ? clampPercent(efRaw) : ef;
      ci = [clampPercent(Math.min(ef, raw) - half), clampPercent(Math.max(ef, raw) + half)];
    }
    const low: string[] = [];
    if (!valid) low.push('no valid EF');
    else {
      if (beats.length < 2) low.push(`${beats.length} beat${beats.length === 1 ? '' : 's'} (2 needed)`);
      if (half > this.#maxHalf) low.push(`interval +-${half.toFixed(1)} points (at most ${this.#maxHalf})`);
    }
    if (uncertainFrames > 0) low.push(`${uncertainFrames} uncertain frame${uncertainFrames === 1 ? '' : 's'} in the window`);
    if (belowGate > 0) low.push(`${belowGate} frame${belowGate === 1 ? '' : 's'} under the quality bar in the window`);
    const threshold = this.#borderThreshold;
    const borderBand = banded > 0 ? bandSum / banded : null;
    if (threshold !== undefined && borderBand !== null && borderBand > threshold) {
      low.push(`LV border uncertain: band ${borderBand.toFixed(2)} px wide (at most ${threshold})`);
    }
    return {
      ef, efRaw, ci, quality: low.length === 0 ? 'ok' : 'low', ...(low.length > 0 ? { qualityReason: low.join('; ') } : {}),
      method: fromBeats ? 'beats' : 'window', beats,
      edFrame: ed.seq, esFrame: es.seq, edvMl: ed.v, esvMl: es.v, ...confirmed, frames: count, uncertainFrames,
      ...(threshold !== undefined ? { borderBand } : {}), valid, ...(reason ? { reason } : {}),
    };
  }
}

/** The in-distribution state of a result: ok, uncertain (the models may be wrong), unknown (they do not know). */
export type ResultState = 'ok' | 'uncertain' | 'unknown';
export const RESULT_STATES: readonly ResultState[] = ['ok', 'uncertain', 'unknown'];

/** The worse of two states (unknown, then uncertain, then ok). */
export function worseState(a: ResultState, b: ResultState): ResultState {
  return RESULT_STATES.indexOf(a) >= RESULT_STATES.indexOf(b) ? a : b;
}

/** The package's id_score thresholds: below `unknown` a frame is unknown, below `ok` uncertain, else ok. */
export interface IdThresholds { ok: number; unknown: number }

/** One frame's state from its in-distribution score (NaN: unknown). */
export function frameState(score: number, t: IdThresholds): ResultState {
  if (!(score >= t.unknown)) return 'unknown';
  return score < t.ok ? 'uncertain' : 'ok';
}

/**
 * The shown in-distribution state: the score is smoothed like the quality (an
 * exponential moving average, newest weight `alpha`, default 0.3) and the
 * smoothed score's state is shown at once when it is worse than the shown one,
 * but replaces a worse shown state only after `hold` (default 5) frames in a
 * row say better, so the display does not flicker.
 */
export class InDistributionState {
  readonly thresholds: IdThresholds;
  readonly #alpha: number;
  readonly #hold: number;
  #value = NaN;
  #shown: ResultState | undefined;
  #better = 0;

  constructor(thresholds: IdThresholds, options: { alpha?: number; hold?: number } = {}) {
    const { ok, unknown } = thresholds;
    if (!(unknown >= 0 && ok <= 1 && unknown <= ok)) {
      throw new RangeError(`Expected id_score thresholds with 0 <= unknown <= ok <= 1 but received unknown ${unknown}, ok ${ok}`);
    }
    this.thresholds = { ok, unknown };
    this.#alpha = options.alpha ?? 0.3;
    this.#hold = options.hold ?? 5;
  }

  /** Feeds one frame's score (clamped to [0, 1]; NaN counts as 0). */
  update(score: number): { score: number; smoothed: number; frame: ResultState; shown: ResultState } {
    const s = score >= 0 ? Math.min(score, 1) : 0;
    this.#value = Number.isNaN(this.#value) ? s : this.#alpha * s + (1 - this.#alpha) * this.#value;
    const target = frameState(this.#value, this.thresholds);
    // At once when the target is as bad as the shown state or worse.
    if (this.#shown === undefined || worseState(target, this.#shown) === target) {
      this.#shown = target;
      this.#better = 0;
    } else if (++this.#better >= this.#hold) {
      this.#shown = target;
      this.#better = 0;
    }
    return { score: s, smoothed: this.#value, frame: frameState(s, this.thresholds), shown: this.#shown };
  }
}

/**
 * The view's state for a package with postprocessing.view.thresholds.uncertain (undefined without one): fed the
 * shown view's averaged probability (ClassSmoother's average, so no second average: alpha 1), it is `uncertain` at
 * once when that falls under the threshold and `ok` again after 5 frames in a row at or above it (InDistributionState's
 * hold); never `unknown`.
 */
export function viewState(threshold: number | undefined): InDistributionState | undefined {
  return threshold === undefined ? undefined : new InDistributionState({ ok: threshold, unknown: 0 }, { alpha: 1 });
}

/**
 * ClassSmoother's default weight of the newest frame (the shown view): 0.3, so a clean change of view is shown on its
 * 5th frame. 0.1 (shown on the 10th) steadies a view model that wavers between A4C and A2C over a beat, but lags our
 * own simulator's slower wavering and was not adopted (training/RESULTS.md's thirty-third wave).
 */
export const VIEW_SMOOTHING = 0.3;

export interface ClassSmootherOptions {
  /** Weight of the newest frame in the exponential moving average (default VIEW_SMOOTHING, 0.3). */
  alpha?: number;
  /** A new class must lead the shown one by this much smoothed probability (default 0.1)... */
  margin?: number;
  /** ...for this many consecutive frames (default 3) before the display switches. */
  hold?: number;
}

/**
 * Smooths per-frame class probabilities for display: an exponential moving
 * average, and a shown class that changes only when another one leads it by
 * `margin` for `hold` frames in a row, so a display does not flicker. A frame
 * whose probabilities are not all finite (a broken model output) changes
 * nothing, so it cannot stick in the average.
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
    this.#alpha = options.alpha ?? VIEW_SMOOTHING;
    this.#margin = options.margin ?? 0.1;
    this.#hold = options.hold ?? 3;
    this.#avg = new Float64Array(classes);
  }

  /** Feeds one frame's probabilities; returns the class to show. */
  update(probs: ArrayLike<number>): number {
    for (let c = 0; c < this.#avg.length; c++) if (!Number.isFinite(probs[c])) return Math.max(this.#shown, 0);
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
 * A gate with two thresholds: it opens at `enter` or above and, once open,
 * closes only below `exit`. A value that is not a number closes it.
 *
 * With `hold` above 0, a gate that has been open for at least `hold` updates
 * in a row (updates it held open count) stays open through up to `hold`
 * values below `exit` in a row (a dip; `held` says the last update was one);
 * the next one closes it. A value at or above `exit` ends the dip, and the
 * next dip may be held again.
 */
export class Latch {
  readonly enter: number;
  readonly exit: number;
  readonly hold: number;
  #open = false;
  /** Updates since the gate opened (open or held). */
  #age = 0;
  /** Values below exit in a row held open. */
  #held = 0;

  constructor(enter: number, exit: number, what = 'the latch', hold = 0) {
    if (!(exit <= enter)) throw new RangeError(`Expected exit <= enter for ${what} but received exit ${exit}, enter ${enter}`);
    if (!(Number.isInteger(hold) && hold >= 0)) throw new RangeError(`Expected a hold that is a non-negative integer for ${what} but received ${hold}`);
    this.enter = enter;
    this.exit = exit;
    this.hold = hold;
  }

  get open(): boolean {
    return this.#open;
  }

  /** Whether the last update held the gate open through a value below `exit`. */
  get held(): boolean {
    return this.#held > 0;
  }

  /** The threshold the next value is held to: `exit` while open, else `enter`. */
  get threshold(): number {
    return this.#open ? this.exit : this.enter;
  }

  update(value: number): boolean {
    if (value >= this.threshold) {
      this.#open = true;
      this.#age++;
      this.#held = 0;
    } else if (this.#open && Number.isFinite(value) && this.#age - this.#held >= this.hold && this.#held < this.hold) {
      this.#age++;
      this.#held++;
    } else {
      this.close();
    }
    return this.#open;
  }

  close(): false {
    this.#open = false;
    this.#age = 0;
    this.#held = 0;
    return false;
  }
}

/**
 * Smooths a score in [0, 1] and turns it into a good/poor state with two
 * thresholds: it becomes good at `enter` (default 0.5) and poor again only
 * below `exit` (default 0.4).
 * A score that is not finite (a broken model output) makes the state poor at
 * once, is reported as NaN, and restarts the smoothing, so it never sticks in
 * the average.
 */
export class ScoreHysteresis {
  readonly #alpha: number;
  readonly #latch: Latch;
  #value = NaN;

  constructor(options: { alpha?: number; enter?: number; exit?: number } = {}) {
    this.#alpha = options.alpha ?? 0.3;
    this.#latch = new Latch(options.enter ?? 0.5, options.exit ?? 0.4, 'the quality thresholds');
  }

  /** The smoothed score at which the state turns good. */
  get enter(): number {
    return this.#latch.enter;
  }

  update(score: number): { value: number; good: boolean } {
    if (!Number.isFinite(score)) this.#value = NaN;
    else this.#value = Number.isNaN(this.#value) ? score : this.#alpha * score + (1 - this.#alpha) * this.#value;
    return { value: this.#value, good: this.#latch.update(this.#value) };
  }
}
