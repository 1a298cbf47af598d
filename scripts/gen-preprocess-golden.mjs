#!/usr/bin/env node
// Writes golden preprocessing vectors computed by the TypeScript reference
// (src/preprocess/reference.ts) for the C++ core tests, which check every
// kernel path against them natively and under qemu-aarch64, where no Node.js
// runs. One case per line group, plain text:
//   case <name>
//   opts <33 numbers: the PlanOptions fields in the order of `fields` below, the batch index, then yuvMatrix>
//   input <hex bytes>
//   output <hex bytes of the whole output tensor, filled with 0x5A before the run>
// Usage: node scripts/gen-preprocess-golden.mjs OUT_FILE
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { resolveOptions, preprocessReference } from '../dist/index.js';
import { randomBytes } from '../dist/frame/synthetic.js';

const BPP = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 };
const CTOR = { 0: Float32Array, 1: Uint16Array, 2: Uint8Array, 3: Int8Array };

const cases = [];
let seed = 1;
const add = (name, opts, batchIndex = 0) => cases.push({ name, opts, batchIndex, seed: seed++ });

const formats = Object.keys(BPP);
const dtypes = ['float32', 'float16', 'uint8', 'int8'];
const modes = ['nearest', 'bilinear', 'area'];
for (const format of formats) {
  for (const [i, resize] of modes.entries()) {
    const channels = i === 1 ? 3 : 1;
    const dtype = dtypes[(formats.indexOf(format) + i) % 4];
    const layout = i === 2 ? 'NHWC' : 'NCHW';
    const stride = (format === 'NV12' ? 26 : 26 * BPP[format]) + 3;
    add(`${format} ${resize} ${channels}ch ${dtype} ${layout}`, {
      input: { width: 26, height: 18, format, stride },
      output: { width: 11, height: 7, channels, dtype, layout },
      resize,
      normalize: dtype.startsWith('float') ? { mean: 0.3, std: 0.2, scale: format === 'GRAY16' ? 1 / 65535 : 1 / 255 }
        : { scale: format === 'GRAY16' ? 1 / 256 : 1, offset: dtype === 'int8' ? -128 : 0 },
    });
  }
}
add('roi letterbox bilinear', { input: { width: 40, height: 30, format: 'RGB8' }, roi: { x: 3, y: 4, width: 30, height: 12 }, output: { width: 16, height: 16, channels: 3, channelOrder: 'bgr' }, resize: 'bilinear', letterbox: true, padValue: 114 });
add('area upscale', { input: { width: 5, height: 4, format: 'GRAY8' }, output: { width: 13, height: 9 }, resize: 'area' });
add('batch slot 1 of 2', { input: { width: 20, height: 20, format: 'YUYV', yuvRange: 'full' }, output: { width: 8, height: 8, channels: 3, batchSize: 2 }, resize: 'area' }, 1);
// Frames wide enough for every SIMD kernel (16- and 32-byte loads, 8-column
// groups and their tails): per format, non-integer area factors whose x tap
// lists pad to 4, 8, 16, 24 and 32 samples (the contiguous horizontal kernels),
// vertical factors above 2 (rows summed in integers, the row cache), an
// integer factor, luma, both YUV ranges and an odd ROI column (chroma pairs
// split across the ROI edge).
const wide = [
  // [width, height, outWidth, outHeight, channels, roi]
  [100, 30, 37, 11, 3, undefined],
  [90, 44, 11, 7, 3, { x: 2, y: 1, width: 86, height: 40 }],
  [160, 26, 7, 5, 1, undefined],
  [250, 12, 9, 3, 3, { x: 3, y: 0, width: 245, height: 12 }],
  [96, 40, 32, 8, 3, undefined],
];
for (const format of formats) {
  for (const [k, [width, height, ow, oh, channels, roi]] of wide.entries()) {
    const gray16 = format === 'GRAY16';
    add(`${format} wide area ${width}x${height} to ${ow}x${oh} ${channels}ch${roi ? ` roi x ${roi.x}` : ''}`, {
      input: { width, height, format, yuvRange: k % 2 ? 'full' : 'limited', yuvMatrix: k % 3 === 1 ? 'bt709' : 'bt601' },
      roi,
      output: { width: ow, height: oh, channels, dtype: k === 4 ? 'uint8' : 'float32', channelOrder: k === 1 ? 'bgr' : 'rgb' },
      resize: 'area',
      normalize: k === 4 ? { scale: gray16 ? 1 / 256 : 1, offset: 0 }
        : { mean: [0.485, 0.456, 0.406].slice(0, channels), std: [0.229, 0.224, 0.225].slice(0, channels), scale: gray16 ? 1 / 65535 : 1 / 255 },
    });
  }
  add(`${format} wide bilinear`, { input: { width: 120, height: 20, format }, output: { width: 45, height: 9, channels: 3 }, resize: 'bilinear' });
}
for (const resize of modes) {
  add(`scan conversion ${resize}`, { input: { width: 32, height: 64, format: 'GRAY8' }, scanConversion: { angleStart: -0.7, angleEnd: 0.7, depthStart: 4, depthEnd: 90 }, output: { width: 24, height: 20 }, resize, letterbox: true, padValue: 2 });
}

const hex = (u8) => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength).toString('hex');
const lines = [];
for (const c of cases) {
  const o = resolveOptions(c.opts);
  o.simd = 0;
  const rows = c.opts.input.format === 'NV12' ? o.height + o.height / 2 : o.height;
  const input = randomBytes(o.stride * rows, c.seed);
  const out = new CTOR[o.dtype](o.batchSize * o.channels * o.outWidth * o.outHeight);
  new Uint8Array(out.buffer).fill(0x5a);
  preprocessReference(o, input, out, c.batchIndex);
  const fields = [o.width, o.height, o.stride, o.format === 7 ? o.uvOffset : -1, o.format, o.yuvRange,
    o.roi.x, o.roi.y, o.roi.width, o.roi.height, o.scanConvert ? 1 : 0,
    o.sector.angleStart, o.sector.angleEnd, o.sector.depthStart, o.sector.depthEnd,
    o.outWidth, o.outHeight, o.channels, o.channelOrder, o.resize, o.letterbox ? 1 : 0, o.padValue,
    ...o.alpha, ...o.beta, o.dtype, o.layout, o.batchSize, c.batchIndex, o.yuvMatrix];
  lines.push(`case ${c.name}`, `opts ${fields.map((v) => (Number.isInteger(v) ? String(v) : v.toPrecision(17))).join(' ')}`,
    `input ${hex(input)}`, `output ${hex(new Uint8Array(out.buffer))}`);
}
const file = process.argv[2] ?? path.join('build', 'golden', 'preprocess.txt');
mkdirSync(path.dirname(file), { recursive: true });
writeFileSync(file, `${lines.join('\n')}\n`);
process.stdout.write(`wrote ${cases.length} golden preprocessing cases to ${file}\n`);
