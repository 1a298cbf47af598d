// resolveOptions: defaults and every bad option, with exact error classes,
// codes and messages. No native code involved.
import t from 'tap';
import { resolveOptions, type PreprocessOptions } from '../../src/preprocess/options.js';

const base = (): PreprocessOptions => ({
  input: { width: 640, height: 480, format: 'GRAY8' },
  output: { width: 128, height: 128 },
});

t.test('defaults are filled in', async (t) => {
  t.same(resolveOptions(base()), {
    width: 640, height: 480, stride: 640, uvOffset: 0, format: 0, yuvRange: 0, yuvMatrix: 0,
    roi: { x: 0, y: 0, width: 640, height: 480 }, scanConvert: false,
    sector: { angleStart: 0, angleEnd: 0, depthStart: 0, depthEnd: 0 },
    outWidth: 128, outHeight: 128, channels: 1, channelOrder: 0, resize: 1, letterbox: false, padValue: 0,
    alpha: [1 / 255, 1 / 255, 1 / 255], beta: [0, 0, 0], dtype: 0, layout: 0, batchSize: 1, simd: 0,
  });
});

t.test('stride, NV12 plane offset and GRAY16 scale resolve', async (t) => {
  const nv12 = resolveOptions({ ...base(), input: { width: 640, height: 480, format: 'NV12', stride: 704 } });
  t.equal(nv12.stride, 704);
  t.equal(nv12.uvOffset, 704 * 480);
  const rgb = resolveOptions({ ...base(), input: { width: 640, height: 480, format: 'RGB8' } });
  t.equal(rgb.stride, 1920);
  const g16 = resolveOptions({ ...base(), input: { width: 640, height: 480, format: 'GRAY16' } });
  t.equal(g16.stride, 1280);
  t.same(g16.alpha, [1 / 65535, 1 / 65535, 1 / 65535]);
});

t.test('mean/std and scale/offset map to alpha and beta', async (t) => {
  const r = resolveOptions({ ...base(), output: { width: 8, height: 8, channels: 3 },
    normalize: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], scale: 1 / 255 } });
  t.same(r.alpha, [1 / 255 / 0.229, 1 / 255 / 0.224, 1 / 255 / 0.225]);
  t.same(r.beta, [-0.485 / 0.229, -0.456 / 0.224, -0.406 / 0.225]);
  const s = resolveOptions({ ...base(), normalize: { scale: 2, offset: -1 } });
  t.same(s.alpha, [2, 2, 2]);
  t.same(s.beta, [-1, -1, -1]);
});

const bad: Array<[string, (o: any) => void, string, string, string]> = [
  ['unknown top-level option', (o) => { o.letterBox = true; }, 'TypeError', 'ERR_SONOEDGE_UNKNOWN_OPTION',
    'Unknown option options.letterBox; did you mean options.letterbox? (known: input, output, roi, scanConversion, resize, letterbox, padValue, normalize, simd)'],
  ['negative width', (o) => { o.input.width = -3; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected integer between 1 and 16384 for input.width but received -3 of type number'],
  ['zero height', (o) => { o.input.height = 0; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected integer between 1 and 16384 for input.height but received 0 of type number'],
  ['huge output', (o) => { o.output.width = 16385; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected integer between 1 and 16384 for output.width but received 16385 of type number'],
  ['string width', (o) => { o.input.width = '640'; }, 'TypeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected integer between 1 and 16384 for input.width but received "640" of type string'],
  ['NaN width', (o) => { o.input.width = NaN; }, 'TypeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected integer between 1 and 16384 for input.width but received NaN of type number'],
  ['unknown pixel format', (o) => { o.input.format = 'GREY8'; }, 'RangeError', 'ERR_SONOEDGE_PIXEL_FORMAT',
    'Expected one of GRAY8, GRAY16, RGB8, BGR8, RGBA8, BGRA8, YUYV, NV12 for input.format but received "GREY8" of type string; did you mean "GRAY8"?'],
  ['pixel format not a string', (o) => { o.input.format = 0; }, 'TypeError', 'ERR_SONOEDGE_PIXEL_FORMAT',
    'Expected one of GRAY8, GRAY16, RGB8, BGR8, RGBA8, BGRA8, YUYV, NV12 for input.format but received 0 of type number'],
  ['stride smaller than a row', (o) => { o.input.format = 'RGB8'; o.input.stride = 1000; }, 'RangeError', 'ERR_SONOEDGE_STRIDE',
    'Expected integer between 1920 (one 640-pixel RGB8 row) and 262144 for input.stride but received 1000 of type number'],
  ['unknown YUV matrix', (o) => { o.input = { width: 640, height: 480, format: 'NV12', yuvMatrix: 'bt2020' }; }, 'RangeError', 'ERR_SONOEDGE_PLAN_OPTION',
    'Expected one of bt601, bt709 for input.yuvMatrix but received "bt2020" of type string'],
  ['odd YUYV width', (o) => { o.input = { width: 641, height: 480, format: 'YUYV' }; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected even width for YUYV for input.width but received 641 of type number'],
  ['odd NV12 height', (o) => { o.input = { width: 640, height: 481, format: 'NV12' }; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected even height for NV12 for input.height but received 481 of type number'],
  ['uvOffset on a non-NV12 format', (o) => { o.input.uvOffset = 10; }, 'RangeError', 'ERR_SONOEDGE_PLAN_OPTION',
    'Expected no uvOffset (only NV12 has a UV plane) for input.uvOffset but received 10 of type number'],
  ['ROI outside the frame', (o) => { o.roi = { x: 600, y: 0, width: 100, height: 480 }; }, 'RangeError', 'ERR_SONOEDGE_ROI',
    'Expected roi inside the 640x480 frame but received roi {x: 600, y: 0, width: 100, height: 480}'],
  ['ROI with a fractional corner', (o) => { o.roi = { x: 1.5, y: 0, width: 100, height: 100 }; }, 'TypeError', 'ERR_SONOEDGE_ROI',
    'Expected integer for roi.x but received 1.5 of type number'],
  ['NaN mean', (o) => { o.normalize = { mean: NaN, std: 1 }; }, 'RangeError', 'ERR_SONOEDGE_NORMALIZE',
    'Expected finite number for normalize.mean but received NaN of type number'],
  ['zero std', (o) => { o.normalize = { mean: 0.5, std: 0 }; }, 'RangeError', 'ERR_SONOEDGE_NORMALIZE',
    'Expected non-zero number for normalize.std but received 0 of type number'],
  ['std with the wrong channel count', (o) => { o.output.channels = 3; o.normalize = { mean: 0, std: [1, 2] }; }, 'RangeError', 'ERR_SONOEDGE_NORMALIZE',
    'Expected a number or an array of 3 numbers for normalize.std but received array of length 2'],
  ['offset together with mean', (o) => { o.normalize = { mean: 0, std: 1, offset: 2 }; }, 'RangeError', 'ERR_SONOEDGE_NORMALIZE',
    'Expected either offset or mean and std, not both for normalize.offset but received 2 of type number'],
  ['infinite scale', (o) => { o.normalize = { scale: Infinity }; }, 'RangeError', 'ERR_SONOEDGE_NORMALIZE',
    'Expected finite number for normalize.scale but received Infinity of type number'],
  ['two channels', (o) => { o.output.channels = 2; }, 'RangeError', 'ERR_SONOEDGE_PLAN_OPTION',
    'Expected 1 or 3 for output.channels but received 2 of type number'],
  ['unknown dtype', (o) => { o.output.dtype = 'float64'; }, 'RangeError', 'ERR_SONOEDGE_PLAN_OPTION',
    'Expected one of float32, float16, uint8, int8 for output.dtype but received "float64" of type string; did you mean "float32"?'],
  ['unknown resize mode', (o) => { o.resize = 'cubic'; }, 'RangeError', 'ERR_SONOEDGE_PLAN_OPTION',
    'Expected one of nearest, bilinear, area for resize but received "cubic" of type string'],
  ['batch size too large', (o) => { o.output.batchSize = 2000; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected integer between 1 and 1024 for output.batchSize but received 2000 of type number'],
  ['tensor too large', (o) => { o.output = { width: 16384, height: 16384, channels: 3, batchSize: 4 }; }, 'RangeError', 'ERR_SONOEDGE_DIMENSION',
    'Expected an output of at most 1073741824 elements but received 4x3x16384x16384 = 3221225472'],
  ['sector angles reversed', (o) => { o.scanConversion = { angleStart: 0.5, angleEnd: -0.5, depthStart: 0, depthEnd: 100 }; }, 'RangeError', 'ERR_SONOEDGE_SECTOR',
    'Expected -pi/2 < scanConversion.angleStart < scanConversion.angleEnd < pi/2 but received angleStart 0.5, angleEnd -0.5'],
  ['sector depth negative', (o) => { o.scanConversion = { angleStart: -0.5, angleEnd: 0.5, depthStart: -1, depthEnd: 100 }; }, 'RangeError', 'ERR_SONOEDGE_SECTOR',
    'Expected 0 <= scanConversion.depthStart < scanConversion.depthEnd but received depthStart -1, depthEnd 100'],
  ['sector angle NaN', (o) => { o.scanConversion = { angleStart: NaN, angleEnd: 0.5, depthStart: 0, depthEnd: 100 }; }, 'RangeError', 'ERR_SONOEDGE_SECTOR',
    'Expected finite number for scanConversion.angleStart but received NaN of type number'],
  ['letterbox not boolean', (o) => { o.letterbox = 'yes'; }, 'TypeError', 'ERR_SONOEDGE_PLAN_OPTION',
    'Expected boolean for letterbox but received "yes" of type string'],
  ['misspelt output key', (o) => { o.output.chanels = 3; }, 'TypeError', 'ERR_SONOEDGE_UNKNOWN_OPTION',
    'Unknown option output.chanels; did you mean output.channels? (known: width, height, channels, channelOrder, dtype, layout, batchSize)'],
];

for (const [what, mutate, name, code, message] of bad) {
  t.test(`rejects ${what}`, async (t) => {
    const o = base() as any;
    mutate(o);
    t.throws(() => resolveOptions(o), { name, code, message });
  });
}
