// A raw file of frames back to back, with the geometry stated on the command
// line ("1024x768:GRAY8"): nothing in the file says how big a frame is, so a
// trailing partial frame means the geometry is wrong and is refused.
import { rangeError } from '../errors.js';
import { bytesPerPixel, type Cine, type CineFormat } from './types.js';

export interface RawGeometry { width: number; height: number; format: CineFormat }

const FORMATS: readonly CineFormat[] = ['GRAY8', 'RGB8'];

/** Parses "WIDTHxHEIGHT:FORMAT" (FORMAT GRAY8 or RGB8). */
export function parseRawGeometry(text: string): RawGeometry {
  const m = /^(\d+)x(\d+):([A-Z0-9]+)$/i.exec(text.trim());
  const format = m?.[3].toUpperCase() as CineFormat | undefined;
  const width = Number(m?.[1]);
  const height = Number(m?.[2]);
  if (!m || !FORMATS.includes(format!) || width < 1 || height < 1 || width > 16384 || height > 16384) {
    throw rangeError('ERR_SONOEDGE_RAW',
      `Expected a geometry WIDTHxHEIGHT:FORMAT (1..16384 pixels, FORMAT ${FORMATS.join(' or ')}, e.g. 1024x768:GRAY8) but received ${JSON.stringify(text)}`);
  }
  return { width, height, format: format! };
}

export function readRaw(bytes: Uint8Array, geometry: RawGeometry, where = 'the raw file'): Cine {
  const frameBytes = geometry.width * geometry.height * bytesPerPixel(geometry.format);
  const count = Math.floor(bytes.length / frameBytes);
  const rest = bytes.length - count * frameBytes;
  if (count === 0 || rest !== 0) {
    throw rangeError('ERR_SONOEDGE_RAW',
      `Expected ${where} to hold whole ${geometry.width}x${geometry.height} ${geometry.format} frames of ${frameBytes} bytes but received ${bytes.length} bytes (${count} frames and ${rest} bytes over)`);
  }
  const frames = Array.from({ length: count }, (_, i) => bytes.subarray(i * frameBytes, (i + 1) * frameBytes));
  return { ...geometry, frames };
}
