// The bundled A4C sample cine (models/samples/a4c_cine_16f.dcm) for tests that
// need real-looking frames: 16 frames of 256x256 GRAY8 and the simulator's
// labels. The sample is explicit-VR little-endian, uncompressed, with the pixel
// data element last, so its frames are read by position here; the DICOM
// reader proper (src/io/dicom.ts) has its own tests.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { MODELS_DIR } from '../../src/model/package.js';

export const SAMPLE_PATH = path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm');
export const SAMPLE_SPACING_MM = 0.7243791557261749;

export interface SampleCine {
  width: 256;
  height: 256;
  frames: Uint8Array[];
  label: { ed: number; es: number; ef: number; view: string };
  /** The 8 bytes before the pixel data: tag (7FE0,0010) and VR OB. */
  pixelDataTag: number[];
}

export async function readSampleCine(): Promise<SampleCine> {
  const buf = await readFile(SAMPLE_PATH);
  const n = 16 * 256 * 256;
  const base = buf.length - n;
  const frames = Array.from({ length: 16 }, (_, i) => buf.subarray(base + i * 65536, base + (i + 1) * 65536));
  const label = JSON.parse(/\{"ed": \d+, "ef": [\d.]+, "es": \d+[^}]*\}/.exec(buf.toString('latin1'))![0]) as SampleCine['label'];
  return { width: 256, height: 256, frames, label, pixelDataTag: [...buf.subarray(base - 12, base - 4)] };
}

/** A square n x n GRAY8 frame turned a quarter (transposed): pixel (x, y) goes to (y, x), the probe's apex to the left edge. */
export function transposeFrame(f: Uint8Array, n = 256): Uint8Array {
  const out = new Uint8Array(f.length);
  for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) out[x * n + y] = f[y * n + x];
  return out;
}

/**
 * A GRAY8 frame (w x h, packed) as a scanner with that display flip shows it, written pixel by pixel here so that
 * it does not lean on the runtime's own flipTensor: horizontal mirrors left-right, vertical turns it apex down.
 */
export function flippedFrame(f: Uint8Array, flip: 'none' | 'horizontal' | 'vertical' | 'both', w = 256, h = 256): Buffer {
  const out = Buffer.alloc(w * h);
  const fx = flip === 'horizontal' || flip === 'both';
  const fy = flip === 'vertical' || flip === 'both';
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[y * w + x] = f[(fy ? h - 1 - y : y) * w + (fx ? w - 1 - x : x)];
  return out;
}
