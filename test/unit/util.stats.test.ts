// Nearest-rank percentiles and the latency summary every benchmark table uses.
import t from 'tap';
import { nearestRank, percentile, summarize, PERCENTILE_METHOD } from '../../src/util/stats.js';

const oneTo100 = Array.from({ length: 100 }, (_, i) => i + 1);

t.test('the method is named for the outputs', async (t) => {
  t.equal(PERCENTILE_METHOD, 'nearest-rank');
});

t.test('nearest rank is ceil(p/100 * n), at least 1', async (t) => {
  t.equal(nearestRank(0, 10), 1);
  t.equal(nearestRank(50, 10), 5);
  t.equal(nearestRank(51, 10), 6);
  t.equal(nearestRank(99, 10), 10);
  t.equal(nearestRank(100, 10), 10);
  // 7 * 100 / 100 and 0.07 * 100 differ in binary; both are rank 7, not 8.
  t.equal(nearestRank(7, 100), 7);
  t.equal(nearestRank(0.07 * 100, 100), 7);
  t.equal(nearestRank(99.9, 1000), 999);
  t.equal(nearestRank(50, 1), 1);
});

t.test('the textbook example: 15, 20, 35, 40, 50', async (t) => {
  const xs = [15, 20, 35, 40, 50];
  t.same([5, 30, 40, 50, 100].map((p) => percentile(xs, p)), [15, 20, 20, 35, 50]);
  t.equal(percentile(xs, 0), 15);
  t.equal(percentile(xs, 80), 40);
  t.equal(percentile(xs, 80.0001), 50);
});

t.test('1..100: each percentile is that sample', async (t) => {
  for (const p of [1, 7, 50, 90, 95, 99, 100]) t.equal(percentile(oneTo100, p), p, `p${p}`);
  t.equal(percentile(Float64Array.from(oneTo100), 99.5), 100);
});

t.test('summarize: exact values, any order, input untouched', async (t) => {
  t.same(summarize(oneTo100.slice().reverse()), { n: 100, min: 1, mean: 50.5, median: 50, p90: 90, p95: 95, p99: 99, max: 100 });
  const xs = [3, 1, 2, 4];
  t.same(summarize(xs), { n: 4, min: 1, mean: 2.5, median: 2, p90: 4, p95: 4, p99: 4, max: 4 });
  t.same(xs, [3, 1, 2, 4]);
  t.same(summarize([0.25]), { n: 1, min: 0.25, mean: 0.25, median: 0.25, p90: 0.25, p95: 0.25, p99: 0.25, max: 0.25 });
  // 20 samples: p95 is the 19th, p99 the 20th.
  const twenty = Array.from({ length: 20 }, (_, i) => (i + 1) * 0.5);
  const s = summarize(twenty);
  t.equal(s.p90, 9);
  t.equal(s.p95, 9.5);
  t.equal(s.p99, 10);
  t.equal(s.median, 5);
});

t.test('bad input: typed errors naming what was expected', async (t) => {
  t.throws(() => percentile([], 50), { name: 'RangeError', code: 'ERR_SONOEDGE_ARG_TYPE', message: 'Expected at least one sample for samples but received array of length 0' });
  t.throws(() => percentile([1, 3, 2], 50), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ARG_TYPE',
    message: 'Expected samples sorted ascending (samples[1] = 3) for samples[2] but received 2 of type number',
  });
  t.throws(() => percentile([1, Number.NaN], 50), { name: 'RangeError', message: 'Expected finite numbers for samples[1] but received NaN of type number' });
  t.throws(() => percentile([1, 2], 101), { name: 'RangeError', message: 'Expected number between 0 and 100 for p but received 101 of type number' });
  t.throws(() => percentile([1, 2], -1), { name: 'RangeError' });
  t.throws(() => percentile([1, 2], '50' as unknown as number), { name: 'TypeError', message: 'Expected number between 0 and 100 for p but received "50" of type string' });
  t.throws(() => summarize([]), { name: 'RangeError', code: 'ERR_SONOEDGE_ARG_TYPE' });
  t.throws(() => summarize([1, Infinity]), { name: 'RangeError', message: 'Expected finite numbers for samples[1] but received Infinity of type number' });
});
