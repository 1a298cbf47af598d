// The quality at full display gain (a view package's postprocessing.quality.full_gain): the view/quality model
// runs a second time on its input brightened so that a high percentile of the sector's pixels is white, and the
// quality reported is the larger of the two. A dim frame (the gain or grey map of a scanner set lower than our
// simulator's) is then judged by what it shows, not by its brightness; a frame whose echoes the gain clipped stays
// as it was (training/RESULTS.md, forty-seventh wave). The Python harness does the same (sonoedge_train/quality.py).
import { invalidValue } from '../errors.js';
import type { OutputArray } from '../preprocess/index.js';
import { DType, type ResolvedPlanOptions } from '../preprocess/types.js';

/** Pixels at or under this share of white are the black around the sector and are left out of the percentile. */
export const FULL_GAIN_FLOOR = 2 / 255;
/** Fewer pixels above the floor than this: the frame is left as it is (nothing to scale by). */
export const FULL_GAIN_MIN_PIXELS = 16;

/** A view package's postprocessing.quality.full_gain: the percentile (in (0, 100]) of the sector's pixels made white. */
export interface FullGainSpec { percentile: number }

/** The manifest's full_gain (the schema checks its shape), or undefined without one; a percentile out of (0, 100] is refused. */
export function fullGainOf(post: Record<string, unknown> | undefined, packageName: string): FullGainSpec | undefined {
  const fg = post?.full_gain as { percentile?: unknown } | undefined;
  if (fg === undefined) return undefined;
  const p = fg?.percentile;
  if (typeof p !== 'number' || !(p > 0 && p <= 100)) {
    throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', '{percentile} with a percentile in (0, 100]', `postprocessing.quality.full_gain of package ${packageName}`, fg);
  }
  return { percentile: p };
}

/** A preprocessing normalisation as the manifest gives it: mean and std (share of white = value * std + mean), or offset. */
export interface Normalisation { mean?: number | number[]; std?: number | number[]; offset?: number }

/**
 * Brightens one-channel float32 model inputs in place: per image, each pixel's share of white x (the preprocessing's
 * scale applied, before mean and std: value * std + mean, as the harness's sonoedge_train/quality.py reads it)
 * becomes min(1, x / d), where d is the `percentile`-th percentile (linear interpolation, as numpy's and torch's
 * quantile) of the shares above FULL_GAIN_FLOOR, at least that floor; with fewer than FULL_GAIN_MIN_PIXELS such
 * pixels d is 1 (shares over 1 are still clipped, as train.full_gain does). No share under 1 is darkened.
 */
export class FullGain {
  readonly percentile: number;
  readonly #black: number;
  readonly #span: number;
  readonly #plane: number;
  readonly #images: number;
  readonly #scratch: Float64Array;
  readonly #saved: Float32Array;

  constructor(spec: FullGainSpec, o: Readonly<ResolvedPlanOptions>, normalize: Normalisation | undefined, packageName: string) {
    if (o.channels !== 1 || o.dtype !== DType.float32) {
      const dtype = Object.keys(DType).find((k) => DType[k as keyof typeof DType] === o.dtype) ?? o.dtype;
      throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', 'a one-channel float32 input', `postprocessing.quality.full_gain of package ${packageName}`,
        { channels: o.channels, dtype });
    }
    this.percentile = spec.percentile;
    // The value of share 0 and the value per unit of share: (0 - mean) / std and 1 / std; an offset only shifts.
    const first = (v: number | number[] | undefined, d: number): number => (Array.isArray(v) ? v[0] : v) ?? d;
    if (normalize?.mean !== undefined || normalize?.std !== undefined) {
      const mean = first(normalize.mean, 0);
      const std = first(normalize.std, 1);
      this.#black = -mean / std;
      this.#span = 1 / std;
    } else {
      this.#black = normalize?.offset ?? 0;
      this.#span = 1;
    }
    this.#plane = o.outWidth * o.outHeight;
    this.#images = o.batchSize;
    this.#scratch = new Float64Array(this.#plane);
    this.#saved = new Float32Array(this.#plane * this.#images);
  }

  /** Keeps a copy of `input` (restore puts it back), then brightens it in place. */
  apply(input: OutputArray): void {
    const x = input as Float32Array;
    this.#saved.set(x.subarray(0, this.#saved.length));
    const span = this.#span;
    for (let i = 0; i < this.#images; i++) {
      const img = x.subarray(i * this.#plane, (i + 1) * this.#plane);
      let n = 0;
      for (let k = 0; k < img.length; k++) {
        const share = (img[k] - this.#black) / span;
        if (share > FULL_GAIN_FLOOR) this.#scratch[n++] = share;
      }
      const d = n < FULL_GAIN_MIN_PIXELS ? 1 : Math.max(FULL_GAIN_FLOOR, quantileInPlace(this.#scratch.subarray(0, n), this.percentile / 100));
      for (let k = 0; k < img.length; k++) {
        const share = (img[k] - this.#black) / span;
        img[k] = this.#black + span * Math.min(1, share / d);
      }
    }
  }

  /** Puts back the input as it was before apply. */
  restore(input: OutputArray): void {
    (input as Float32Array).set(this.#saved);
  }
}

/**
 * The q-quantile (q in [0, 1]) of `v` with linear interpolation between order statistics (numpy's and torch's
 * default); reorders `v` (a selection, not a sort: linear time on average).
 */
export function quantileInPlace(v: Float64Array, q: number): number {
  const pos = (v.length - 1) * q;
  const lo = Math.floor(pos);
  const a = select(v, lo);
  if (lo + 1 >= v.length || pos === lo) return a;
  // The next order statistic is the smallest element after position lo (select leaves the larger ones there).
  let b = v[lo + 1];
  for (let i = lo + 2; i < v.length; i++) if (v[i] < b) b = v[i];
  return a + (b - a) * (pos - lo);
}

/** Reorders v so that v[k] is its k-th smallest element, those before it no larger and those after no smaller. */
function select(v: Float64Array, k: number): number {
  let left = 0;
  let right = v.length - 1;
  while (right > left) {
    // Median of three as the pivot, then Hoare's partition.
    const mid = (left + right) >> 1;
    if (v[mid] < v[left]) swap(v, mid, left);
    if (v[right] < v[left]) swap(v, right, left);
    if (v[right] < v[mid]) swap(v, right, mid);
    const pivot = v[mid];
    let i = left;
    let j = right;
    while (i <= j) {
      while (v[i] < pivot) i++;
      while (v[j] > pivot) j--;
      if (i <= j) {
        swap(v, i, j);
        i++;
        j--;
      }
    }
    if (k <= j) right = j;
    else if (k >= i) left = i;
    else break;
  }
  return v[k];
}

function swap(v: Float64Array, i: number, j: number): void {
  const t = v[i];
  v[i] = v[j];
  v[j] = t;
}
