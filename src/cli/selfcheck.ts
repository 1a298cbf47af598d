// `sonoedge selfcheck`: loads the addon, preprocesses a synthetic ultrasound
// frame with the native plan and the TypeScript reference, compares them and
// times the native path. Exit 0 when everything agrees.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { defaultLibraryPath } from '../engine/options.js';
import { Preprocessor, bestSimdLevel } from '../preprocess/index.js';
import { preprocessReference } from '../preprocess/reference.js';
import { syntheticSectorFrame } from '../frame/synthetic.js';
import { summarize } from '../util/stats.js';
import { VERSION } from '../version.js';

export async function selfcheck(args: string[]): Promise<number> {
  if (args.length > 0) {
    process.stderr.write(`sonoedge selfcheck: unexpected argument ${JSON.stringify(args[0])}\n`);
    return 2;
  }
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  out(`sonoedge ${VERSION} self-check on ${process.platform}-${process.arch}, Node.js ${process.version}`);
  out(`  native addon      loaded, best kernels: ${bestSimdLevel()}`);

  const width = 1024;
  const height = 768;
  const frame = syntheticSectorFrame(width, height, 7);
  const pre = new Preprocessor({
    input: { width, height, format: 'GRAY8' },
    roi: { x: 128, y: 64, width: 768, height: 640 },
    output: { width: 256, height: 256, dtype: 'float32', layout: 'NCHW' },
    resize: 'area',
    letterbox: true,
    normalize: { mean: 0.5, std: 0.25, scale: 1 / 255 },
  });
  const a = pre.createOutput() as Float32Array;
  const b = pre.createOutput() as Float32Array;
  pre.run(frame, a);
  preprocessReference(pre.options, frame, b, 0);
  let maxErr = 0;
  for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i] - b[i]));
  const agree = maxErr <= 1e-5 * 4;
  out(`  preprocess        1024x768 GRAY8 -> 1x1x256x256 float32 (roi, area, letterbox, mean/std)`);
  out(`  reference check   max |native - reference| = ${maxErr.toExponential(2)} ${agree ? '(ok)' : '(MISMATCH)'}`);

  const times: number[] = [];
  for (let i = 0; i < 200; i++) {
    const t0 = process.hrtime.bigint();
    pre.run(frame, a);
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  out(`  native speed      median ${summarize(times).median.toFixed(1)} us per frame (${pre.simd} kernels)`);
  await pre.runAsync(frame, b);
  const asyncAgrees = a.every((v, i) => v === b[i]);
  out(`  async run         ${asyncAgrees ? 'identical to sync (ok)' : 'DIFFERS from sync'}`);

  const require = createRequire(import.meta.url);
  let ort = 'not found';
  try {
    const version = (require('onnxruntime-node/package.json') as { version: string }).version;
    // The library the engine loads by default (ORT_ROOT's when set).
    ort = `${version}${existsSync(defaultLibraryPath()) ? ', libonnxruntime present' : ', libonnxruntime MISSING for this platform'}`;
  } catch {
    ort = 'onnxruntime-node not installed';
  }
  out(`  onnxruntime-node  ${ort}`);
  const ok = agree && asyncAgrees;
  out(ok ? 'self-check passed' : 'self-check FAILED');
  return ok ? 0 : 1;
}
