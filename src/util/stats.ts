// Latency statistics for benchmarks and reports, in one place so every table
// means the same thing by "p99". Percentiles are nearest-rank: the p-th
// percentile is the smallest sample with at least p% of the samples at or
// below it. Every reported value is then a latency that was actually
// measured (no interpolated values between two runs), as trtexec and
// MLPerf's LoadGen report them.
import { invalidType, invalidValue } from '../errors.js';

/** Named in every output that shows percentiles. */
export const PERCENTILE_METHOD = 'nearest-rank';

export interface Summary {
  /** Number of samples. */
  n: number;
  min: number;
  mean: number;
  /** The 50th percentile (nearest-rank: the lower middle sample for an even count). */
  median: number;
  p90: number;
  p95: number;
  p99: number;
  max: number;
}

/** 1-based nearest rank of percentile p among n samples: ceil(p/100 * n), at least 1. */
export function nearestRank(p: number, n: number): number {
  const x = (p * n) / 100;
  // p*n/100 can land a hair above an integer in binary (e.g. 7.000000000000001); that is the integer.
  const r = Math.abs(x - Math.round(x)) < 1e-9 ? Math.round(x) : Math.ceil(x);
  return Math.max(1, r);
}

/**
 * The p-th percentile (0 <= p <= 100, nearest-rank) of samples sorted ascending.
 * Throws TypeError/RangeError (code ERR_SONOEDGE_ARG_TYPE) for an empty,
 * unsorted or non-finite array, or p outside [0, 100].
 */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  checkSorted(sorted);
  return sorted[nearestRank(checkP(p), sorted.length) - 1];
}

/** min, mean, nearest-rank median/p90/p95/p99 and max of `values` (any order; not modified). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  checkSorted(sorted);
  let sum = 0;
  for (let i = 0; i < sorted.length; i++) sum += sorted[i];
  const at = (p: number): number => sorted[nearestRank(p, sorted.length) - 1];
  return {
    n: sorted.length,
    min: sorted[0],
    mean: sum / sorted.length,
    median: at(50),
    p90: at(90),
    p95: at(95),
    p99: at(99),
    max: sorted[sorted.length - 1],
  };
}

function checkP(p: number): number {
  if (typeof p !== 'number') throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'number between 0 and 100', 'p', p);
  if (!(p >= 0 && p <= 100)) throw invalidValue('ERR_SONOEDGE_ARG_TYPE', 'number between 0 and 100', 'p', p);
  return p;
}

function checkSorted(sorted: ArrayLike<number>): void {
  if (sorted === null || typeof sorted !== 'object' || typeof sorted.length !== 'number') {
    throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'array of finite numbers sorted ascending', 'samples', sorted);
  }
  if (sorted.length === 0) throw invalidValue('ERR_SONOEDGE_ARG_TYPE', 'at least one sample', 'samples', sorted);
  for (let i = 0; i < sorted.length; i++) {
    const v = sorted[i];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw invalidValue('ERR_SONOEDGE_ARG_TYPE', 'finite numbers', `samples[${i}]`, v);
    }
    if (i > 0 && v < sorted[i - 1]) {
      throw invalidValue('ERR_SONOEDGE_ARG_TYPE', `samples sorted ascending (samples[${i - 1}] = ${sorted[i - 1]})`, `samples[${i}]`, v);
    }
  }
}
