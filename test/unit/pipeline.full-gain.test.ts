// The quality at full display gain (src/pipeline/full-gain.ts): the percentile, the brightened input, what is refused.
import t from 'tap';
import { FULL_GAIN_FLOOR, FULL_GAIN_MIN_PIXELS, FullGain, fullGainOf, quantileInPlace } from '../../src/pipeline/full-gain.js';
import { resolveOptions } from '../../src/preprocess/options.js';

/** The quantile by a full sort and linear interpolation (numpy's default), written apart from the selection. */
function sortedQuantile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

t.test('quantileInPlace: linear interpolation between order statistics, as a sort gives it', async (t) => {
  t.equal(quantileInPlace(Float64Array.from([5, 1, 4, 2, 3]), 0.99), 4.96, '[1..5] at 0.99: 4 + 0.96');
  t.equal(quantileInPlace(Float64Array.from([5, 1, 4, 2, 3]), 0.5), 3);
  t.equal(quantileInPlace(Float64Array.from([5, 1, 4, 2, 3]), 1), 5);
  t.equal(quantileInPlace(Float64Array.from([5, 1, 4, 2, 3]), 0), 1);
  t.equal(quantileInPlace(Float64Array.from([7]), 0.3), 7, 'one value');
  t.equal(quantileInPlace(Float64Array.from([2, 2, 2, 1, 2]), 0.1), 1.4, 'ties');
  // Seeded values with many ties (area-resized uint8 frames have them): the same as the sort to the last bit.
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  for (let k = 0; k < 200; k++) {
    const n = 1 + Math.floor(rnd() * 400);
    const v = Array.from({ length: n }, () => (rnd() < 0.4 ? Math.floor(rnd() * 6) / 5 : rnd()));
    const q = rnd();
    t.equal(quantileInPlace(Float64Array.from(v), q), sortedQuantile(v, q), `n ${n}, q ${q}`);
  }
});

// The view package's input: 8x8 GRAY8 -> 4x4 float32, normalised as the bundled manifest says ((x / 255 - 0.5) / 0.5).
const plan = resolveOptions({
  input: { width: 8, height: 8, format: 'GRAY8' }, output: { width: 4, height: 4, channels: 1, dtype: 'float32', layout: 'NCHW' },
  resize: 'area', normalize: { mean: 0.5, std: 0.5, scale: 1 / 255 },
});
const NORM = { mean: 0.5, std: 0.5 };
const norm = (share: number): number => (share - 0.5) / 0.5;
// float32 input and result: 3 ulps at 1.
const F32_TOL = 3.6e-7;

t.test('FullGain: the given percentile of the shares above 2/255 made white, the black left out, nothing darkened', async (t) => {
  const fg = new FullGain({ percentile: 50 }, plan, NORM, 'p');
  // Shares: 4 black pixels (0 and 1/255: at or under the floor), and 0.1 .. 1.2 / 3 over the 12 others.
  const shares = [0, 0, 1 / 255, 0, ...Array.from({ length: 12 }, (_, i) => (i + 1) / 30)];
  t.ok(shares.length === 16 && FULL_GAIN_MIN_PIXELS === 16 && FULL_GAIN_FLOOR === 2 / 255);
  const x = Float32Array.from(shares.map(norm));
  const before = Float32Array.from(x);
  // Only 12 pixels over the floor, fewer than 16: left as it is.
  fg.apply(x);
  t.same(Array.from(x), Array.from(before), 'under 16 pixels over the floor: unchanged');
  const full = Float32Array.from([...Array.from({ length: 16 }, (_, i) => (i + 1) / 40)].map(norm));
  const orig = Float32Array.from(full);
  fg.apply(full);
  // The median of 1/40 .. 16/40 is 8.5/40: each share divided by it, clipped at 1.
  const d = 8.5 / 40;
  full.forEach((v, i) => {
    const want = norm(Math.min(1, Math.fround((i + 1) / 40) / d));
    t.ok(Math.abs(v - want) <= F32_TOL,  `pixel ${i}: ${v} against ${want}`);
  });
  fg.restore(full);
  t.same(Array.from(full), Array.from(orig), 'restore: the input as it was, bit for bit');
  // A bright frame (its percentile at white): unchanged, never darkened.
  const bright = Float32Array.from(Array.from({ length: 16 }, () => norm(1)));
  new FullGain({ percentile: 99 }, plan, NORM, 'p').apply(bright);
  t.same(Array.from(bright), new Array(16).fill(1));
});

t.test('fullGainOf and FullGain refuse what they cannot run, with the package named', async (t) => {
  t.equal(fullGainOf(undefined, 'p'), undefined);
  t.equal(fullGainOf({ thresholds: { diagnostic: 0.5 } }, 'p'), undefined);
  t.same(fullGainOf({ full_gain: { percentile: 99 } }, 'p'), { percentile: 99 });
  t.throws(() => fullGainOf({ full_gain: { percentile: 0 } }, 'pk'), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected {percentile} with a percentile in (0, 100] for postprocessing.quality.full_gain of package pk but received object {"percentile":0}',
  });
  const rgb = resolveOptions({ input: { width: 8, height: 8, format: 'RGB8' }, output: { width: 4, height: 4, channels: 3, dtype: 'float32', layout: 'NCHW' } });
  t.throws(() => new FullGain({ percentile: 99 }, rgb, NORM, 'pk'), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected a one-channel float32 input for postprocessing.quality.full_gain of package pk but received object {"channels":3,"dtype":"float32"}',
  });
});

t.test('FullGain reads the share of white from the normalisation, as the harness does, whatever the pixel format', async (t) => {
  // GRAY16 with the bundled package's normalisation (scale 1/255): a raw 510 is a share of 2. The share is the
  // value * std + mean in every format (sonoedge_train/quality.py), not the format's own white.
  const g16 = resolveOptions({
    input: { width: 8, height: 8, format: 'GRAY16' }, output: { width: 4, height: 4, channels: 1, dtype: 'float32', layout: 'NCHW' },
    resize: 'area', normalize: { mean: 0.5, std: 0.5, scale: 1 / 255 },
  });
  const shares = Array.from({ length: 16 }, (_, i) => (i + 1) / 40);
  const a = Float32Array.from(shares.map(norm));
  const b = Float32Array.from(a);
  new FullGain({ percentile: 50 }, plan, NORM, 'p').apply(a);
  new FullGain({ percentile: 50 }, g16, NORM, 'p').apply(b);
  t.same(Array.from(b), Array.from(a), 'GRAY16 and GRAY8 plans: the same result on the same values');
  // Fewer than 16 pixels over the floor: d is 1, so shares over 1 are clipped to white and the rest kept.
  const few = Float32Array.from([2, 0.5, 1.5, ...new Array(13).fill(0)].map(norm));
  new FullGain({ percentile: 99 }, g16, NORM, 'p').apply(few);
  t.same(Array.from(few.subarray(0, 3)).map((v) => +v.toFixed(6)), [1, 0, 1], 'shares 2, 0.5, 1.5 -> 1, 0.5, 1 (as values 1, 0, 1)');
  // An offset normalisation (value = raw * scale + offset): the share is the value less the offset.
  const off = Float32Array.from(shares.map((x) => x + 3));
  new FullGain({ percentile: 50 }, plan, { offset: 3 }, 'p').apply(off);
  off.forEach((v, i) => t.ok(Math.abs(v - 3 - Math.min(1, Math.fround(shares[i]) / (8.5 / 40))) <= 4 * F32_TOL, `offset pixel ${i}: ${v}`));
});
