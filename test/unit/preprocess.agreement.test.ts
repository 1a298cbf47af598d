// Native plans against the TypeScript reference (the definition in
// docs/PREPROCESSING.md) for every pixel format, operation, dtype and layout,
// on the portable kernels and on the best SIMD kernels of this CPU.
// Tolerance: 1e-5 relative to max(1, |ref|) for float32; for float16 one
// binary16 ULP (a float32 rounding difference may flip a half rounding) or the
// float32 tolerance, whichever is larger; 1 LSB for uint8 and int8.
import t, { type Test } from 'tap';
import { Preprocessor, bestSimdLevel, type PreprocessOptions, type OutputArray, type PixelFormatName, type DTypeName, type LayoutName, type ResizeModeName } from '../../src/preprocess/index.js';
import { preprocessReference, float16BitsToNumber } from '../../src/preprocess/reference.js';
import { randomBytes } from '../../src/frame/synthetic.js';

const FORMATS: PixelFormatName[] = ['GRAY8', 'GRAY16', 'RGB8', 'BGR8', 'RGBA8', 'BGRA8', 'YUYV', 'NV12'];
const DTYPES: DTypeName[] = ['float32', 'float16', 'uint8', 'int8'];
const LAYOUTS: LayoutName[] = ['NCHW', 'NHWC'];
const MODES: ResizeModeName[] = ['nearest', 'bilinear', 'area'];
const SIMD = bestSimdLevel() === 'scalar' ? (['scalar'] as const) : (['scalar', bestSimdLevel()] as const);
const BPP: Record<PixelFormatName, number> = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 };

export function frameFor(o: PreprocessOptions, seed: number): Uint8Array {
  const { width, height, format } = o.input;
  const stride = o.input.stride ?? width * BPP[format];
  if (format === 'NV12') return randomBytes((o.input.uvOffset ?? stride * height) + stride * (height / 2) + 3, seed);
  return randomBytes(stride * height + 3, seed);
}

/** Largest disagreement, in units of the tolerance (<= 1 passes). */
export function worst(dtype: DTypeName, a: OutputArray, b: OutputArray): { ratio: number; at: number } {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    let r: number;
    if (dtype === 'float32') r = Math.abs(x - y) / (1e-5 * Math.max(1, Math.abs(y)));
    else if (dtype === 'float16') {
      // 1 binary16 ULP, or the float32 tolerance where cancellation near zero
      // leaves float32 rounding noise that spans several tiny half ULPs.
      const fx = float16BitsToNumber(x);
      const fy = float16BitsToNumber(y);
      r = Math.abs(x - y) <= 1 || fx === fy ? 0 : Math.abs(fx - fy) / (1e-5 * Math.max(1, Math.abs(fy)));
    } else r = Math.abs(x - y);
    if (r > ratio || Number.isNaN(r)) {
      ratio = Number.isNaN(r) ? Infinity : r;
      at = i;
    }
  }
  return { ratio, at };
}

function check(t: Test, label: string, opts: PreprocessOptions, seed: number, batchIndex = 0): void {
  const frame = frameFor(opts, seed);
  for (const simd of SIMD) {
    const pre = new Preprocessor({ ...opts, simd });
    const got = pre.createOutput();
    const want = pre.createOutput();
    got.fill(7);
    want.fill(7);
    pre.run(frame, got, batchIndex);
    preprocessReference(pre.options, frame, want, batchIndex);
    const w = worst(pre.dtype, got, want);
    if (w.ratio > 1) {
      t.fail(`${label} [${simd}]: element ${w.at} native ${got[w.at]} reference ${want[w.at]}`);
    } else {
      t.pass(`${label} [${simd}]`);
    }
  }
}

t.test('every format x channels x resize mode x dtype x layout', async (t) => {
  let seed = 1;
  for (const format of FORMATS) {
    await t.test(format, async (t) => {
      for (const channels of [1, 3] as const) {
        for (const resize of MODES) {
          for (const dtype of DTYPES) {
            for (const layout of LAYOUTS) {
              const stride = (format === 'NV12' ? 38 : 38 * BPP[format]) + 5;
              check(t, `${channels}ch ${resize} ${dtype} ${layout}`, {
                input: { width: 38, height: 30, format, stride },
                output: { width: 17, height: 13, channels, dtype, layout },
                resize,
                normalize: dtype === 'float32' || dtype === 'float16'
                  ? { mean: [0.4, 0.5, 0.6].slice(0, channels), std: [0.2, 0.25, 0.3].slice(0, channels), scale: format === 'GRAY16' ? 1 / 65535 : 1 / 255 }
                  : { scale: format === 'GRAY16' ? 1 / 200 : 1, offset: dtype === 'int8' ? -128 : 0 },
              }, seed++);
            }
          }
        }
      }
    });
  }
});

t.test('ROI, letterbox, upscaling, batch slots, channel order, YUV range', async (t) => {
  const cases: Array<[string, PreprocessOptions, number]> = [
    ['roi + area downscale', { input: { width: 64, height: 48, format: 'GRAY8' }, roi: { x: 5, y: 7, width: 40, height: 33 }, output: { width: 10, height: 11 }, resize: 'area' }, 0],
    ['letterbox wide source', { input: { width: 80, height: 30, format: 'RGB8' }, output: { width: 32, height: 32, channels: 3 }, resize: 'bilinear', letterbox: true, padValue: 114 }, 0],
    ['letterbox tall source', { input: { width: 30, height: 80, format: 'GRAY8' }, output: { width: 32, height: 24 }, resize: 'area', letterbox: true, padValue: 9 }, 0],
    ['upscale bilinear', { input: { width: 9, height: 7, format: 'GRAY16' }, output: { width: 31, height: 23 }, resize: 'bilinear' }, 0],
    ['upscale area', { input: { width: 9, height: 7, format: 'BGRA8' }, output: { width: 31, height: 23, channels: 3, channelOrder: 'bgr' }, resize: 'area' }, 0],
    ['upscale nearest', { input: { width: 10, height: 7, format: 'YUYV' }, output: { width: 31, height: 23, channels: 3 }, resize: 'nearest' }, 0],
    ['batch slot 2 of 3, NHWC', { input: { width: 40, height: 30, format: 'RGB8' }, output: { width: 16, height: 16, channels: 3, layout: 'NHWC', batchSize: 3 }, resize: 'area' }, 2],
    ['batch slot 1 of 2, NCHW uint8', { input: { width: 40, height: 30, format: 'GRAY8' }, output: { width: 16, height: 16, dtype: 'uint8', batchSize: 2 }, normalize: { scale: 1 }, resize: 'bilinear' }, 1],
    ['YUYV full range', { input: { width: 40, height: 30, format: 'YUYV', yuvRange: 'full' }, output: { width: 20, height: 15, channels: 3 }, resize: 'area' }, 0],
    ['YUYV BT.709 limited range', { input: { width: 40, height: 30, format: 'YUYV', yuvMatrix: 'bt709' }, output: { width: 20, height: 15, channels: 3 }, resize: 'area' }, 0],
    ['NV12 BT.709 full range', { input: { width: 40, height: 30, format: 'NV12', yuvRange: 'full', yuvMatrix: 'bt709' }, output: { width: 16, height: 10, channels: 3 }, resize: 'bilinear' }, 0],
    ['NV12 full range gray', { input: { width: 40, height: 30, format: 'NV12', yuvRange: 'full' }, output: { width: 20, height: 15 }, resize: 'bilinear' }, 0],
    ['NV12 with a gap before the UV plane', { input: { width: 40, height: 30, format: 'NV12', stride: 48, uvOffset: 48 * 30 + 96 }, output: { width: 20, height: 15, channels: 3 }, resize: 'area' }, 0],
    ['identity size', { input: { width: 24, height: 16, format: 'GRAY8' }, output: { width: 24, height: 16 }, resize: 'bilinear' }, 0],
    ['1x1 output', { input: { width: 24, height: 16, format: 'RGBA8' }, output: { width: 1, height: 1 }, resize: 'area' }, 0],
    ['1x1 input', { input: { width: 1, height: 1, format: 'GRAY8' }, output: { width: 5, height: 3 }, resize: 'bilinear' }, 0],
    ['uint8 saturation', { input: { width: 20, height: 20, format: 'GRAY8' }, output: { width: 10, height: 10, dtype: 'uint8' }, normalize: { scale: 3, offset: -100 }, resize: 'area' }, 0],
    ['int8 saturation', { input: { width: 20, height: 20, format: 'GRAY8' }, output: { width: 10, height: 10, dtype: 'int8' }, normalize: { scale: 2, offset: -200 }, resize: 'area' }, 0],
    ['float16 overflow to infinity', { input: { width: 20, height: 20, format: 'GRAY8' }, output: { width: 10, height: 10, dtype: 'float16' }, normalize: { scale: 1000 }, resize: 'area' }, 0],
  ];
  let seed = 1000;
  for (const [label, opts, slot] of cases) check(t, label, opts, seed++, slot);
});

t.test('scan conversion of polar data', async (t) => {
  const sector = { angleStart: -0.6, angleEnd: 0.6, depthStart: 5, depthEnd: 120 };
  let seed = 2000;
  for (const resize of MODES) {
    for (const letterbox of [false, true]) {
      check(t, `${resize} letterbox=${letterbox}`, {
        input: { width: 64, height: 200, format: 'GRAY8' },
        scanConversion: sector,
        output: { width: 48, height: 40 },
        resize, letterbox, padValue: 3,
      }, seed++);
    }
  }
  check(t, 'asymmetric sector with roi, RGB to 3 channels', {
    input: { width: 80, height: 220, format: 'RGB8' },
    roi: { x: 8, y: 10, width: 64, height: 200 },
    scanConversion: { angleStart: 0.1, angleEnd: 0.9, depthStart: 0, depthEnd: 80 },
    output: { width: 30, height: 30, channels: 3, layout: 'NHWC' },
    resize: 'bilinear',
  }, seed++);
});

t.test('hand-computed expectations', async (t) => {
  // 4x4 -> 2x2 area: each output is the mean of its 2x2 block.
  const frame = Uint8Array.from([0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150]);
  const area = new Preprocessor({ input: { width: 4, height: 4, format: 'GRAY8' }, output: { width: 2, height: 2 }, resize: 'area', normalize: { scale: 1 } });
  t.same(Array.from(area.run(frame, area.createOutput())), [25, 45, 105, 125]);
  // nearest picks the pixel under each output pixel's centre.
  const near = new Preprocessor({ input: { width: 4, height: 4, format: 'GRAY8' }, output: { width: 2, height: 2 }, resize: 'nearest', normalize: { scale: 1 } });
  t.same(Array.from(near.run(frame, near.createOutput())), [50, 70, 130, 150]);
  // bilinear at exact factor 2 averages the 2x2 block around each centre.
  const bil = new Preprocessor({ input: { width: 4, height: 4, format: 'GRAY8' }, output: { width: 2, height: 2 }, resize: 'bilinear', normalize: { scale: 1 } });
  t.same(Array.from(bil.run(frame, bil.createOutput())), [25, 45, 105, 125]);
  // RGB to luma: 0.299 R + 0.587 G + 0.114 B, then uint8 rounding.
  const rgb = new Preprocessor({ input: { width: 1, height: 1, format: 'RGB8' }, output: { width: 1, height: 1, dtype: 'uint8' }, normalize: { scale: 1 } });
  t.same(Array.from(rgb.run(Uint8Array.from([200, 100, 50]), rgb.createOutput())), [124]); // 59.8 + 58.7 + 5.7 = 124.2
  // letterbox: a 4x2 frame in a 4x4 output keeps rows 1-2, pads rows 0 and 3.
  const lb = new Preprocessor({ input: { width: 4, height: 2, format: 'GRAY8' }, output: { width: 4, height: 4 }, resize: 'nearest', letterbox: true, padValue: 9, normalize: { scale: 1 } });
  t.same(Array.from(lb.run(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]), lb.createOutput())), [9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9]);
  // GRAY8 to three channels NHWC replicates the value.
  const g3 = new Preprocessor({ input: { width: 2, height: 1, format: 'GRAY8' }, output: { width: 2, height: 1, channels: 3, layout: 'NHWC', dtype: 'uint8' }, normalize: { scale: 1 } });
  t.same(Array.from(g3.run(Uint8Array.from([10, 20]), g3.createOutput())), [10, 10, 10, 20, 20, 20]);
});
