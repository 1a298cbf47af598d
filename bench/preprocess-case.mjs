// One (tool, frame size, format, content) case of bench/preprocess.mjs, in its
// own process. Prints one JSON line: { results: [{ out, median, p99, ... }] }.
//   node bench/preprocess-case.mjs TOOL WIDTH HEIGHT FORMAT OUTS OUT_DIR [CONTENT [BUDGET_MS]]
// CONTENT: random (the default) or in-range (YUYV and NV12 only, see inRangeYuv).
// BUDGET_MS: how long each output size is timed (default 1500, memcpy 1000).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Preprocessor, preprocessReference } from '../dist/index.js';
import { randomBytes, rng } from '../dist/frame/synthetic.js';
import { median, quantile } from './docs.mjs';

const [tool, ws, hs, format, outsArg, outDir, content = 'random', budgetArg] = process.argv.slice(2);
const width = Number(ws);
const height = Number(hs);
const outs = outsArg.split(',').map(Number);
const budget = (ms) => (budgetArg === undefined ? ms : Number(budgetArg));
const BPP = { GRAY8: 1, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1.5 };
const channels = format === 'GRAY8' ? 1 : 3;
const MEAN = [0.485, 0.456, 0.406].slice(0, channels);
const STD = [0.229, 0.224, 0.225].slice(0, channels);

/**
 * A YUYV or NV12 frame whose every pixel converts (BT.601 limited range) to R, G and B inside [0, 255]: Y in 60-190,
 * U and V in 118-138, each byte drawn from a seeded generator (the ranges of `bench_hot_path --table ... tinted`):
 * speckle of gray or mildly coloured video. The box of those ranges has its corners at R, G, B of 31-223, so no
 * 64-pixel group can clamp and the AVX2 kernel sums Y, U and V over the tap rows before converting (yuvLinearAvx2,
 * docs/PREPROCESSING.md section 8a). Random bytes clamp almost everywhere and take the per-pixel conversion.
 */
function inRangeYuv(length, seed) {
  const r = rng(seed);
  const b = new Uint8Array(length);
  const yBytes = width * height; // NV12: the Y plane, then U and V interleaved; YUYV: Y at even bytes
  for (let i = 0; i < length; i++) {
    const luma = format === 'YUYV' ? i % 2 === 0 : i < yBytes;
    b[i] = luma ? 60 + Math.floor(r() * 131) : 118 + Math.floor(r() * 21);
  }
  return b;
}

if (content !== 'random' && !(content === 'in-range' && (format === 'YUYV' || format === 'NV12'))) {
  throw new RangeError(`content ${content} is not one of random or in-range (YUYV and NV12 only) for ${format}`);
}
// The frame every tool reads, also written (each time: the content may have changed) for the OpenCV worker.
const suffix = content === 'random' ? '' : `-${content}`;
const seed = width * 7 + height * 13 + Math.ceil(BPP[format]);
const frame = content === 'random' ? randomBytes(width * height * BPP[format], seed) : inRangeYuv(width * height * BPP[format], seed);
mkdirSync(outDir, { recursive: true });
writeFileSync(path.join(outDir, `frame-${width}x${height}-${format}${suffix}.bin`), frame);

function stats(times) {
  return { median: median(times), p99: quantile(times, 0.99), n: times.length };
}

/** Times fn() for about `budgetMs` after warm-up; microseconds per call. */
async function time(fn, budgetMs, minRuns = 5, maxRuns = 2000) {
  for (let i = 0; i < 3; i++) await fn();
  const times = [];
  const start = performance.now();
  while ((times.length < minRuns || performance.now() - start < budgetMs) && times.length < maxRuns) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return stats(times);
}

function plan(o) {
  return new Preprocessor({
    input: { width, height, format },
    output: { width: o, height: o, channels, dtype: 'float32', layout: 'NCHW' },
    resize: 'area',
    normalize: { mean: MEAN, std: STD, scale: 1 / 255 },
  });
}

const results = [];
for (const o of outs) {
  if (tool === 'native') {
    const pre = plan(o);
    const out = pre.createOutput();
    const r = await time(() => pre.run(frame, out), budget(1500));
    const ref = pre.createOutput();
    preprocessReference(pre.options, frame, ref, 0);
    let maxErr = 0;
    for (let i = 0; i < out.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
    writeFileSync(path.join(outDir, `native-${width}x${height}-${format}${suffix}-${o}.f32`), Buffer.from(out.buffer));
    results.push({ out: o, ...r, simd: pre.simd, agreesWithReference: maxErr <= 1e-5, maxRelErrVsReference: maxErr });
  } else if (tool === 'ts-ref') {
    const pre = plan(o);
    const out = pre.createOutput();
    results.push({ out: o, ...(await time(() => preprocessReference(pre.options, frame, out, 0), budget(1500), 3, 200)) });
  } else if (tool === 'memcpy') {
    const inCopy = new Uint8Array(frame.length);
    const outSrc = new Float32Array(channels * o * o);
    const outDst = new Float32Array(channels * o * o);
    results.push({ out: o, ...(await time(() => { inCopy.set(frame); outDst.set(outSrc); }, budget(1000))) });
  } else if (tool === 'sharp') {
    if (format === 'YUYV') continue; // sharp reads no YUYV: n/a
    const { default: sharp } = await import('sharp');
    sharp.concurrency(1);
    const out = new Float32Array(channels * o * o);
    const a = STD.map((s) => 1 / 255 / s);
    const b = MEAN.map((m, i) => -m / STD[i]);
    const run = async () => {
      const px = await sharp(frame, { raw: { width, height, channels } })
        .resize(o, o, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
      const plane = o * o;
      for (let c = 0; c < channels; c++) {
        const ac = a[c];
        const bc = b[c];
        for (let i = 0; i < plane; i++) out[c * plane + i] = px[i * channels + c] * ac + bc;
      }
    };
    results.push({ out: o, ...(await time(run, budget(1500), 5, 500)) });
  }
}
process.stdout.write(`${JSON.stringify({ tool, width, height, format, content, results })}\n`);
