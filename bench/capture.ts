// What DICOM capture costs the frame path (src/dicom): serve's DicomService.offer
// for each frame the pipeline ran, in the three cases a stream meets, at
// 1024x768 GRAY8 with the default 2 s window at 30 fps: a stream not captured
// (no dicom section never calls it at all), a captured stream whose frame
// does not qualify, and one whose frame qualifies (a copy of the frame).
// Per case: microseconds per frame, median of 5 rounds (the machine is
// shared and noisy). Nothing is written: the streams are never finished.
//   node --import tsx bench/capture.ts [--json]
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DicomService } from '../src/dicom/service.js';
import type { PipelineResult } from '../src/pipeline/index.js';
// @ts-expect-error: a plain .mjs helper shared by the benchmarks, no type declarations
import { median } from './docs.mjs';

const W = 1024;
const H = 768;
const noop = (): void => undefined;
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-bench-capture-'));
const svc = await DicomService.start({ dir, capture: { seconds: 2 } }, { info: noop, warn: noop, error: noop });
svc.open(1, { stream: 1, width: W, height: H, format: 'GRAY8', spacing: [0.3, 0.3], fps: 30 }, undefined, []);
const pixels = new Uint8Array(W * H).map((_, i) => (i * 31) & 255);
const result = (seq: number, good: boolean): PipelineResult => ({
  seq, acquiredAt: 0, view: { label: 'A4C', confidence: 1, shown: 'A4C', shownConfidence: 1, changed: false, probabilities: [] },
  // The best window moves now and then, as it does on a real cine.
  quality: { score: 0.8, smoothed: 0.7 + 0.2 * Math.abs(Math.sin(seq / 40)), good }, state: 'ok', idScore: null, idScoreRaw: null, frameState: 'ok',
});

let seq = 0;
function perFrameUs(stream: number, good: boolean, frames: number): number {
  const rs = Array.from({ length: frames }, () => result(seq++, good));
  const t0 = performance.now();
  for (const r of rs) svc.offer(stream, pixels, r);
  return ((performance.now() - t0) / frames) * 1000;
}

const cases = {
  'stream not captured': () => perFrameUs(2, true, 2000),
  'captured, frame does not qualify': () => perFrameUs(1, false, 2000),
  'captured, frame qualifies (copied)': () => perFrameUs(1, true, 300),
};
perFrameUs(1, true, 120); // the window fills, the buffer pool with it
const out: Record<string, number> = {};
for (const [name, run] of Object.entries(cases)) out[name] = median(Array.from({ length: 5 }, run));
rmSync(dir, { recursive: true, force: true });
if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(out)}\n`);
else for (const [name, us] of Object.entries(out)) process.stdout.write(`${name.padEnd(36)} ${us.toFixed(2)} us per frame\n`);
