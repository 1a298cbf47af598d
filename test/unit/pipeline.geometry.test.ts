// Model-pixel spacing and the model-to-frame map (src/pipeline/index.ts modelPixelGeometry), hand-computed from
// docs/PREPROCESSING.md sections 4-5 and checked against where the native preprocessor puts the content.
import t from 'tap';
import { modelPixelGeometry } from '../../src/pipeline/index.js';
import { Preprocessor, type PreprocessOptions } from '../../src/preprocess/index.js';

const near = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= 1e-9);
// The resolved preprocessing plan of a 112x112 model input (what ModelRunner passes).
const plan = (o: Omit<PreprocessOptions, 'output'>) => new Preprocessor({ ...o, output: { width: 112, height: 112 } }).options;

t.test('Cartesian frames: ROI over the output, or over the letterboxed content box', async (t) => {
  const geometry = { input: { width: 1024, height: 768, format: 'GRAY8' as const }, pixelSpacingMm: 0.3 };
  const roi = { x: 128, y: 8, width: 768, height: 740 };
  const plain = modelPixelGeometry(geometry.pixelSpacingMm, plan({ input: geometry.input, roi }));
  t.ok(near(plain.spacing, [0.3 * 768 / 112, 0.3 * 740 / 112]), `${plain.spacing}`);
  t.ok(near(plain.toFrame!, [128 + 0.5 * 768 / 112 - 0.5, 768 / 112, 8 + 0.5 * 740 / 112 - 0.5, 740 / 112]));
  // letterbox: k = 112/768, cw = 112, ch = round(740 * 112/768) = 108, oy = 2
  const boxed = modelPixelGeometry([0.3, 0.4], plan({ input: geometry.input, roi, letterbox: true }));
  t.ok(near(boxed.spacing, [0.3 * 768 / 112, 0.4 * 740 / 108]), `${boxed.spacing}`);
  t.ok(near(boxed.toFrame!, [128 + 0.5 * 768 / 112 - 0.5, 768 / 112, 8 + (0.5 - 2) * 740 / 108 - 0.5, 740 / 108]));
});

t.test('scan-converted frames: the sector bounding box in mm, letterboxed when the package says so', async (t) => {
  const scanConversion = { angleStart: -0.6, angleEnd: 0.6, depthStart: 0, depthEnd: 100 };
  const geometry = { input: { width: 64, height: 128, format: 'GRAY8' as const }, pixelSpacingMm: 1, scanConversion };
  const aw = 200 * Math.sin(0.6); // 112.93 mm wide, 100 mm deep
  const plain = modelPixelGeometry(1, plan({ input: geometry.input, scanConversion }));
  t.ok(near(plain.spacing, [aw / 112, 100 / 112]), `${plain.spacing}`);
  t.equal(plain.toFrame, undefined, 'polar frames have no pixel map');
  // letterbox: k = 112/aw, cw = 112, ch = round(100 * 112/aw) = 99, oy = 6 (it used to ignore the letterbox: 100/112)
  const boxed = modelPixelGeometry(1, plan({ input: geometry.input, scanConversion, letterbox: true }));
  t.ok(near(boxed.spacing, [aw / 112, 100 / 99]), `${boxed.spacing}`);

  // The native preprocessor agrees: with letterbox the sector's deepest row is row oy + ch - 1 = 104.
  const lastContentRow = (letterbox: boolean) => {
    const pre = new Preprocessor({ input: geometry.input, scanConversion, output: { width: 112, height: 112 }, resize: 'bilinear', letterbox, padValue: 0 });
    const out = pre.run(new Uint8Array(64 * 128).fill(200), pre.createOutput());
    let last = -1;
    for (let y = 0; y < 112; y++) for (let x = 0; x < 112; x++) if (out[y * 112 + x] > 0) last = y;
    return last;
  };
  t.equal(lastContentRow(true), 6 + 99 - 1);
  t.equal(lastContentRow(false), 111);
});

t.test('a pixel spacing out of range is refused with the code and the name, as the socket and replay refuse it', async (t) => {
  const p = plan({ input: { width: 256, height: 256, format: 'GRAY8' } });
  const expected = 'Expected millimetres per pixel in [0.000001, 1000] for';
  const cases: Array<[number | [number, number], string]> = [
    [Number.NaN, 'geometry.pixelSpacingMm but received NaN of type number'], [0, 'geometry.pixelSpacingMm but received 0 of type number'],
    [-0.3, 'geometry.pixelSpacingMm but received -0.3 of type number'], [1001, 'geometry.pixelSpacingMm but received 1001 of type number'],
    [[0.3, Number.POSITIVE_INFINITY], 'geometry.pixelSpacingMm[1] but received Infinity of type number'],
    [[0, 0.3], 'geometry.pixelSpacingMm[0] but received 0 of type number'],
  ];
  for (const [bad, received] of cases) {
    t.throws(() => modelPixelGeometry(bad, p), { name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION', message: `${expected} ${received}` }, received);
  }
  const edge = modelPixelGeometry([1e-6, 1000], p).spacing;
  t.ok(near(edge, [1e-6 * 256 / 112, 1000 * 256 / 112]), `the bounds are allowed: ${edge}`);
  // A scan-converted frame's spacing comes from its sector, so the given one is not used nor judged.
  const scanConversion = { angleStart: -0.6, angleEnd: 0.6, depthStart: 0, depthEnd: 100 };
  t.equal(modelPixelGeometry(Number.NaN, plan({ input: { width: 64, height: 128, format: 'GRAY8' }, scanConversion })).toFrame, undefined);
});
