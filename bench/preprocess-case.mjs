// One (tool, frame size, format) case of bench/preprocess.mjs, in its own
// process. Prints one JSON line: { results: [{ out, median, p99, ... }] }.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Preprocessor, preprocessReference } from '../dist/index.js';
import { randomBytes } from '../dist/frame/synthetic.js';
import { median, quantile } from './docs.mjs';

const [tool, ws, hs, format, outsArg, outDir] = process.argv.slice(2);
const width = Number(ws);
const height = Number(hs);
const outs = outsArg.split(',').map(Number);
const BPP = { GRAY8: 1, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1.5 };
const channels = format === 'GRAY8' ? 1 : 3;
const MEAN = [0.485, 0.456, 0.406].slice(0, channels);
const STD = [0.229, 0.224, 0.225].slice(0, channels);

// The frame every tool reads, also written for the OpenCV worker.
const frame = randomBytes(width * height * BPP[format], width * 7 + height * 13 + Math.ceil(BPP[format]));
const frameFile = path.join(outDir, `frame-${width}x${height}-${format}.bin`);
if (!existsSync(frameFile)) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(frameFile, frame);
}

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
    const r = await time(() => pre.run(frame, out), 1500);
    const ref = pre.createOutput();
    preprocessReference(pre.options, frame, ref, 0);
    let maxErr = 0;
    for (let i = 0; i < out.length; i++) maxErr = Math.max(maxErr, Math.abs(out[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
    writeFileSync(path.join(outDir, `native-${width}x${height}-${format}-${o}.f32`), Buffer.from(out.buffer));
    results.push({ out: o, ...r, simd: pre.simd, agreesWithReference: maxErr <= 1e-5, maxRelErrVsReference: maxErr });
  } else if (tool === 'ts-ref') {
    const pre = plan(o);
    const out = pre.createOutput();
    results.push({ out: o, ...(await time(() => preprocessReference(pre.options, frame, out, 0), 1500, 3, 200)) });
  } else if (tool === 'memcpy') {
    const inCopy = new Uint8Array(frame.length);
    const outSrc = new Float32Array(channels * o * o);
    const outDst = new Float32Array(channels * o * o);
    results.push({ out: o, ...(await time(() => { inCopy.set(frame); outDst.set(outSrc); }, 1000)) });
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
    results.push({ out: o, ...(await time(run, 1500, 5, 500)) });
  }
}
process.stdout.write(`${JSON.stringify({ tool, width, height, format, results })}\n`);
