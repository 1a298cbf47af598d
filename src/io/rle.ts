// DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of little-endian
// uint32s (the segment count, then 15 segment offsets), then one PackBits
// segment per byte plane. For 8-bit data, segment s holds sample s of every
// pixel (R, G, B planes for colour); we interleave them into packed pixels.
import { rangeError } from '../errors.js';

/**
 * Decodes one RLE frame of `pixels` pixels of `samples` 8-bit samples into
 * packed, interleaved bytes. Throws ERR_SONOEDGE_RLE naming what was wrong.
 */
export function decodeRleFrame(data: Uint8Array, pixels: number, samples: number, frame = 0): Uint8Array {
  const fail = (what: string): never => {
    throw rangeError('ERR_SONOEDGE_RLE', `Expected ${what} in RLE frame ${frame}`);
  };
  if (data.length < 64) fail(`a 64-byte RLE header but received ${data.length} bytes`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = view.getUint32(0, true);
  if (count !== samples) fail(`${samples} segment${samples === 1 ? '' : 's'} (one per 8-bit sample) but received ${count}`);
  const offsets: number[] = [];
  for (let s = 0; s < count; s++) offsets.push(view.getUint32(4 + 4 * s, true));
  const out = new Uint8Array(pixels * samples);
  for (let s = 0; s < count; s++) {
    const start = offsets[s];
    const end = s + 1 < count ? offsets[s + 1] : data.length;
    if (start < 64 || end > data.length || end < start) {
      fail(`segment ${s} within the frame's ${data.length} bytes but received offsets ${start}..${end}`);
    }
    const got = unpackBits(data, start, end, out, s, samples, pixels);
    if (got < pixels) fail(`segment ${s} to decode to ${pixels} bytes but received ${got}`);
  }
  return out;
}

/** PackBits from data[start, end) into every `stride`-th byte of out from `first`; returns bytes written (at most `limit`). */
function unpackBits(data: Uint8Array, start: number, end: number, out: Uint8Array, first: number, stride: number, limit: number): number {
  let i = start;
  let n = 0;
  while (i < end && n < limit) {
    const h = data[i++];
    if (h < 128) {
      // A literal run of h + 1 bytes.
      const len = Math.min(h + 1, end - i, limit - n);
      for (let k = 0; k < len; k++) out[first + stride * n++] = data[i++];
    } else if (h > 128) {
      // One byte repeated 257 - h times; 128 is a no-op (G.3.1).
      if (i >= end) break;
      const b = data[i++];
      const len = Math.min(257 - h, limit - n);
      for (let k = 0; k < len; k++) out[first + stride * n++] = b;
    }
  }
  return n;
}
