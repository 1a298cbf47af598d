// The LV border band (calibration.lv_border): band pixels (LV probability strictly between low and high, anywhere in
// the image) over the LV mask's border pixels, its exact fast path, and the EF quality rule on the window's mean.
import t from 'tap';
import { bandPixels, EjectionFraction, MaskAnalyzer, softmax, type AreaLength } from '../../src/pipeline/postprocess.js';

/**
 * The hand-made example, shared with the Python harness (training/tests/test_border_band.py hand_logits uses the
 * same numbers). 6x6, C = 2 (background, LV), logits per pixel (0, d): LV probability sigmoid(d). d (rows y, columns
 * x): the LV is the 3x3 block at rows 1-3, columns 1-3 with d = +3 (p 0.953), except (y 1, x 1) with d = 0.5
 * (p 0.622: LV, and a band pixel); outside d = -3 (p 0.047) except (0, 0), (4, 4), (5, 5) with d = -0.5 (p 0.378)
 * and (0, 5) with d = -1.2 (p 0.231): band pixels outside the LV; and (5, 0) with d = -1.5 (p 0.182): not in the
 * band. With low 0.2, high 0.8: mask 9 pixels, 8 border pixels (all but the block's centre), 5 band pixels, band
 * width 5 / 8 = 0.625 px.
 */
export const BORDER_BAND_HAND_CASE = {
  width: 6,
  height: 6,
  channels: 2,
  lv: 1,
  low: 0.2,
  high: 0.8,
  /** d per pixel, row by row; the logits are NCHW [1, 2, 6, 6]: channel 0 all zeros, channel 1 = d. */
  d: [
    -0.5, -3, -3, -3, -3, -1.2,
    -3, 0.5, 3, 3, -3, -3,
    -3, 3, 3, 3, -3, -3,
    -3, 3, 3, 3, -3, -3,
    -3, -3, -3, -3, -0.5, -3,
    -1.5, -3, -3, -3, -3, -0.5,
  ],
  maskPixels: 9,
  borderPixels: 8,
  bandPixels: 5,
  bandWidth: 0.625,
} as const;

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('the hand-made example: 8 border pixels, 5 band pixels, width 0.625', async (t) => {
  const h = BORDER_BAND_HAND_CASE;
  const n = h.width * h.height;
  const logits = new Float32Array(2 * n);
  logits.set(h.d, n);
  const a = new MaskAnalyzer(h.width, h.height);
  const comp = a.largestComponent(a.argmax(logits, h.channels), h.lv);
  t.equal(comp.area, h.maskPixels);
  t.equal(a.borderPixels(comp.mask), h.borderPixels);
  t.equal(bandPixels(logits, h.channels, n, h.lv, h.low, h.high), h.bandPixels);
  t.equal(a.borderBand(logits, h.channels, h.lv, comp.mask, h), h.bandWidth);
  // Narrower bounds: (0.3, 0.8) leaves out p(-1.2) = 0.231; (0.2, 0.6) leaves out p(0.5) = 0.622.
  t.equal(bandPixels(logits, 2, n, 1, 0.3, 0.8), 4);
  t.equal(bandPixels(logits, 2, n, 1, 0.2, 0.6), 4);
  // The bounds are strict: all logits 0 is p = 0.5 exactly (S = 1), in (0.49, 0.51) but not at either end.
  const half = new Float32Array(2 * n);
  t.same([0.5, 0.49].map((low) => bandPixels(half, 2, n, 1, low, 0.51)), [0, n], 'p = low');
  t.same([0.5, 0.51].map((high) => bandPixels(half, 2, n, 1, 0.49, high)), [0, n], 'p = high');
  // The LV is class 1: class 0's probability is 1 - p, so (0.2, 0.8) holds the same pixels for it.
  t.equal(bandPixels(logits, 2, n, 0, 0.2, 0.8), 5);
  t.equal(bandPixels(logits, 2, n, 0, 0.5, 0.8), 4, 'background in (0.5, 0.8): the four outside the LV with d -0.5 and -1.2');
  t.throws(() => bandPixels(logits.subarray(1), 2, n, 1, 0.2, 0.8),
    { name: 'RangeError', message: 'Expected logits of at least 72 values for 2 channels of 36 pixels but received 71' });
});

t.test('border pixels: the image edge alone makes none; no border, no band width', async (t) => {
  const a = new MaskAnalyzer(5, 5);
  const m = new Uint8Array(25);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 3; x++) m[y * 5 + x] = 1;
  // The 3x3 block in the corner meets the rest of the image along x = 2 and y = 2 only: (2,0), (2,1), (0,2), (1,2), (2,2).
  t.equal(a.borderPixels(m), 5);
  t.equal(a.borderPixels(new Uint8Array(25).fill(1)), 0, 'the whole image');
  t.equal(a.borderPixels(new Uint8Array(25)), 0, 'no mask');
  const one = new Uint8Array(25);
  one[12] = 1;
  t.equal(a.borderPixels(one), 1, 'a single pixel is its own border');
  t.equal(a.borderBand(new Float32Array(50), 2, 1, new Uint8Array(25).fill(1), { low: 0.2, high: 0.8 }), undefined);
  t.equal(a.borderBand(new Float32Array(50), 2, 1, new Uint8Array(25), { low: 0.2, high: 0.8 }), undefined);
  // All logits 0: p = 0.5 everywhere, all 25 pixels in the band, over the single pixel's 1 border pixel.
  t.equal(a.borderBand(new Float32Array(50), 2, 1, one, { low: 0.2, high: 0.8 }), 25);
});

t.test('the fast path decides every pixel as softmax does (C = 4, random logits)', async (t) => {
  const C = 4;
  const n = 4000;
  const rand = rng(20261204);
  const logits = new Float32Array(C * n);
  // Spread so that all three branches occur: far outside the band either way, and near it.
  for (let i = 0; i < logits.length; i++) logits[i] = (rand() - 0.5) * 12;
  const p = new Float64Array(C);
  const one = new Float32Array(C);
  for (const [lv, low, high] of [[1, 0.2, 0.8], [0, 0.05, 0.6], [3, 0.4, 0.45], [2, 0.01, 0.99]] as const) {
    let want = 0;
    let mismatches = 0;
    const branch = { above: 0, below: 0, between: 0 };
    const lnHi = Math.log((1 - low) / low);
    const lnLo = Math.log((1 - high) / high / (C - 1));
    for (let px = 0; px < n; px++) {
      for (let c = 0; c < C; c++) one[c] = logits[c * n + px];
      softmax(one, p);
      const inBand = p[lv] > low && p[lv] < high;
      if (inBand) want++;
      if (bandPixels(one, C, 1, lv, low, high) !== (inBand ? 1 : 0)) mismatches++;
      const d = Math.max(...[...one].filter((_, c) => c !== lv)) - one[lv];
      if (d >= lnHi) branch.above++;
      else if (d <= lnLo) branch.below++;
      else branch.between++;
    }
    t.equal(mismatches, 0, `lv ${lv}, (${low}, ${high}): per pixel`);
    t.equal(bandPixels(logits, C, n, lv, low, high), want, `lv ${lv}, (${low}, ${high}): ${want} band pixels in all`);
    t.ok(branch.above > 50 && branch.below > 50 && branch.between > 50, `every branch taken: ${JSON.stringify(branch)}`);
    t.ok(want > 20 && want < n - 20, `a test that can fail: ${want} of ${n} in the band`);
  }
});

t.test('the fast path at its own bounds: pixels just either side of both shortcuts', async (t) => {
  // Other logits all equal to l_lv + d make S = (C - 1) exp(d) (the lower shortcut's bound is tight); one other
  // logit at l_lv + d and the rest far below make S = exp(d) (the upper shortcut's). d = the shortcut's bound +- 1e-6.
  const C = 4;
  const low = 0.2;
  const high = 0.8;
  const lnHi = Math.log((1 - low) / low);
  const lnLo = Math.log((1 - high) / high / (C - 1));
  const cases: [string, number[], boolean][] = [];
  for (const eps of [-1e-6, 1e-6]) {
    cases.push([`all others at lnLo ${eps > 0 ? '+' : '-'} 1e-6`, [lnLo + eps, 0, lnLo + eps, lnLo + eps], eps > 0]);
    cases.push([`one other at lnHi ${eps > 0 ? '+' : '-'} 1e-6`, [-40, 0, lnHi + eps, -40], eps < 0]);
  }
  const p = new Float64Array(C);
  for (const [name, l, band] of cases) {
    softmax(l, p);
    t.equal(p[1] > low && p[1] < high, band, `${name}: softmax says p ${p[1]}`);
    t.equal(bandPixels(Float64Array.from(l), C, 1, 1, low, high), band ? 1 : 0, `${name}: bandPixels agrees`);
  }
});

/** Five beats at 30 fps: volume 40..100 mL (EF 60%), as in pipeline.postprocess.test.ts. */
const L_MM = 80;
const volumeAt = (f: number): number => 40 + (60 * (1 + Math.cos((2 * Math.PI * (f - 5)) / 30))) / 2;
const sample = (f: number): AreaLength => ({ areaMm2: Math.sqrt((volumeAt(f) * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM });

/** 150 frames; the default window (128) holds frames 22..149. `band(f)` is each frame's border band. */
function feed(options: ConstructorParameters<typeof EjectionFraction>[0], band: (f: number) => number | null | undefined, uncertain = (_f: number) => false): EjectionFraction {
  const ef = new EjectionFraction(options);
  for (let f = 0; f < 150; f++) ef.push(f, sample(f), { borderBand: band(f), uncertain: uncertain(f) });
  return ef;
}
/** 1 px before frame 86, 3 px from it: 64 frames of each in the window, mean 2; 100 px on frames that left it. */
const steps = (f: number): number => (f < 22 ? 100 : f < 86 ? 1 : 3);

t.test('EF: a mean border band above the threshold makes the quality low, with the mean and the threshold', async (t) => {
  const plain = feed({}, steps).result();
  t.same([plain.valid, plain.quality, plain.qualityReason, plain.frames], [true, 'ok', undefined, 128], 'the curve alone is ok quality');
  t.notOk('borderBand' in plain, 'without the option: no borderBand, whatever the frames carry');

  const low = feed({ borderThreshold: 1.5 }, steps).result();
  t.same([low.borderBand, low.quality, low.qualityReason], [2, 'low', 'LV border uncertain: band 2.00 px wide (at most 1.5)']);
  t.same([low.ef, low.ci, low.valid], [plain.ef, plain.ci, true], 'the EF itself is unchanged');

  const at = feed({ borderThreshold: 2 }, steps).result();
  t.same([at.borderBand, at.quality, at.qualityReason], [2, 'ok', undefined], 'at the threshold: ok');
  const above = feed({ borderThreshold: 2.5 }, steps).result();
  t.same([above.borderBand, above.quality, above.qualityReason], [2, 'ok', undefined]);

  // Frames without a band (null or undefined: no border) are left out of the mean, not counted as 0 (that gives 1.875).
  const gaps = feed({ borderThreshold: 1.95 }, (f) => (f >= 30 && f < 34 ? null : f >= 90 && f < 94 ? undefined : steps(f))).result();
  t.same([gaps.borderBand, gaps.qualityReason], [2, 'LV border uncertain: band 2.00 px wide (at most 1.95)']);
  const third = feed({ borderThreshold: 1 }, (f) => (f < 86 ? 1 : 2)).result();
  t.same([third.borderBand, third.qualityReason], [1.5, 'LV border uncertain: band 1.50 px wide (at most 1)']);

  // Joined with the other reasons, after them.
  const both = feed({ borderThreshold: 1.5 }, steps, (f) => f === 140).result();
  t.equal(both.qualityReason, '1 uncertain frame in the window; LV border uncertain: band 2.00 px wide (at most 1.5)');
});

t.test('EF: borderBand is null when no frame in the window carries one', async (t) => {
  const none = feed({ borderThreshold: 0.5 }, () => undefined).result();
  t.same([none.borderBand, none.quality, none.qualityReason], [null, 'ok', undefined]);
  const left = feed({ borderThreshold: 0.5 }, (f) => (f < 22 ? 5 : null)).result();
  t.same([left.borderBand, left.quality], [null, 'ok'], 'bands only on frames that left the window');
  const empty = new EjectionFraction({ borderThreshold: 0.5 });
  t.same([empty.result().borderBand, empty.result().qualityReason], [null, 'no EF'], 'an empty window');
  empty.push(0, sample(0), { borderBand: 4 });
  empty.reset('test');
  t.equal(empty.result().borderBand, null, 'a reset empties the bands with the window');
  t.notOk('borderBand' in new EjectionFraction().result(), 'an empty window without the option');
});
