// A folder of PNG files as a cine: sorted by name (numbers in names compare as
// numbers, so frame2 comes before frame10), every file of one size. pngjs
// decodes to RGBA at 8 bits; gray files (with or without alpha) become GRAY8,
// colour and palette files RGB8. Alpha is dropped: ultrasound frames are opaque.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PNG } from 'pngjs';
import { rangeError } from '../errors.js';
import type { Cine, CineFormat } from './types.js';

const pngError = (message: string) => rangeError('ERR_SONOEDGE_PNG', message);

export async function readPngFolder(dir: string): Promise<Cine> {
  const names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.png'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  if (names.length === 0) throw pngError(`Expected .png files in ${dir} but received none`);
  let cine: Cine | undefined;
  for (const name of names) {
    let png: ReturnType<typeof PNG.sync.read>;
    try {
      png = PNG.sync.read(await readFile(path.join(dir, name)));
    } catch (err) {
      throw pngError(`Expected ${name} to be a PNG image but received one pngjs cannot read (${(err as Error).message})`);
    }
    const format: CineFormat = png.color || png.palette ? 'RGB8' : 'GRAY8';
    if (cine === undefined) {
      cine = { width: png.width, height: png.height, format, frames: [] };
    } else if (png.width !== cine.width || png.height !== cine.height || format !== cine.format) {
      throw pngError(`Expected ${name} to be ${cine.width}x${cine.height} ${cine.format} like ${names[0]} but received ${png.width}x${png.height} ${format}`);
    }
    const pixels = png.width * png.height;
    const channels = format === 'RGB8' ? 3 : 1;
    const out = new Uint8Array(pixels * channels);
    for (let p = 0; p < pixels; p++) {
      for (let c = 0; c < channels; c++) out[p * channels + c] = png.data[p * 4 + c];
    }
    cine.frames.push(out);
  }
  return cine!;
}
