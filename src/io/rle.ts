// DICOM RLE Lossless (PS3.5 Annex G): a 64-byte header of little-endian
// uint32s (the segment count, then 15 segment offsets), then one PackBits
// segment per byte plane: for each sample (R, G, B for colour), its most
// significant byte first. We interleave the planes into packed pixels whose
// multi-byte samples are little endian, ready for a Uint16Array view.
// Hand-written because no npm package serves a standalone DICOM RLE decoder
// (Cornerstone's lives inside its image loader); pydicom checks it pixel for
// pixel in test/unit/io.dicom.pydicom.test.ts.
import { rangeError } from '../errors.js';

/**
 * Decodes one RLE frame of `pixels` pixels of `samples` samples of
 * `bytesPerSample` bytes into packed, interleaved bytes (little endian within a
 * sample). Throws ERR_SONOEDGE_RLE naming what was wrong.
 */
export function decodeRleFrame(data: Uint8Array, pixels: number, samples: number, frame = 0, bytesPerSample = 1): Uint8Array {
  const fail = (what: string): never => {
    throw rangeError('ERR_SONOEDGE_RLE', `Expected ${what} in RLE frame ${frame}`);
  };
  if (data.length < 64) fail(`a 64-byte RLE header but received ${data.length} bytes`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const count = view.getUint32(0, true);
  const want = samples * bytesPerSample;
  if (count !== want) {
    fail(`${want} segment${want === 1 ? '' : 's'} (${bytesPerSample === 1 ? 'one per 8-bit sample' : `one per byte of each ${8 * bytesPerSample}-bit sample`}) but received ${count}`);
  }
  if (count > 15) fail(`at most 15 segments but received ${count}`);
  const offsets: number[] = [];
  for (let s = 0; s < count; s++) offsets.push(view.getUint32(4 + 4 * s, true));
  const out = new Uint8Array(pixels * want);
  for (let s = 0; s < count; s++) {
    const start = offsets[s];
    const end = s + 1 < count ? offsets[s + 1] : data.length;
    if (start < 64 || end > data.length || end < start) {
      fail(`segment ${s} within the frame's ${data.length} bytes but received offsets ${start}..${end}`);
    }
    // Segment s is byte (s % bytesPerSample) of sample floor(s / bytesPerSample), most significant first.
    const sample = Math.floor(s / bytesPerSample);
    const byte = bytesPerSample - 1 - (s % bytesPerSample);
    const got = unpackBits(data, start, end, out, sample * bytesPerSample + byte, want, pixels);
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
