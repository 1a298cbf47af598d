// Shared by the pipeline benchmarks: the frames they feed and the pace they
// feed them at.
import path from 'node:path';
import sharp from 'sharp';
import { readInput } from '../dist/io/index.js';
import { MODELS_DIR } from '../dist/index.js';

export const W = 1024;
export const H = 768;
/** Where the cine goes in the 1024x768 frame: the stream's sector box (roi). */
export const BOX = { x: 142, y: 14, width: 740, height: 740 };

/**
 * The bundled A4C cine (models/samples), each 256x256 frame scaled to 740x740 (bilinear) inside a black 1024x768
 * GRAY8 frame at BOX: the models see an apical view, so segmentation, the contour and EF run as in use. `spacing` is
 * the stream's pixel spacing in mm.
 */
export async function cineFrames() {
  const cine = await readInput(path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm'));
  const sp = typeof cine.pixelSpacingMm === 'object' ? cine.pixelSpacingMm[0] : cine.pixelSpacingMm ?? 0.3;
  const frames = [];
  for (const f of cine.frames) {
    const big = await sharp(Buffer.from(f), { raw: { width: cine.width, height: cine.height, channels: 1 } }).resize(BOX.width, BOX.height, { kernel: 'linear' }).raw().toBuffer();
    const out = new Uint8Array(W * H);
    for (let y = 0; y < BOX.height; y++) out.set(big.subarray(y * BOX.width, (y + 1) * BOX.width), (BOX.y + y) * W + BOX.x);
    frames.push(out);
  }
  return { frames, spacing: (sp * cine.width) / BOX.width };
}

/** Calls `send(i)` for i = 0 .. total-1 at `fps`, each on time (a timer to 1 ms before, then setImmediate), as a scanner would. */
export async function paced(total, fps, send) {
  const t0 = performance.now();
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / fps;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait - 1));
    while (performance.now() < due) await new Promise((r) => setImmediate(r));
    send(i);
  }
}
