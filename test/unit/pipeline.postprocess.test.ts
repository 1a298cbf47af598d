// Post-processing on masks and curves of known geometry.
import t from 'tap';
import {
  argmaxIndex, softmax, topK, MaskAnalyzer, simplifyPolygon, areaLength, areaLengthVolumeMl, beamAngleDeg, MIN_ELONGATION,
  EjectionFraction, stepFrames, ClassSmoother, VIEW_SMOOTHING, ScoreHysteresis, InDistributionState, Latch, frameState, viewState, worseState, type ResultState, median, trimCount, type AreaLength,
  type EfCalibration, type EjectionFractionResult, MIN_SYSTOLE, VIEW_HOLD, MAX_LENGTH_RATIO, MAX_LONG_SHARE, LENGTH_REFERENCE_FRAMES,
} from '../../src/pipeline/postprocess.js';

const near = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;

t.test('softmax is stable and sums to one; topK ranks with labels', async (t) => {
  const p = softmax([1000, 1001, 1002], new Float64Array(3));
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const s = e[0] + e[1] + e[2];
  t.ok(p.every((v, i) => near(v, e[i] / s, 1e-15)));
  t.same(topK([0.1, 0.7, 0.2], 2, ['A4C', 'A2C', 'PLAX']), [
    { index: 1, label: 'A2C', score: 0.7 }, { index: 2, label: 'PLAX', score: 0.2 },
  ]);
  t.same(topK([0.5, 0.5], 2).map((r) => r.index), [0, 1], 'ties keep the lower index first');
  const off = softmax([9, 0, 0], new Float64Array(2), 1, 2);
  t.same(Array.from(off), [0.5, 0.5], 'offset and count');
  // Temperature: softmax(logits / T). T = 2 on [0, 2]: [1, e] / (1 + e); T = 0.5 sharpens: [1, e^4] / (1 + e^4).
  const warm = softmax([0, 2], new Float64Array(2), 0, 2, 2);
  t.ok(near(warm[0], 1 / (1 + Math.E), 1e-15) && near(warm[1], Math.E / (1 + Math.E), 1e-15), `T = 2: ${Array.from(warm)}`);
  const sharp = softmax([0, 2], new Float64Array(2), 0, 2, 0.5);
  t.ok(near(sharp[1], Math.exp(4) / (1 + Math.exp(4)), 1e-15), `T = 0.5: ${Array.from(sharp)}`);
  t.equal(argmaxIndex(new Float32Array([0.1, 0.7, 0.2])), 1);
  t.equal(argmaxIndex([0.4, 0.4, 0.2]), 0, 'ties: the first');
  t.equal(argmaxIndex([]), 0, 'empty: 0');
});

function rectMask(w: number, h: number, x0: number, y0: number, x1: number, y1: number): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return m;
}

t.test('argmax over NCHW planes', async (t) => {
  const a = new MaskAnalyzer(2, 1);
  // channels 0..2 for two pixels: pixel 0 -> class 2, pixel 1 -> class 0
  t.same(Array.from(a.argmax([0.1, 0.9, 0.2, 0.1, 0.7, 0.0], 3)), [2, 0]);
  t.throws(() => a.argmax([1, 2, 3], 3), { name: 'RangeError', message: 'Expected logits of at least 6 values for 3x1x2 but received 3' });
});

t.test('largest connected component, 8- and 4-connectivity', async (t) => {
  const w = 8;
  const h = 6;
  const labels = new Uint8Array(w * h);
  // a 2x2 block of label 1, and a 5-pixel diagonal chain of label 1 that touches nothing
  for (const [x, y] of [[0, 0], [1, 0], [0, 1], [1, 1]]) labels[y * w + x] = 1;
  for (let k = 0; k < 5; k++) labels[k * w + 3 + k] = 1;
  labels[5 * w + 0] = 2;
  const a = new MaskAnalyzer(w, h);
  const c8 = a.largestComponent(labels, 1, 8);
  t.equal(c8.area, 5, '8-connected: the chain is one component of 5');
  t.same([...c8.mask.keys()].filter((p) => c8.mask[p]), [3, 12, 21, 30, 39]);
  const c4 = a.largestComponent(labels, 1, 4);
  t.equal(c4.area, 4, '4-connected: the chain falls apart, the block wins');
  t.same([...c4.mask.keys()].filter((p) => c4.mask[p]), [0, 1, 8, 9]);
  t.equal(a.largestComponent(labels, 3).area, 0, 'an absent label');
  t.ok(a.largestComponent(labels, 3).mask.every((v) => v === 0));
});

t.test('contour of a rectangle walks its boundary clockwise', async (t) => {
  const a = new MaskAnalyzer(6, 5);
  const m = rectMask(6, 5, 1, 1, 4, 3); // x 1..3, y 1..2
  t.same(a.contour(m), [1, 1, 2, 1, 3, 1, 3, 2, 2, 2, 1, 2]);
  t.same(a.contour(rectMask(6, 5, 2, 2, 3, 3)), [2, 2], 'a single pixel');
  t.same(a.contour(new Uint8Array(30)), [], 'an empty mask');
  // an L shape: the trace goes round the inner corner
  const l = new Uint8Array(16);
  for (const [x, y] of [[0, 0], [0, 1], [0, 2], [1, 2], [2, 2]]) l[y * 4 + x] = 1;
  t.same(new MaskAnalyzer(4, 4).contour(l), [0, 0, 0, 1, 1, 2, 2, 2, 1, 2, 0, 2, 0, 1]);
});

t.test('simplifyPolygon keeps corners and drops collinear points', async (t) => {
  const square = [0, 0, 1, 0, 2, 0, 2, 1, 2, 2, 1, 2, 0, 2, 0, 1];
  t.same(simplifyPolygon(square, 0.1), [0, 0, 2, 0, 2, 2, 0, 2]);
  t.same(simplifyPolygon([0, 0, 1, 0, 1, 1], 0.1), [0, 0, 1, 0, 1, 1], 'three points stay');
  const bump = [0, 0, 5, 0, 10, 0, 10, 10, 5, 10.4, 0, 10];
  t.same(simplifyPolygon(bump, 0.5), [0, 0, 10, 0, 10, 10, 0, 10], 'a 0.4 bump within epsilon goes');
  t.same(simplifyPolygon(bump, 0.3), [0, 0, 10, 0, 10, 10, 5, 10.4, 0, 10], 'and stays when over it');
});

t.test('area and long axis of known shapes; volume and EF', async (t) => {
  // a 10 x 30 rectangle of pixels at 0.5 mm: area 300 px = 75 mm2, long axis (29 + 1) px = 15 mm
  const m = rectMask(40, 40, 5, 3, 15, 33);
  t.same(areaLength(m, 40, 0.5), { areaMm2: 75, lengthMm: 15 });
  // a horizontal one gives the same length along x
  t.same(areaLength(rectMask(40, 40, 2, 5, 32, 15), 40, 0.5), { areaMm2: 75, lengthMm: 15 });
  t.same(areaLength(rectMask(4, 4, 0, 0, 2, 1), 4, 1), { areaMm2: 0, lengthMm: 0 }, 'under 3 pixels');
  t.same(areaLength(m, 40, [0.5, 0.5]), { areaMm2: 75, lengthMm: 15 }, '[s, s] is the square case');
  t.ok(near(areaLengthVolumeMl(1000, 80), (8 * 1000 * 1000) / (3 * Math.PI * 80) / 1000, 1e-12));
  t.equal(areaLengthVolumeMl(1000, 0), 0);
});

/** Tolerance for lengths that are exact in decimal but go through an atan2 of a 0 cross term: a few ulps. */
const LENGTH_TOL = 1e-12;

t.test('area and long axis on non-square pixels: coordinates in mm before the axis fit', async (t) => {
  // 6 x 2 pixels of 0.5 x 2 mm: a 3 mm wide, 4 mm tall shape. Area 12 px x 1 mm2; the long axis is vertical:
  // pixel centres 2 mm apart + one pixel (2 mm) along y = 4 mm. One spacing sqrt(0.5 x 2) = 1 mm read it as
  // 6 mm long and horizontal.
  const wide = rectMask(10, 4, 2, 1, 8, 3);
  const r = areaLength(wide, 10, [0.5, 2]);
  t.equal(r.areaMm2, 12);
  t.ok(near(r.lengthMm, 4, LENGTH_TOL), `length ${r.lengthMm}`);
  t.same(areaLength(wide, 10, 1), { areaMm2: 12, lengthMm: 6 }, 'the isotropic reading');
  // 10 x 30 pixels of 0.5 x 0.25 mm: 5 mm x 7.5 mm; area 300 x 0.125 mm2, length 29 x 0.25 + 0.25 = 7.5 mm.
  const tall = areaLength(rectMask(40, 40, 5, 3, 15, 33), 40, [0.5, 0.25]);
  t.equal(tall.areaMm2, 37.5);
  t.ok(near(tall.lengthMm, 7.5, LENGTH_TOL), `length ${tall.lengthMm}`);
  // An ellipse 20 mm wide and 40 mm tall sampled on 4:3 pixels (0.5 x 0.375 mm), centred on a pixel centre.
  // The topmost pixel centres inside it are 53 rows from the centre (53 x 0.375 = 19.875 <= 20 < 54 x 0.375):
  // length 2 x 19.875 + 0.375 = 40.125 mm. One spacing sqrt(0.5 x 0.375) reads (106 + 1) x 0.433 = 46.3 mm: 15% long.
  const [sx, sy] = [0.5, 0.375];
  const w = 45;
  const h = 111;
  const e = new Uint8Array(w * h);
  let pixels = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const inside = (((x - 22) * sx) / 10) ** 2 + (((y - 55) * sy) / 20) ** 2 <= 1;
      e[y * w + x] = inside ? 1 : 0;
      pixels += inside ? 1 : 0;
    }
  }
  const el = areaLength(e, w, [sx, sy]);
  t.equal(el.areaMm2, pixels * sx * sy);
  t.ok(Math.abs(el.areaMm2 - Math.PI * 10 * 20) < 0.01 * Math.PI * 10 * 20, `area ${el.areaMm2} within 1% of pi x 10 x 20`);
  t.ok(near(el.lengthMm, 40.125, 1e-9), `length ${el.lengthMm}`);
  const iso = areaLength(e, w, Math.sqrt(sx * sy));
  t.ok(near(iso.lengthMm, 107 * Math.sqrt(sx * sy), 1e-9), `isotropic length ${iso.lengthMm}`);
  t.ok(iso.lengthMm / el.lengthMm > 1.15, 'the isotropic reading is over 15% long');
});

t.test('beam angle: the LV long axis against the beam from the top centre through its centroid', async (t) => {
  const deg = (r: number) => (r * 180) / Math.PI;
  /** An angle (not null) within 1e-9 of `want`. */
  const at = (a: number | null, want: number) => a !== null && near(a, want, 1e-9);
  // 41 pixels wide: the probe at x 20, y -0.5. A 5 x 30 column centred under it runs down the beam: 0 degrees.
  t.ok(at(beamAngleDeg(rectMask(41, 40, 18, 5, 23, 35), 41, 1), 0), 'down the beam');
  // The same shape lying across the beam: 90 degrees.
  t.ok(at(beamAngleDeg(rectMask(41, 40, 5, 18, 36, 23), 41, 1), 90), 'across the beam');
  // A vertical 5 x 21 column off to the side: centroid (32, 20), beam (12, 20.5) from the probe; the axis is vertical,
  // so the angle is the beam's own slant, atan(12 / 20.5).
  const side = rectMask(41, 40, 30, 10, 35, 31);
  t.ok(at(beamAngleDeg(side, 41, 1), deg(Math.atan(12 / 20.5))), 'a vertical LV off the centre line');
  // Non-square pixels (0.5 x 2 mm): the beam is (6, 41) mm and the shape 2.5 mm wide, 42 mm tall: atan(6 / 41).
  t.ok(at(beamAngleDeg(side, 41, [0.5, 2]), deg(Math.atan(6 / 41))), 'in mm, not pixels');
  // A diagonal line from the probe: pixels (20 + k, k), k = 0..15. Axis at 45 degrees, centroid (27.5, 7.5), beam
  // (7.5, 8): the angle is the difference of the two directions.
  const diag = new Uint8Array(41 * 40);
  for (let k = 0; k < 16; k++) diag[k * 41 + 20 + k] = 1;
  t.ok(at(beamAngleDeg(diag, 41, 1), deg(Math.atan2(8, 7.5) - Math.PI / 4)), 'a tilted LV that points at the probe');
  t.equal(beamAngleDeg(rectMask(4, 4, 0, 0, 2, 1), 4, 1), null, 'under 3 pixels');
  // Too round to have an axis (MIN_ELONGATION 1.3: a filled ellipse's axis ratio): a disc and a 1.2:1 ellipse lying
  // across the beam are not judged; a 1.4:1 one is (90 degrees).
  const ellipse = (a: number, b: number) => {
    const m = new Uint8Array(81 * 81);
    for (let y = 0; y < 81; y++) for (let x = 0; x < 81; x++) m[y * 81 + x] = ((x - 40) / a) ** 2 + ((y - 50) / b) ** 2 <= 1 ? 1 : 0;
    return m;
  };
  t.equal(MIN_ELONGATION, 1.3);
  t.equal(beamAngleDeg(ellipse(20, 20), 81, 1), null, 'a disc');
  t.equal(beamAngleDeg(ellipse(24, 20), 81, 1), null, 'a 1.2:1 ellipse');
  t.ok(at(beamAngleDeg(ellipse(28, 20), 81, 1), 90), 'a 1.4:1 ellipse across the beam');
  // The same 1.2:1 shape is long enough in mm when its pixels are twice as tall as wide: 24 x 40 mm, down the beam.
  t.ok(at(beamAngleDeg(ellipse(24, 20), 81, [1, 2]), 0), 'the ratio in mm, not pixels');
});

t.test('EF over a synthetic cine of known EF', async (t) => {
  // Area and length follow a cardiac cycle so that EDV and ESV are known.
  const L0 = 80;
  const A0 = 2000;
  const edv = areaLengthVolumeMl(A0, L0);
  const esv = areaLengthVolumeMl(A0 * 0.7, L0 * 0.9);
  const expected = (100 * (edv - esv)) / edv;
  const ef = new EjectionFraction({ window: 40, minFrames: 20 });
  for (let f = 0; f < 30; f++) {
    const phase = (1 - Math.cos((2 * Math.PI * f) / 30)) / 2; // 0 at ED (f=0), 1 at ES (f=15)
    ef.push(f, { areaMm2: A0 * (1 - 0.3 * phase), lengthMm: L0 * (1 - 0.1 * phase) });
  }
  const r = ef.result();
  t.ok(near(r.ef, expected, 1e-9), `EF ${r.ef} vs ${expected}`);
  t.equal(r.edFrame, 0);
  t.equal(r.esFrame, 15);
  t.equal(r.valid, true);
  t.ok(near(r.edvMl, edv, 1e-12) && near(r.esvMl, esv, 1e-12));

  const short = new EjectionFraction({ minFrames: 20 });
  for (let f = 0; f < 5; f++) short.push(f, { areaMm2: 2000 - 50 * f, lengthMm: 80 });
  t.same({ valid: short.result().valid, reason: short.result().reason }, { valid: false, reason: '5 of 20 frames' });
  // A frame without an LV is bridged (the window keeps its 5 frames); a run of 4 empties it.
  short.push(5, undefined);
  t.same({ frames: short.result().frames, reason: short.result().reason }, { frames: 5, reason: '5 of 20 frames' });
  for (let f = 6; f < 9; f++) short.push(f, undefined);
  t.same({ frames: short.result().frames, valid: short.result().valid, reason: short.result().reason },
    { frames: 0, valid: false, reason: '4 frames in a row without a usable LV measurement (at most 3 are bridged); the last at frame 8: no LV' });

  const flat = new EjectionFraction({ minFrames: 3 });
  for (let f = 0; f < 10; f++) flat.push(f, { areaMm2: 2000, lengthMm: 80 });
  t.same({ ef: flat.result().ef, valid: flat.result().valid, reason: flat.result().reason }, { ef: 0, valid: false, reason: 'EF 0.0% outside 5-90%' });
});

t.test('ClassSmoother switches only after a sustained lead', async (t) => {
  const s = new ClassSmoother(3, { alpha: 0.5, margin: 0.1, hold: 3 });
  t.equal(s.update([0.8, 0.1, 0.1]), 0);
  // one noisy frame does not flip the display
  t.equal(s.update([0.1, 0.8, 0.1]), 0);
  t.equal(s.update([0.8, 0.1, 0.1]), 0);
  // a sustained change flips it on the `hold`-th frame of lead
  const shown = [1, 2, 3, 4, 5].map(() => s.update([0.05, 0.9, 0.05]));
  t.same(shown, [0, 0, 1, 1, 1]);
});

t.test('ClassSmoother by default (weight VIEW_SMOOTHING 0.3, margin 0.1, hold 3) shows a clean change of class on its 5th frame', async (t) => {
  t.equal(VIEW_SMOOTHING, 0.3);
  const s = new ClassSmoother(2);
  t.equal(s.update([1, 0]), 0);
  // after k frames of [0, 1] the average is [0.7^k, 1 - 0.7^k]: class 1 leads by 0.1 from the 3rd, shown on the 5th
  t.same(Array.from({ length: 8 }, () => s.update([0, 1])), [0, 0, 0, 0, 1, 1, 1, 1]);
  t.ok(Math.abs(s.probabilities[0] - 0.7 ** 8) < 1e-12, 'the average after 8 frames');
  // a wavering model (class 0 at 0.8 on 6 frames of 10, class 1 at 0.9 on the other 4: 0.52 against 0.48 on
  // average, a beat that repeats) flips the display with the default weight, not with 0.1 (the thirty-third wave)
  const seq = Array.from({ length: 100 }, (_, i) => (i % 10 < 6 ? [0.8, 0.2] : [0.1, 0.9]));
  const fast = new ClassSmoother(2);
  t.same(new Set(seq.map((p) => fast.update(p))), new Set([0, 1]));
  const slow = new ClassSmoother(2, { alpha: 0.1 });
  t.same(new Set(seq.map((p) => slow.update(p))), new Set([0]));
});

t.test('ScoreHysteresis has separate enter and exit thresholds', async (t) => {
  const q = new ScoreHysteresis({ alpha: 1, enter: 0.6, exit: 0.5 });
  t.same([0.55, 0.61, 0.55, 0.49, 0.55].map((v) => q.update(v).good), [false, true, true, false, false]);
  t.throws(() => new ScoreHysteresis({ enter: 0.4, exit: 0.5 }), { name: 'RangeError', message: 'Expected exit <= enter for the quality thresholds but received exit 0.5, enter 0.4' });
});

t.test('ClassSmoother: a frame whose probabilities are not all finite changes nothing', async (t) => {
  const s = new ClassSmoother(2, { alpha: 0.5, margin: 0.1, hold: 2 });
  t.equal(s.update([NaN, NaN]), 0, 'before any frame: the first class');
  t.equal(s.update([0.9, 0.1]), 0);
  t.same(Array.from(s.probabilities), [0.9, 0.1], 'the broken frame did not enter the average');
  t.equal(s.update([NaN, 0.5]), 0);
  t.equal(s.update([0.2, Infinity]), 0);
  t.same(Array.from(s.probabilities), [0.9, 0.1]);
  // A change of view still comes through (before, one NaN made every average NaN and the shown class stuck).
  t.same([0.1, 0.1, 0.1].map(() => s.update([0.05, 0.95])), [0, 0, 1]);
});

t.test('ScoreHysteresis: a score that is not finite is poor at once and does not stick in the average', async (t) => {
  const q = new ScoreHysteresis({ alpha: 0.5, enter: 0.6, exit: 0.5 });
  const seen = [0.8, NaN, 0.8, 0.4, Infinity, 0.8, -Infinity, 0.7].map((v) => q.update(v));
  // 0.8 good; NaN poor, reported NaN; 0.8 starts the average over (good); 0.6 holds; +-Infinity as NaN; 0.8, 0.7 -> 0.75.
  t.same(seen.map((s) => s.good), [true, false, true, true, false, true, false, true]);
  t.same(seen.map((s) => s.value), [0.8, NaN, 0.8, 0.6000000000000001, NaN, 0.8, NaN, 0.7]);
});

t.test('Latch: opens at enter, closes below exit or on NaN; close() and the threshold it holds to', async (t) => {
  const g = new Latch(0.5, 0.4, 'the gate');
  const seen = [0.45, 0.5, 0.41, 0.4, 0.39, 0.45, 0.6, NaN, 0.45].map((v) => [g.threshold, g.update(v)]);
  t.same(seen, [[0.5, false], [0.5, true], [0.4, true], [0.4, true], [0.4, false], [0.5, false], [0.5, true], [0.4, false], [0.5, false]]);
  g.update(0.9);
  t.same([g.open, g.close(), g.open, g.threshold], [true, false, false, 0.5]);
  const always = new Latch(-Infinity, -Infinity);
  t.same([always.update(-1e300), always.update(NaN)], [true, false], '-Infinity: open for every number');
  t.throws(() => new Latch(0.4, 0.5, 'the gate'), { name: 'RangeError', message: 'Expected exit <= enter for the gate but received exit 0.5, enter 0.4' });
  t.throws(() => new Latch(NaN, 0.5), { name: 'RangeError', message: 'Expected exit <= enter for the latch but received exit 0.5, enter NaN' });
});

t.test('Latch with a hold: a dip under exit is held open once the gate has been open `hold` updates; the next one closes it', async (t) => {
  const g = new Latch(0.5, 0.4, 'the gate', 2);
  const run = (vs: number[]) => vs.map((v) => `${g.update(v) ? (g.held ? 'h' : 'o') : '.'}`).join('');
  // Open 1 update, then a dip: not held yet (open fewer than 2). Open 2, then 3 under exit: 2 held, the 3rd closes.
  t.equal(run([0.6, 0.3, 0.6, 0.45, 0.1, 0.2, 0.3, 0.45]), 'o.oo' + 'hh' + '..');
  // A value at or above exit ends the dip; the next dip is held again (the gate has been open long enough).
  g.close();
  t.equal(run([0.6, 0.6, 0.3, 0.4, 0.2, 0.2, 0.41, 0.3]), 'oohohhoh');
  t.equal(g.threshold, 0.4, 'held open: the exit bar');
  // A value that is not a number closes it, held or not; so does close().
  t.equal(run([NaN, 0.6, 0.6, 0.3, NaN]), '.ooh.');
  t.same([run([0.6, 0.6]), g.close(), g.held, g.threshold], ['oo', false, false, 0.5]);
  // hold 0 (the default) is the plain latch.
  const plain = new Latch(0.5, 0.4);
  t.equal([0.6, 0.3, 0.6, 0.6, 0.6, 0.3].map((v) => (plain.update(v) ? 'o' : '.')).join(''), 'o.ooo.');
  t.equal(plain.hold, 0);
  t.throws(() => new Latch(0.5, 0.4, 'the gate', 1.5), { name: 'RangeError', message: 'Expected a hold that is a non-negative integer for the gate but received 1.5' });
  t.throws(() => new Latch(0.5, 0.4, 'the gate', -1), { name: 'RangeError', message: 'Expected a hold that is a non-negative integer for the gate but received -1' });
});

t.test('area, long axis and EF agree with the harness (fixture from training metrics)', async (t) => {
  const { readFileSync } = await import('node:fs');
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/postprocess/area-length.json', import.meta.url), 'utf8')) as {
    masks: Array<{ width: number; height: number; spacing_mm: number; pixels: number[]; area_mm2: number; length_mm: number }>;
    cine_ef: number; cine_ed: number; cine_es: number;
  };
  const ef = new EjectionFraction({ minFrames: 3 });
  fixture.masks.forEach((c, i) => {
    const m = new Uint8Array(c.width * c.height);
    for (const p of c.pixels) m[p] = 1;
    const r = areaLength(m, c.width, c.spacing_mm);
    t.ok(near(r.areaMm2, c.area_mm2, 1e-9) && near(r.lengthMm, c.length_mm, 1e-9 * c.length_mm),
      `mask ${i}: ${r.areaMm2} / ${r.lengthMm} vs ${c.area_mm2} / ${c.length_mm}`);
    ef.push(i, r);
  });
  const r = ef.result();
  t.ok(near(r.ef, fixture.cine_ef, 1e-9), `EF ${r.ef} vs ${fixture.cine_ef}`);
  t.same([r.edFrame, r.esFrame], [fixture.cine_ed, fixture.cine_es]);
});

/** Five beats at 30 fps: volume 40..100 mL, ED at frames 5, 35, 65, 95, 125 and ES 15 frames after each (EF 60%). */
const L_MM = 80;
const volumeAt = (f: number): number => 40 + (60 * (1 + Math.cos((2 * Math.PI * (f - 5)) / 30))) / 2;
/** The area that gives volume v (mL) with length L_MM under the area-length rule. */
const sample = (f: number): AreaLength => ({ areaMm2: Math.sqrt((volumeAt(f) * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM });
const EF_TOL = 1e-9;

t.test('beats: every ED and ES of a 5-beat curve is confirmed exactly once, a few frames after it', async (t) => {
  const ef = new EjectionFraction({ estimate: 'beats' });
  const ed: number[][] = [];
  const es: number[][] = [];
  for (let f = 0; f < 150; f++) {
    ef.push(f, sample(f));
    const r = ef.result();
    if (r.edConfirmed !== null) ed.push([r.edConfirmed, f]);
    if (r.esConfirmed !== null) es.push([r.esConfirmed, f]);
  }
  // [extremum, the frame that confirmed it]: once the curve is back by 0.3 of its range (6 frames on this curve);
  // the first ED is confirmed sooner (the window's range is small then).
  t.same(ed, [[5, 8], [35, 41], [65, 71], [95, 101], [125, 131]]);
  t.same(es, [[20, 26], [50, 56], [80, 86], [110, 116], [140, 146]]);
  const r = ef.result();
  t.equal(r.method, 'beats');
  // The 128-frame window holds frames 22..149: the beats whose ED is in it.
  t.same(r.beats.map((b) => [b.edSeq, b.esSeq]), [[35, 50], [65, 80], [95, 110], [125, 140]]);
  t.ok(r.beats.every((b) => near(b.efRaw, 60, EF_TOL) && near(b.ef, 60, EF_TOL) && near(b.edvMl, 100, EF_TOL) && near(b.esvMl, 40, EF_TOL)));
  t.ok(near(r.ef, 60, EF_TOL), `EF ${r.ef}`);
  t.same([r.edFrame, r.esFrame, r.valid, r.quality], [125, 140, true, 'ok']);
  // 95% interval: 4 identical beats, no calibration: 1.96 sqrt((5^2 + 0) / 4 / 4) = 2.45.
  t.ok(near(r.ci![0], 57.55, EF_TOL) && near(r.ci![1], 62.45, EF_TOL), `CI ${r.ci}`);
});

t.test('beats: a cine that starts just before ES: the ES is confirmed although the curve passes its first frame within the delay', async (t) => {
  // The bundled sample cine's LV areas (mm2) as the sixteenth wave's LV model measures them, at a constant length:
  // ES at frame 3, and frame 5 is already the largest so far, two frames after it (the confirmation delay). Taking
  // only the later of the window's extremes, frame 5 hid the turned ES and no ES was ever reported.
  const areas = [2250.7, 1831.3, 1559.9, 1543.4, 1905.3, 2371.3, 2590.6, 2601.6, 2593.4, 2598.9, 2629.0, 2774.3, 2763.4,
    2492.0, 2045.1, 1688.7];
  const ef = new EjectionFraction();
  const ed: number[][] = [];
  const es: number[][] = [];
  areas.forEach((areaMm2, f) => {
    ef.push(f, { areaMm2, lengthMm: 80 });
    const r = ef.result();
    if (r.edConfirmed !== null) ed.push([r.edConfirmed, f]);
    if (r.esConfirmed !== null) es.push([r.esConfirmed, f]);
  });
  t.same(es, [[3, 5]]);
  t.same(ed, [[11, 14]]);
  // An ES before the first ED is no beat: the EF is still the window's extremes.
  t.same([ef.result().method, ef.result().beats.length, ef.result().edFrame, ef.result().esFrame], ['window', 0, 11, 3]);
});

t.test('beats: a minimum sooner than minSystole frames after its ED is noise: not flagged, no beat, the ED stays pending', async (t) => {
  // The 5-beat curve with one frame of noise two frames after the ED at 35: 60 mL where the heart holds 98.9. It
  // stands out by more than 0.3 of the range on both sides, so the zig-zag confirms it as a minimum.
  const noisy = (f: number): AreaLength =>
    f === 37 ? { areaMm2: Math.sqrt((60 * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM } : sample(f);
  const run = (options: { minSystole?: number }) => {
    const ef = new EjectionFraction({ estimate: 'beats', ...options });
    const es: number[] = [];
    for (let f = 0; f <= 60; f++) {
      ef.push(f, noisy(f));
      const c = ef.result().esConfirmed;
      if (c !== null) es.push(c);
    }
    const r = ef.result();
    return { es, beats: r.beats.map((b) => [b.edSeq, b.esSeq, b.efRaw]), ef: r.ef };
  };
  t.equal(MIN_SYSTOLE, 3);
  const kept = run({});
  t.same(kept.es, [20, 50], 'the dip is no end-systole; the true one 15 frames after the ED is');
  t.equal(kept.beats.length, 2);
  t.same(kept.beats.map((b) => b.slice(0, 2)), [[5, 20], [35, 50]]);
  t.ok(kept.beats.every((b) => near(b[2] as number, 60, EF_TOL)) && near(kept.ef, 60, EF_TOL), `EF ${kept.ef}`);
  // Off (the runtime before the twenty-first wave): the dip makes a beat of 40% and blocks the true ES's beat.
  const off = run({ minSystole: 0 });
  t.same(off.es, [20, 37, 50]);
  t.same(off.beats.map((b) => b.slice(0, 2)), [[5, 20], [35, 37]]);
  t.ok(near(off.beats[1][2] as number, 100 * (1 - 60 / volumeAt(35)), EF_TOL) && near(off.ef, 50, EF_TOL), `EF ${off.ef}`);
});

t.test('EF: no value while more than maxLongShare of the window is longer than maxLengthRatio x its lower-quartile long axis (off by default)', async (t) => {
  // The 5-beat curve (80 mm throughout), with the frames `leaking(f)` as an LV mask that runs past the annulus: 1.5 x
  // as long, 1.3 x the area.
  const leak = (f: number): AreaLength => ({ areaMm2: sample(f).areaMm2 * 1.3, lengthMm: L_MM * 1.5 });
  const run = (leaking: (f: number) => boolean, options: { maxLengthRatio?: number } = { maxLengthRatio: 1.25 }) => {
    const ef = new EjectionFraction({ estimate: 'beats', ...options });
    for (let f = 0; f < 150; f++) ef.push(f, leaking(f) ? leak(f) : sample(f));
    return ef.result();
  };
  t.same([MAX_LENGTH_RATIO, MAX_LONG_SHARE, LENGTH_REFERENCE_FRAMES], [0, 0.1, 8]);
  // 12 of the window's 128 frames (at most 12.8 allowed): the EF stands, the long frames measured as they are.
  const twelve = run((f) => f >= 36 && f < 48);
  t.same([twelve.valid, twelve.frames, twelve.beats[0].edSeq], [true, 128, 36]);
  // 13 of 128: no EF, and why.
  const thirteen = run((f) => f >= 36 && f < 49);
  t.same([thirteen.valid, thirteen.ci, thirteen.quality], [false, null, 'low']);
  t.equal(thirteen.reason, 'LV long axis over 1.25 x the window\'s lower quartile (80.0 mm) on 13 of 128 frames: an LV that runs past its annulus');
  // Off (the default): the same frames give an EF.
  t.equal(run((f) => f >= 36 && f < 49, {}).valid, true);
  // Once the long frames have left the 128-frame window the EF is back.
  const early = run((f) => f >= 2 && f < 15);
  t.same([early.valid, early.reason], [true, undefined]);
  // A ventricle's own shortening (20% from ED to ES) never counts.
  const shortening = new EjectionFraction({ estimate: 'beats', maxLengthRatio: 1.25 });
  for (let f = 0; f < 150; f++) {
    const lengthMm = L_MM * (0.8 + (0.2 * (volumeAt(f) - 40)) / 60);
    shortening.push(f, { areaMm2: Math.sqrt((volumeAt(f) * 1000 * 3 * Math.PI * lengthMm) / 8), lengthMm });
  }
  t.equal(shortening.result().valid, true);
  t.ok(near(shortening.result().ef, 60, 1e-6), `EF ${shortening.result().ef}`);
});

t.test('beats: EF is the median of the beats; one beat is low quality', async (t) => {
  t.equal(median([3, 1, 2]), 2);
  t.equal(median([4, 1, 3, 2]), 2.5, 'even count: the mean of the two middle values');
  const ef = new EjectionFraction({ estimate: 'beats' });
  for (let f = 0; f <= 26; f++) ef.push(f, sample(f));
  const r = ef.result();
  // One beat alone: listed, but the value is the window's extremes until a second beat (twenty-ninth wave).
  t.same([r.method, r.beats.length, r.valid, r.quality, r.qualityReason], ['window', 1, true, 'low', '1 beat (2 needed)']);
  const vs = Array.from({ length: 27 }, (_, f) => volumeAt(f));
  t.ok(near(r.efRaw, (100 * (Math.max(...vs) - Math.min(...vs))) / Math.max(...vs), 1e-9), `window EF ${r.efRaw}`);
  // One beat: the prior beat-to-beat SD (5 points) alone: 60 +- 1.96 x 5.
  t.ok(near(r.ci![0], 50.2, EF_TOL) && near(r.ci![1], 69.8, EF_TOL), `CI ${r.ci}`);
  // A second beat: the median of the beats.
  for (let f = 27; f <= 60; f++) ef.push(f, sample(f));
  t.same([ef.result().method, ef.result().beats.length], ['beats', 2]);
  // Before the first beat: the window's extremes (valid from 16 frames), low quality.
  const early = new EjectionFraction();
  for (let f = 0; f < 16; f++) early.push(f, sample(f));
  t.same([early.result().method, early.result().valid, early.result().beats.length, early.result().quality], ['window', true, 0, 'low']);
});

t.test('EF calibration from the package and its interval', async (t) => {
  const ef = new EjectionFraction({ calibration: { slope: 1.1, intercept: 2, residualSd: 3 } });
  for (let f = 0; f < 150; f++) ef.push(f, sample(f));
  const r = ef.result();
  t.ok(near(r.efRaw, 60, EF_TOL) && near(r.ef, 68, EF_TOL), `EF ${r.ef} from ${r.efRaw}`);
  t.ok(r.beats.every((b) => near(b.ef, 68, EF_TOL)), 'each beat calibrated');
  // 1.96 sqrt(3^2 + (5^2 / 4) / 4) = 1.96 x 3.25 = 6.37.
  t.ok(near(r.ci![0], 68 - 6.37, EF_TOL) && near(r.ci![1], 68 + 6.37, EF_TOL), `CI ${r.ci}`);
  t.equal(r.quality, 'ok');
  // Clamped to [0, 100], the interval too; outside the plausible range: not valid, no interval.
  const high = new EjectionFraction({ calibration: { slope: 1.5, intercept: 20, residualSd: 6 }, range: [5, 100] });
  for (let f = 0; f < 150; f++) high.push(f, sample(f));
  t.same([high.result().ef, high.result().ci![1], high.result().valid], [100, 100, true]);
  t.ok(near(high.result().ci![0], 100 - 1.96 * Math.sqrt(36 + 25 / 16), EF_TOL), `CI ${high.result().ci}`);
  const implausible = new EjectionFraction({ calibration: { slope: 1.5, intercept: 20, residualSd: 6 } });
  for (let f = 0; f < 150; f++) implausible.push(f, sample(f));
  t.same([implausible.result().valid, implausible.result().reason, implausible.result().ci], [false, 'EF 100.0% outside 5-90%', null]);
  // A residual SD of 6 makes the interval wider than +-10: low quality.
  const wide = new EjectionFraction({ calibration: { slope: 1, intercept: 0, residualSd: 6 } });
  for (let f = 0; f < 150; f++) wide.push(f, sample(f));
  t.same([wide.result().valid, wide.result().quality, wide.result().qualityReason], [true, 'low', 'interval +-12.0 points (at most 10)']);
});

t.test("EF interval 'with_uncalibrated': it spans the calibrated and the uncalibrated EF; the value and the flag stay", async (t) => {
  const run = (calibration: EfCalibration): EjectionFractionResult => {
    const ef = new EjectionFraction({ calibration });
    for (let f = 0; f < 150; f++) ef.push(f, sample(f));
    return ef.result();
  };
  const half = 1.96 * 3.25; // as above: 1.96 sqrt(3^2 + (5^2 / 4) / 4) = 6.37
  const stat = run({ slope: 1.1, intercept: 2, residualSd: 3, interval: 'statistical' });
  const both = run({ slope: 1.1, intercept: 2, residualSd: 3, interval: 'with_uncalibrated' });
  t.same(stat, run({ slope: 1.1, intercept: 2, residualSd: 3 }), "'statistical' is the default");
  // Calibrated 68 above the raw 60: from 60 - 6.37 to 68 + 6.37.
  t.ok(near(both.ci![0], 60 - half, EF_TOL) && near(both.ci![1], 68 + half, EF_TOL), `CI ${both.ci}`);
  t.same({ ...both, ci: null }, { ...stat, ci: null }, 'everything but the interval as the statistical one');
  t.equal(both.quality, 'ok', 'the flag judges the half-width (6.4), not the interval (14.4 points each side of 68)');
  // Calibrated below the raw (60 -> 0.9 x 60 - 4 = 50): from 50 - 6.37 to 60 + 6.37.
  const down = run({ slope: 0.9, intercept: -4, residualSd: 3, interval: 'with_uncalibrated' });
  t.ok(near(down.ef, 50, EF_TOL) && near(down.ci![0], 50 - half, EF_TOL) && near(down.ci![1], 60 + half, EF_TOL), `CI ${down.ci}`);
  // Clamped to [0, 100] as before: the raw 60 under a calibrated 100.
  const top = new EjectionFraction({ calibration: { slope: 1.5, intercept: 20, residualSd: 6, interval: 'with_uncalibrated' }, range: [5, 100] });
  for (let f = 0; f < 150; f++) top.push(f, sample(f));
  const h6 = 1.96 * Math.sqrt(36 + 25 / 16);
  t.ok(near(top.result().ci![0], 60 - h6, EF_TOL) && top.result().ci![1] === 100, `CI ${top.result().ci}`);
});

t.test('trimmed volumes (calibration.trim): the window averages a share of its largest and smallest, a beat those beside its ED and ES', async (t) => {
  t.same([trimCount(0.1, 16), trimCount(0.1, 25), trimCount(0.1, 32), trimCount(0.1, 48), trimCount(0.01, 16)], [2, 3, 3, 5, 1]);
  // Window mode (no beat: the first ED is the window's first frame, with no left side; the last is not back yet).
  const vols = [100, 96, 90, 80, 60, 45, 40, 50, 42, 60, 75, 85, 95, 98, 92, 88];
  const at = (v: number): AreaLength => ({ areaMm2: Math.sqrt((v * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM });
  const plain = new EjectionFraction();
  const trimmed = new EjectionFraction({ calibration: { slope: 1, intercept: 0, residualSd: 0, trim: 0.1 } });
  vols.forEach((v, f) => { plain.push(f, at(v)); trimmed.push(f, at(v)); });
  const p = plain.result();
  const r = trimmed.result();
  t.same([p.method, r.method, r.edFrame, r.esFrame], ['window', 'window', 0, 6], 'the frames named ED and ES stay the extremes');
  t.ok(near(p.efRaw, 60, EF_TOL), `extremes ${p.efRaw}`);
  // 16 volumes, k = 2: EDV (100 + 98) / 2, ESV (40 + 42) / 2.
  t.ok(near(r.edvMl, 99, EF_TOL) && near(r.esvMl, 41, EF_TOL), `${r.edvMl} ${r.esvMl}`);
  t.ok(near(r.efRaw, (100 * (99 - 41)) / 99, EF_TOL), `trimmed ${r.efRaw}`);
  // Beats: ED to ES 15 samples, so k = floor(0.1 x 30 + 0.5) = 3: the 3 largest within 3 samples of each ED (the ED
  // and its two neighbours on this curve), the 3 smallest within 3 of each ES.
  const beats = new EjectionFraction({ calibration: { slope: 1, intercept: 0, residualSd: 0, trim: 0.1 }, estimate: 'beats' });
  for (let f = 0; f < 150; f++) beats.push(f, sample(f));
  const b = beats.result();
  const edv = (volumeAt(4) + volumeAt(5) + volumeAt(6)) / 3;
  const esv = (volumeAt(19) + volumeAt(20) + volumeAt(21)) / 3;
  t.equal(b.method, 'beats');
  t.same(b.beats.map((x) => [x.edSeq, x.esSeq]), [[35, 50], [65, 80], [95, 110], [125, 140]]);
  t.ok(b.beats.every((x) => near(x.edvMl, edv, 1e-9) && near(x.esvMl, esv, 1e-9)), `${b.beats[0].edvMl} ${b.beats[0].esvMl}`);
  t.ok(near(b.efRaw, (100 * (edv - esv)) / edv, 1e-9) && b.efRaw < 60, `EF ${b.efRaw}`);
  t.same([b.edvMl, b.esvMl], [b.beats[3].edvMl, b.beats[3].esvMl], 'the result names the latest beat\'s volumes');
});

t.test('estimate window: the EF value from the window\'s trimmed extremes, beats found or not; beats is the default', async (t) => {
  const cal = { slope: 1, intercept: 0, residualSd: 0, trim: 0.1 };
  // Five clean beats; then, after a reset, a noise wiggle in a short plateau that the beat detector takes for a beat
  // (ED 100 mL at 202, ES 88 at 203: each stands out by the 5 mL floor, 0.05 x the largest volume).
  const win = new EjectionFraction({ calibration: cal, estimate: 'window' });
  const byBeats = new EjectionFraction({ calibration: cal });
  const at = (v: number): AreaLength => ({ areaMm2: Math.sqrt((v * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM });
  for (let f = 0; f < 150; f++) { win.push(f, sample(f)); byBeats.push(f, sample(f)); }
  const w = win.result();
  const b = byBeats.result();
  // The same beats either way; the window's 128 volumes, k = 13: the 13 largest and 13 smallest.
  t.same(w.beats.map((x) => [x.edSeq, x.esSeq]), b.beats.map((x) => [x.edSeq, x.esSeq]));
  const vs = Array.from({ length: 128 }, (_, i) => volumeAt(22 + i)).sort((x, y) => x - y);
  const edv = vs.slice(-13).reduce((x, y) => x + y, 0) / 13;
  const esv = vs.slice(0, 13).reduce((x, y) => x + y, 0) / 13;
  t.same([w.method, b.method], ['window', 'beats']);
  t.ok(near(w.edvMl, edv, 1e-9) && near(w.esvMl, esv, 1e-9), `${w.edvMl} ${w.esvMl}`);
  t.ok(near(w.efRaw, (100 * (edv - esv)) / edv, 1e-9), `window EF ${w.efRaw}`);
  t.ok(near(b.efRaw, b.beats[1].efRaw, 1e-9), 'beats: the median of 4 equal beats');
  // The interval and quality still come from the beats: 4 agreeing beats, ok.
  t.same([w.quality, w.ci !== null, w.valid], ['ok', true, true]);
  // An EF needs 16 frames, from the window or from beats: a wiggle that makes a beat in a window's first 6 frames
  // gives no EF (before the twenty-sixth wave the beat's EF was shown). (The wiggle's ES is one frame after its ED:
  // minSystole 0, the rule before the twenty-first wave, lets it make a beat; the default does not.)
  const wiggle = [90, 92, 100, 88, 89, 97];
  const win6 = new EjectionFraction({ calibration: cal, estimate: 'window', minSystole: 0 });
  const beats6 = new EjectionFraction({ calibration: cal, minSystole: 0 });
  const beats6Default = new EjectionFraction({ calibration: cal });
  for (const e of [win6, beats6, beats6Default]) wiggle.forEach((v, i) => e.push(200 + i, at(v)));
  t.same(beats6.result().beats.map((x) => [x.edSeq, x.esSeq]), [[202, 203]], 'a beat from the wiggle');
  t.same([beats6.result().method, beats6.result().valid, beats6.result().reason], ['window', false, '6 of 16 frames'],
    'the beat is listed, its EF not shown');
  t.ok(beats6.result().efRaw < 15, `window: EF ${beats6.result().efRaw} of the plateau`);
  t.same([win6.result().valid, win6.result().reason], [false, '6 of 16 frames']);
  // Ten more frames of the same plateau: 16 frames, the EF is shown.
  for (let i = 6; i < 16; i++) beats6.push(200 + i, at(wiggle[i % 6]));
  t.same([beats6.result().valid, beats6.result().frames], [true, 16]);
  t.same([beats6Default.result().beats.length, beats6Default.result().valid], [0, false], 'no beat from a 1-frame systole');
  // The twenty-ninth wave's case: after the wiggle's beat the window goes on into a real systole (ED 150 mL, down
  // to 60 by the last frame, not yet back up, so no second beat). The lone wiggle beat's EF (12%) is not shown; the
  // window's trimmed extremes are.
  const lone = new EjectionFraction({ calibration: cal, minSystole: 0 });
  const rise = Array.from({ length: 12 }, (_, i) => 97 + ((150 - 97) * (i + 1)) / 12);
  const fall = Array.from({ length: 12 }, (_, i) => 150 - ((150 - 60) * (i + 1)) / 12);
  const curve = [...wiggle, 95, 96, 94, 96, ...rise, ...fall];
  curve.forEach((v, i) => lone.push(300 + i, at(v)));
  const r = lone.result();
  t.same(r.beats.map((x) => [x.edSeq, x.esSeq]), [[302, 303]], 'the wiggle is the only beat');
  t.ok(r.beats[0].efRaw < 15, `the lone beat's EF ${r.beats[0].efRaw}`);
  const sorted = [...curve].sort((x, y) => x - y);
  const k = trimCount(0.1, curve.length);
  const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
  const want = (100 * (mean(sorted.slice(-k)) - mean(sorted.slice(0, k)))) / mean(sorted.slice(-k));
  t.same([r.method, r.valid, r.quality], ['window', true, 'low']);
  t.ok(near(r.efRaw, want, 1e-6), `window EF ${r.efRaw}, want ${want}`);
});

t.test('EF window: a brief view flip or a frame without LV keeps the EF; a longer run empties the window', async (t) => {
  const run = (gap: (f: number) => 'lv' | 'none' | 'A2C', options = {}): { ef: EjectionFraction; frames: number[]; ed: number[] } => {
    const ef = new EjectionFraction(options);
    const frames: number[] = [];
    const ed: number[] = [];
    for (let f = 0; f < 100; f++) {
      const g = gap(f);
      ef.push(f, g === 'none' ? undefined : sample(f), { view: g === 'A2C' ? 'A2C' : 'A4C' });
      frames.push(ef.result().frames);
      if (ef.result().edConfirmed !== null) ed.push(ef.result().edConfirmed!);
    }
    return { ef, frames, ed };
  };
  const ref = run(() => 'lv');
  // viewHold 0 (off): A4C -> A2C -> A4C, the shown view flips for 2 frames (60, 61); those frames are skipped, the EF stays.
  const flip = run((f) => (f === 60 || f === 61 ? 'A2C' : 'lv'), { viewHold: 0 });
  t.same(flip.frames.slice(58, 63), [59, 60, 60, 60, 61], 'the window keeps its frames over the flip');
  t.same([flip.ef.result().valid, flip.ef.result().beats.length, flip.ef.view], [true, 3, 'A4C']);
  t.ok(near(flip.ef.result().ef, ref.ef.result().ef, EF_TOL), 'same EF');
  t.same(flip.ed, ref.ed, 'same EDs');
  // With viewHold 32 (the default): the flip's frames are measured into the A4C window.
  const kept = run((f) => (f === 60 || f === 61 ? 'A2C' : 'lv'));
  t.same(kept.frames.slice(58, 63), [59, 60, 61, 62, 63], 'viewHold: the window keeps the flip\'s frames');
  t.same([kept.ef.result().valid, kept.ef.result().beats.length, kept.ef.view], [true, 3, 'A4C']);
  t.ok(near(kept.ef.result().ef, ref.ef.result().ef, EF_TOL), 'same EF');
  // One frame without LV: bridged.
  const one = run((f) => (f === 70 ? 'none' : 'lv'));
  t.same([one.ef.result().valid, one.ef.result().beats.length, one.ef.result().frames], [true, 3, 99]);
  // 5 frames without LV: the 4th empties the window; the EF starts over.
  const five = run((f) => (f >= 70 && f < 75 ? 'none' : 'lv'));
  t.same(five.frames.slice(69, 77), [70, 70, 70, 70, 0, 0, 1, 2]);
  t.same([five.ef.result().valid, five.ef.result().reason], [true, undefined], '25 frames after: valid again (window rule)');
  t.equal(five.ef.result().method, 'window');
  // viewHold 0: a view held for more than 3 frames restarts the window in that view.
  const held = new EjectionFraction({ viewHold: 0 });
  for (let f = 0; f < 40; f++) held.push(f, sample(f), { view: 'A4C' });
  for (let f = 40; f < 43; f++) held.push(f, sample(f), { view: 'A2C' });
  t.same([held.result().frames, held.view], [40, 'A4C'], '3 frames of A2C: bridged');
  held.push(43, sample(43), { view: 'A2C' });
  t.same([held.result().frames, held.view, held.result().beats.length], [1, 'A2C', 0], 'the 4th starts an A2C window');
  // skip() is the same rule for any other ineligible frame.
  held.skip(44, 'quality 0.31 below 0.5');
  t.equal(held.result().frames, 1);
  // With viewHold 32 (the default): another view held for more than 32 frames restarts the window in that view.
  t.equal(VIEW_HOLD, 32);
  const hold = new EjectionFraction();
  for (let f = 0; f < 40; f++) hold.push(f, sample(f), { view: 'A4C' });
  for (let f = 40; f < 72; f++) hold.push(f, sample(f), { view: 'A2C' });
  t.same([hold.result().frames, hold.view], [72, 'A4C'], '32 frames of A2C: measured into the A4C window');
  hold.push(72, sample(72), { view: 'A2C' });
  t.same([hold.result().frames, hold.view, hold.result().beats.length], [1, 'A2C', 0], 'the 33rd starts an A2C window');
  hold.push(73, undefined);
  hold.skip(74, 'quality 0.31 below 0.5');
  t.equal(hold.result().frames, 1);
  // The run counts from the window's view last shown: A4C frames in between start it over.
  const mixed = new EjectionFraction({ viewHold: 4 });
  const views = ['A4C', 'A2C', 'A2C', 'A2C', 'A2C', 'A4C', 'A2C', 'A2C', 'A2C', 'A2C', 'A2C'];
  const counts = views.map((v, f) => (mixed.push(f, sample(f), { view: v }), mixed.result().frames));
  t.same([counts, mixed.view], [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1], 'A2C'], 'the 5th A2C in a run starts an A2C window');
});

t.test('EF window: with viewHold, a view that flips at the same phase of every beat keeps the beats (thirtieth and thirty-second waves)', async (t) => {
  // Five beats of 30 frames (ES at 20, 50, ...): the shown view is A2C for the 6 frames around each ES.
  const flipAt = (f: number): string => {
    const phase = (((f - 20) % 30) + 30) % 30;
    return phase <= 2 || phase >= 27 ? 'A2C' : 'A4C';
  };
  t.same(Array.from({ length: 30 }, (_, f) => flipAt(f)).join('').match(/A2C/g)?.length, 6, '6 frames a beat');
  const run = (options = {}): EjectionFraction => {
    const ef = new EjectionFraction(options);
    for (let f = 0; f < 150; f++) ef.push(f, sample(f), { view: flipAt(f) });
    return ef;
  };
  const ref = new EjectionFraction();
  for (let f = 0; f < 150; f++) ref.push(f, sample(f), { view: 'A4C' });
  const now = run().result();
  t.same([now.method, now.beats.length, now.frames], ['beats', ref.result().beats.length, 128]);
  t.ok(near(now.ef, ref.result().ef, EF_TOL), `EF ${now.ef} vs ${ref.result().ef}`);
  t.ok(near(now.ef, 60, 1e-6), 'the true EF');
  // viewHold 0 (the default until the thirty-second wave): the 4th A2C frame empties the window once a beat, so it
  // never holds a beat.
  const before = run({ viewHold: 0 }).result();
  t.same([before.method, before.beats.length], ['window', 0]);
  t.ok(before.frames < 30, `window of ${before.frames} frames`);
});

t.test('EF window: a volume that halves or doubles in one frame is a segmentation dropout, bridged like a frame without LV', async (t) => {
  const run = (drop: (f: number) => boolean, options = {}): EjectionFraction => {
    const ef = new EjectionFraction(options);
    for (let f = 0; f < 100; f++) {
      const s = sample(f);
      // The cavity lost under an artefact: a tenth of the area along the same axis.
      ef.push(f, drop(f) ? { areaMm2: s.areaMm2 / 10, lengthMm: s.lengthMm } : s);
    }
    return ef;
  };
  const ref = run(() => false).result();
  const one = run((f) => f === 70);
  t.same([one.result().valid, one.result().beats.length, one.result().frames], [true, ref.beats.length, 99]);
  t.ok(near(one.result().ef, ref.ef, EF_TOL), `the dropout is not the ES: EF ${one.result().ef} vs ${ref.ef}`);
  t.same(one.result().beats.map((b) => b.esSeq), ref.beats.map((b) => b.esSeq));
  // The rule off (maxStep 0): the dropout is taken for an end-systole, a beat of EF near 90%.
  const off = run((f) => f === 70, { maxStep: 0 }).result().beats.find((b) => b.esSeq === 70);
  t.ok(off !== undefined && off.efRaw > 85, `the dropout's beat: ${JSON.stringify(off)}`);
  // Four in a row: the window empties (with the reason), the 4th frame not kept.
  const four = new EjectionFraction();
  for (let f = 0; f < 40; f++) four.push(f, sample(f));
  const s = sample(40);
  for (let f = 40; f < 44; f++) four.push(f, { areaMm2: s.areaMm2 / 10, lengthMm: s.lengthMm });
  t.equal(four.result().frames, 0);
  t.match(four.result().reason, /^4 frames in a row without a usable LV measurement \(at most 3 are bridged\); the last at frame 43: LV volume \d+\.\d ml after \d+\.\d ml \(more than a factor 2 per frame over 4 frames\)$/);
});

t.test('EF window: the step rule allows a factor maxStep per frame of a gap, over at most maxSkip + 1 frames', async (t) => {
  // stepFrames(seq difference, frames bridged since the last volume, maxSkip): the larger of the difference and the
  // bridged frames plus one, at least 1, at most maxSkip + 1; a counter that went backwards counts the bridged frames.
  t.same([stepFrames(1, 0, 3), stepFrames(2, 1, 3), stepFrames(9, 0, 3), stepFrames(1, 2, 3), stepFrames(-7, 1, 3),
    stepFrames(Number.NaN, 0, 3), stepFrames(Number.POSITIVE_INFINITY, 0, 3), stepFrames(3, 0, 0)], [1, 2, 4, 3, 2, 1, 4, 1]);
  const of = (v: number): AreaLength => ({ areaMm2: Math.sqrt((v * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM });
  // Ten frames of 40 ml, `bridged` frames without an LV, then one volume at frame 10 + bridged + dropped (frames a busy
  // scheduler dropped never reach the window): kept (11 samples) or refused (10).
  const after = (v: number, bridged: number, dropped = 0): number => {
    const ef = new EjectionFraction();
    for (let f = 0; f < 10; f++) ef.push(f, of(40));
    for (let f = 10; f < 10 + bridged; f++) ef.skip(f, 'no LV');
    ef.push(10 + bridged + dropped, of(v));
    return ef.result().frames;
  };
  const cases: Array<[number, number, number, number]> = [
    // [volume, bridged, dropped, samples]: the bar is 40 x 2^g (and 40 / 2^g) for g = 1, 2, 3, 4
    [79, 0, 0, 11], [81, 0, 0, 10], [159, 1, 0, 11], [161, 1, 0, 10], [319, 2, 0, 11], [321, 2, 0, 10],
    [639, 3, 0, 11], [641, 3, 0, 0], // refused after 3 bridged: the 4th in a row empties the window
    [10.1, 1, 0, 11], [9.9, 1, 0, 10],
    [319, 0, 2, 11], [321, 0, 2, 10], [639, 0, 10, 11], [641, 0, 10, 10],
  ];
  for (const [v, bridged, dropped, n] of cases) t.equal(after(v, bridged, dropped), n, `${v} ml after ${bridged} bridged and ${dropped} dropped frames`);
  // The rule's own refusals count as bridged frames: four in a row empty the window, the last judged over 4 frames.
  const four = new EjectionFraction();
  for (let f = 0; f < 10; f++) four.push(f, of(40));
  for (let f = 10; f < 14; f++) four.push(f, of(1000));
  t.same(four.result().frames, 0);
  t.equal(four.result().reason, '4 frames in a row without a usable LV measurement (at most 3 are bridged); the last at frame 13: LV volume 1000.0 ml after 40.0 ml (more than a factor 2 per frame over 4 frames)');
  // The trade-off the thirty-eighth wave chose (its tie-break): a volume that jumps more than twice in one frame in
  // rapid filling is refused, and the next one, within 2^2 of the last volume over two frames, is measured...
  const jump = new EjectionFraction({ minFrames: 1, range: [0, 100] });
  [20, 20, 45, 50, 52].forEach((v, f) => jump.push(f, of(v)));
  t.equal(jump.result().frames, 4, '45 refused, 50 and 52 measured');
  // ...and so a cavity lost for three frames (0.4 of the volume) is refused on its first frame and measured from its
  // second (an EF of about 60% from a heart at 60-62 ml), as a scanner's own artefact would be.
  const lasting = new EjectionFraction({ minFrames: 1, range: [0, 100] });
  [60, 62, 61, 60, 25, 25, 25, 60, 61].forEach((v, f) => lasting.push(f, of(v)));
  t.same([lasting.result().frames, Math.round(lasting.result().ef)], [7, 60]);
  // A one-frame dropout in rapid filling: the frame after it is measured (before the thirty-eighth wave the next
  // three volumes were refused against the last one before the gap, and the fourth emptied the window).
  const rising = new EjectionFraction();
  const filling = [20, 30, 45, 70, 100, 120, 125, 126];
  filling.forEach((v, f) => (f === 3 ? rising.skip(f, 'no LV') : rising.push(f, of(v))));
  t.equal(rising.result().frames, filling.length - 1, 'every volume but the missing one');
});

t.test('EF window: the step rule gives the shared cases\' counts (the harness\'s mirror is held to the same file)', async (t) => {
  const { readFileSync } = await import('node:fs');
  const fixture = JSON.parse(readFileSync(new URL('../fixtures/postprocess/ef-step-rule.json', import.meta.url), 'utf8')) as {
    cases: Array<{ name: string; volumes: Array<number | null>; kept: number }>;
  };
  t.equal(fixture.cases.length, 12);
  const of = (v: number): AreaLength => ({ areaMm2: Math.sqrt((v * 1000 * 3 * Math.PI * L_MM) / 8), lengthMm: L_MM });
  for (const c of fixture.cases) {
    const ef = new EjectionFraction();
    c.volumes.forEach((v, f) => (v === null ? ef.skip(f, 'no LV') : ef.push(f, of(v))));
    t.equal(ef.result().frames, c.kept, c.name);
  }
});

t.test('EF window: a volume that is not a finite number is bridged like a frame without an LV, never measured', async (t) => {
  const ref = new EjectionFraction();
  const ef = new EjectionFraction();
  for (let f = 0; f < 150; f++) {
    ref.push(f, f === 140 ? undefined : sample(f));
    ef.push(f, f === 140 ? { areaMm2: Number.NaN, lengthMm: L_MM } : sample(f));
  }
  t.same([ef.result().ef, ef.result().frames, ef.result().valid], [ref.result().ef, ref.result().frames, true]);
  t.ok(Number.isFinite(ef.result().ef), `EF ${ef.result().ef}`);
  // Four in a row empty the window and say why.
  const four = new EjectionFraction();
  for (let f = 0; f < 20; f++) four.push(f, sample(f));
  for (let f = 20; f < 24; f++) four.push(f, { areaMm2: 2000, lengthMm: Number.NaN });
  t.equal(four.result().reason, '4 frames in a row without a usable LV measurement (at most 3 are bridged); the last at frame 23: LV volume NaN ml (area 2000 mm2, length NaN mm)');
});

t.test('EF quality is low while an uncertain frame is in the window', async (t) => {
  const ef = new EjectionFraction();
  for (let f = 0; f < 150; f++) ef.push(f, sample(f), { uncertain: f === 140 });
  t.same([ef.result().valid, ef.result().quality, ef.result().uncertainFrames, ef.result().qualityReason],
    [true, 'low', 1, '1 uncertain frame in the window']);
});

t.test('EF quality is low while a frame measured under the quality bar is in the window', async (t) => {
  const run = (belowGate: (f: number) => boolean, frames: number): EjectionFraction => {
    const ef = new EjectionFraction();
    for (let f = 0; f < frames; f++) ef.push(f, sample(f), { belowGate: belowGate(f) });
    return ef;
  };
  const ok = run(() => false, 150).result();
  t.same([ok.valid, ok.method, ok.quality, ok.qualityReason], [true, 'beats', 'ok', undefined]);
  const low = run((f) => f === 140 || f === 141, 150).result();
  t.same([low.valid, low.quality, low.qualityReason, low.ef], [true, 'low', '2 frames under the quality bar in the window', ok.ef]);
  // The two frames leave the 128-frame window one after the other, and the quality is ok again.
  const leaving = run((f) => f === 140 || f === 141, 269).result();
  t.same([leaving.quality, leaving.qualityReason], ['low', '1 frame under the quality bar in the window']);
  const left = run((f) => f === 140 || f === 141, 270).result();
  t.same([left.quality, left.qualityReason], ['ok', undefined]);
});

t.test('the view state: uncertain at once under the threshold, ok after 5 frames at or above it; the worse state wins', async (t) => {
  t.equal(viewState(undefined), undefined, 'no threshold: no view state');
  const v = viewState(0.8)!;
  // Fed the averaged probability as it is (no second average).
  const seq = [0.9, 0.79, 0.9, 0.8, 0.9, 0.9, 0.85, 0.5, 0.81, Number.NaN];
  t.same(seq.map((p) => { const u = v.update(p); return [u.smoothed, u.shown]; }), [
    [0.9, 'ok'], [0.79, 'uncertain'], [0.9, 'uncertain'], [0.8, 'uncertain'], [0.9, 'uncertain'], [0.9, 'uncertain'],
    [0.85, 'ok'], [0.5, 'uncertain'], [0.81, 'uncertain'], [0, 'uncertain'],
  ]);
  t.same([['ok', 'ok'], ['ok', 'uncertain'], ['uncertain', 'ok'], ['unknown', 'uncertain'], ['uncertain', 'unknown'], ['ok', 'unknown']]
    .map(([a, b]) => worseState(a as ResultState, b as ResultState)), ['ok', 'uncertain', 'uncertain', 'unknown', 'unknown', 'unknown']);
});

t.test('in-distribution state: thresholds per frame; the shown state worsens at once and recovers after 5 frames', async (t) => {
  const th = { ok: 0.7, unknown: 0.4 };
  t.same([0.9, 0.7, 0.69, 0.4, 0.39, Number.NaN].map((s) => frameState(s, th)), ['ok', 'ok', 'uncertain', 'uncertain', 'unknown', 'unknown']);
  const s = new InDistributionState(th, { alpha: 1, hold: 5 });
  const shown = [0.9, 0.2, 0.9, 0.9, 0.9, 0.9, 0.5, 0.9, 0.9, 0.9, 0.9, 0.9].map((x) => s.update(x).shown);
  t.same(shown, ['ok', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'uncertain', 'uncertain', 'uncertain', 'uncertain', 'uncertain', 'ok']);
  // Smoothing like the quality: an exponential moving average (alpha 0.3 by default); scores clamp to [0, 1].
  const d = new InDistributionState(th);
  t.same(d.update(1.5), { score: 1, smoothed: 1, frame: 'ok', shown: 'ok' });
  const u = d.update(0);
  t.ok(near(u.smoothed, 0.7, 1e-15) && u.frame === 'unknown' && u.shown === 'ok', `one bad frame: ${JSON.stringify(u)}`);
  t.equal(d.update(0).shown, 'uncertain', 'two: smoothed 0.49');
  t.throws(() => new InDistributionState({ ok: 0.3, unknown: 0.5 }), { name: 'RangeError', message: 'Expected id_score thresholds with 0 <= unknown <= ok <= 1 but received unknown 0.5, ok 0.3' });
});
