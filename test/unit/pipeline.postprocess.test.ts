// Post-processing on masks and curves of known geometry.
import t from 'tap';
import {
  argmaxIndex, softmax, topK, MaskAnalyzer, simplifyPolygon, areaLength, areaLengthVolumeMl,
  EjectionFraction, ClassSmoother, ScoreHysteresis,
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
  t.ok(near(areaLengthVolumeMl(1000, 80), (8 * 1000 * 1000) / (3 * Math.PI * 80) / 1000, 1e-12));
  t.equal(areaLengthVolumeMl(1000, 0), 0);
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
  short.push(5, undefined);
  t.same({ valid: short.result().valid, reason: short.result().reason }, { valid: false, reason: 'a frame had no LV mask' });

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

t.test('ScoreHysteresis has separate enter and exit thresholds', async (t) => {
  const q = new ScoreHysteresis({ alpha: 1, enter: 0.6, exit: 0.5 });
  t.same([0.55, 0.61, 0.55, 0.49, 0.55].map((v) => q.update(v).good), [false, true, true, false, false]);
  t.throws(() => new ScoreHysteresis({ enter: 0.4, exit: 0.5 }), { name: 'RangeError', message: 'Expected exit <= enter for the quality thresholds but received exit 0.5, enter 0.4' });
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
