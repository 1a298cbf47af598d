// The pixels of a parsed DICOM file, decoded the way pydicom's pixel_array
// returns them (so test/unit/io.dicom.pydicom.test.ts can compare the two
// value for value): stored values in the width of Bits Allocated (8 or 16),
// signed when Pixel Representation says so, unused high bits masked or sign
// extended, colour interleaved, YBR_FULL and YBR_FULL_422 converted to RGB
// (pydicom's float32 formula), PALETTE COLOR left as indices (applyPalette maps
// them). Codecs come from dicom-codecs.ts; this file splits frames out of the
// pixel data and conforms what the codecs return.
import type * as DicomParser from 'dicom-parser';
import { rangeError } from '../errors.js';
import { decodeHtj2k, decodeJ2k, decodeJpeg, decodeJpegLossless, decodeJpegLs, type CodecFrame } from './dicom-codecs.js';
import { dicomParser, TAG, describeTransferSyntax, type DicomFile } from './dicom-file.js';
import { decodeRleFrame } from './rle.js';

export type Samples = Uint8Array | Int8Array | Uint16Array | Int16Array;

/** A named, non-fatal finding: the reader went on, and says what it assumed. */
export interface DicomWarning {
  code: 'WARN_SONOEDGE_DICOM_FRAMES' | 'WARN_SONOEDGE_DICOM_REGION_CLIPPED' | 'WARN_SONOEDGE_DICOM_REGION_OUTSIDE'
    | 'WARN_SONOEDGE_DICOM_PHOTOMETRIC' | 'WARN_SONOEDGE_DICOM_PIXEL_PADDING' | 'WARN_SONOEDGE_DICOM_SPACING'
    | 'WARN_SONOEDGE_DICOM_FRAME_TIME';
  message: string;
}

export interface DecodedPixels {
  width: number;
  height: number;
  /** 1 or 3. */
  samples: number;
  /** The photometric interpretation of `frames`: RGB once YBR has been converted. */
  photometric: string;
  /** 8 or 16: the element width of `frames`. */
  bits: number;
  /** Significant bits of each value. */
  bitsStored: number;
  signed: boolean;
  /** One typed array per frame, rows of interleaved samples. */
  frames: Samples[];
  warnings: DicomWarning[];
}

/** Frames larger than this are refused before anything is allocated (a 4096 x 4096 RGB frame of 16 bits is 96 MiB). */
export const MAX_FRAME_BYTES = 256 * 1024 * 1024;

const pixelError = (message: string) => rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', message);
const photometricError = (message: string) => rangeError('ERR_SONOEDGE_DICOM_PHOTOMETRIC', message);

const PHOTOMETRIC_SAMPLES: Record<string, number> = {
  MONOCHROME1: 1, MONOCHROME2: 1, 'PALETTE COLOR': 1, RGB: 3, YBR_FULL: 3, YBR_FULL_422: 3, YBR_ICT: 3, YBR_RCT: 3,
};

/** Checks the image pixel module against what the reader handles; throws one coded line naming the piece. */
export function checkImage(file: DicomFile): void {
  const im = file.image;
  const { where } = file;
  const want = PHOTOMETRIC_SAMPLES[im.photometric];
  if (want === undefined) {
    throw photometricError(`Expected a photometric interpretation of ${Object.keys(PHOTOMETRIC_SAMPLES).join(', ')} but received ${JSON.stringify(im.photometric)}`);
  }
  if (im.samplesPerPixel !== want) {
    throw photometricError(`Expected ${want} samples per pixel for ${im.photometric} but received ${im.samplesPerPixel}`);
  }
  // Any other value was read as colour-by-pixel, silently: pydicom refuses it too.
  if (im.planarConfiguration !== undefined && im.planarConfiguration !== 0 && im.planarConfiguration !== 1) {
    throw pixelError(`Expected Planar Configuration (0028,0006) of 0 (colour by pixel) or 1 (colour by plane) but received ${im.planarConfiguration} in ${where}`);
  }
  if (im.bitsAllocated !== 8 && im.bitsAllocated !== 16) {
    throw pixelError(`Expected 8 or 16 bits allocated per sample (what ultrasound uses) but received ${im.bitsAllocated} in ${where}`);
  }
  if (im.bitsStored < 1 || im.bitsStored > im.bitsAllocated) {
    throw pixelError(`Expected Bits Stored (0028,0101) from 1 to ${im.bitsAllocated} (Bits Allocated) but received ${im.bitsStored}`);
  }
  if ((im.photometric.startsWith('YBR') || im.photometric === 'RGB') && im.bitsAllocated !== 8 && im.photometric !== 'RGB') {
    throw photometricError(`Expected 8 bits allocated for ${im.photometric} but received ${im.bitsAllocated}`);
  }
  if (im.rows < 1 || im.columns < 1) {
    throw rangeError('ERR_SONOEDGE_DICOM_DIMENSIONS', `Expected Rows and Columns of at least 1 but received ${im.rows} and ${im.columns}`);
  }
  const bytes = im.rows * im.columns * im.samplesPerPixel * (im.bitsAllocated / 8);
  if (bytes > MAX_FRAME_BYTES) {
    throw rangeError('ERR_SONOEDGE_DICOM_DIMENSIONS',
      `Expected a frame of at most ${MAX_FRAME_BYTES / 1048576} MiB but received Rows ${im.rows} x Columns ${im.columns} x ${im.samplesPerPixel} samples x ${im.bitsAllocated / 8} bytes = ${bytes} bytes, implausible for an image`);
  }
}

/** Decodes every frame the file declares. */
export async function decodePixels(file: DicomFile): Promise<DecodedPixels> {
  checkImage(file);
  const { image: im, syntax, dataset: ds } = file;
  const el = ds.elements[TAG.pixelData];
  const warnings: DicomWarning[] = [];
  let frames: Samples[];
  let photometric = im.photometric;
  let bits = im.bitsAllocated;
  let bitsStored = im.bitsStored;
  const signed = im.pixelRepresentation === 1;
  if (syntax.kind === 'native' || syntax.kind === 'deflated') {
    if (el.encapsulatedPixelData === true) throw pixelError(`Expected native pixel data for ${describeTransferSyntax(syntax.uid)} but received encapsulated fragments`);
    frames = nativeFrames(file, el, warnings);
    if (photometric === 'YBR_FULL_422') {
      frames = frames.map((f) => expand422(f as Uint8Array, im.rows * im.columns));
      photometric = 'YBR_FULL';
    }
    if (im.samplesPerPixel === 3 && im.planarConfiguration === 1) frames = frames.map((f) => planarToInterleaved(f, im.rows * im.columns));
  } else {
    if (el.encapsulatedPixelData !== true) throw pixelError(`Expected encapsulated pixel data for ${describeTransferSyntax(syntax.uid)} but received native pixel data`);
    const blobs = encapsulatedFrames(file, el, warnings);
    const decoded: Samples[] = [];
    for (let i = 0; i < blobs.length; i++) {
      const r = await decodeEncapsulated(file, blobs[i], i);
      decoded.push(r.pixels);
      photometric = r.photometric;
      bits = r.bits;
      bitsStored = r.bitsStored;
    }
    frames = decoded;
  }
  if (photometric === 'YBR_FULL' || photometric === 'YBR_FULL_422') {
    frames = frames.map((f) => ybrToRgb(f as Uint8Array));
    photometric = 'RGB';
  }
  frames = frames.map((f) => conformBits(f, bits, bitsStored, signed, file));
  return { width: im.columns, height: im.rows, samples: im.samplesPerPixel, photometric, bits, bitsStored, signed, frames, warnings };
}

/** A typed array of `bits` width and signedness over a copy of `bytes` (little endian). */
function typed(bytes: Uint8Array, bits: number, signed: boolean): Samples {
  // A copy at offset 0 of its own buffer (Buffer's slice() would share the file's).
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  if (bits === 8) return signed ? new Int8Array(copy.buffer) : copy;
  return signed ? new Int16Array(copy.buffer, 0, copy.length >> 1) : new Uint16Array(copy.buffer, 0, copy.length >> 1);
}

function nativeFrames(file: DicomFile, el: DicomParser.Element, warnings: DicomWarning[]): Samples[] {
  const { image: im, syntax, dataset: ds } = file;
  const bytesPer = im.bitsAllocated / 8;
  const pixels = im.rows * im.columns;
  const frameBytes = im.photometric === 'YBR_FULL_422' ? pixels * 2 : pixels * im.samplesPerPixel * bytesPer;
  const held = Math.floor(el.length / frameBytes);
  if (held < im.frames) {
    throw pixelError(`Expected ${frameBytes * im.frames} bytes of pixel data (${im.frames} frame${im.frames === 1 ? '' : 's'} of ${im.columns}x${im.rows}x${im.samplesPerPixel}, ${im.bitsAllocated} bits) in ${file.where} but received ${el.length} (${held} whole frame${held === 1 ? '' : 's'}): the data is truncated`);
  }
  if (held > im.frames) {
    warnings.push({ code: 'WARN_SONOEDGE_DICOM_FRAMES', message: `${file.where} declares ${im.frames} frame${im.frames === 1 ? '' : 's'} (0028,0008) but its pixel data holds ${held}; reading the ${im.frames} declared` });
  } else if (el.length - frameBytes * im.frames > 1) {
    warnings.push({ code: 'WARN_SONOEDGE_DICOM_PIXEL_PADDING', message: `${file.where} has ${el.length - frameBytes * im.frames} bytes of pixel data after its ${im.frames} frame${im.frames === 1 ? '' : 's'}; ignored` });
  }
  let data = ds.byteArray.subarray(el.dataOffset, el.dataOffset + frameBytes * im.frames);
  // Big endian: 16-bit samples swap; 8-bit samples stored as OW words swap too (PS3.5 A.3),
  // over the whole element (its pad byte included, an odd total's last sample lives there).
  if (syntax.bigEndian && (im.bitsAllocated === 16 || el.vr === 'OW')) {
    const all = ds.byteArray.subarray(el.dataOffset, el.dataOffset + el.length);
    const sw = new Uint8Array(all.length);
    for (let i = 0; i + 1 < all.length; i += 2) {
      sw[i] = all[i + 1];
      sw[i + 1] = all[i];
    }
    data = sw.subarray(0, data.length);
  }
  const signed = im.pixelRepresentation === 1 && im.photometric !== 'YBR_FULL_422';
  return Array.from({ length: im.frames }, (_, i) => typed(data.subarray(i * frameBytes, (i + 1) * frameBytes), im.bitsAllocated, signed));
}

/** Each frame's compressed bytes: the offset tables, one fragment per frame, or fragments grouped up to each end-of-image marker. */
function encapsulatedFrames(file: DicomFile, el: DicomParser.Element, warnings: DicomWarning[]): Uint8Array[] {
  const { dataset: ds, image: im, where } = file;
  const fragments = el.fragments ?? [];
  const bot = el.basicOffsetTable ?? [];
  const declared = im.frames;
  const bytesOf = (f: DicomParser.Fragment) => ds.byteArray.subarray(f.position, f.position + f.length);
  let groups: Uint8Array[][];
  if (fragments.length === 0) throw pixelError(`Expected ${declared} encapsulated frame${declared === 1 ? '' : 's'} in ${where} but received no fragments`);
  if (bot.length > 0 && bot[0] === 0 && bot.every((o, i) => i === 0 || o > bot[i - 1])) {
    groups = bot.map((start, i) => {
      const end = i + 1 < bot.length ? bot[i + 1] : Infinity;
      return fragments.filter((f) => f.offset >= start && f.offset < end).map(bytesOf);
    });
  } else if (declared === 1) {
    groups = [fragments.map(bytesOf)];
  } else if (fragments.length === declared) {
    groups = fragments.map((f) => [bytesOf(f)]);
  } else if (file.syntax.kind === 'rle') {
    throw pixelError(`Expected ${declared} RLE frames (one fragment each) in ${where} but received ${fragments.length} fragments and no offset table`);
  } else {
    // JPEG, JPEG-LS and JPEG 2000 codestreams all end with FFD9 (EOI / EOC).
    groups = [];
    let current: Uint8Array[] = [];
    for (const f of fragments) {
      const b = bytesOf(f);
      current.push(b);
      if (endsWithEoi(b)) {
        groups.push(current);
        current = [];
      }
    }
    if (current.length > 0) groups.push(current);
  }
  if (groups.length < declared) {
    throw pixelError(`Expected ${declared} encapsulated frames in ${where} but received ${groups.length} (${fragments.length} fragment${fragments.length === 1 ? '' : 's'}, ${bot.length} offset${bot.length === 1 ? '' : 's'}): the data is truncated`);
  }
  if (groups.length > declared) {
    warnings.push({ code: 'WARN_SONOEDGE_DICOM_FRAMES', message: `${where} declares ${declared} frame${declared === 1 ? '' : 's'} (0028,0008) but its pixel data holds ${groups.length}; reading the ${declared} declared` });
  }
  return groups.slice(0, declared).map(concat);
}

function endsWithEoi(b: Uint8Array): boolean {
  // A fragment is padded to even length, so EOI may be followed by one zero byte.
  for (let i = b.length - 1; i >= Math.max(1, b.length - 3); i--) {
    if (b[i] === 0xd9 && b[i - 1] === 0xff) return true;
  }
  return false;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

interface Decoded { pixels: Samples; photometric: string; bits: number; bitsStored: number }

async function decodeEncapsulated(file: DicomFile, data: Uint8Array, index: number): Promise<Decoded> {
  const { image: im, syntax } = file;
  const pixels = im.rows * im.columns;
  const signed = im.pixelRepresentation === 1;
  switch (syntax.kind) {
    case 'rle': {
      const bytes = decodeRleFrame(data, pixels, im.samplesPerPixel, index, im.bitsAllocated / 8);
      return { pixels: typed(bytes, im.bitsAllocated, signed), photometric: im.photometric, bits: im.bitsAllocated, bitsStored: im.bitsStored };
    }
    case 'jpeg':
    case 'jpeg-lossless':
      return decodeJpegFrame(file, data, index);
    case 'jpeg-ls': {
      const r = checkCodec(file, await decodeJpegLs(data, index), index);
      let out = r.pixels;
      if (r.components === 3 && r.interleave === 0) out = planarToInterleaved(out, pixels);
      const bits = r.bitsPerSample <= 8 ? 8 : 16;
      // JPEG-LS has no sign: a signed image comes back as unsigned values of its precision.
      if (signed) out = signExtend(out, bits, r.bitsPerSample);
      return { pixels: out, photometric: im.photometric, bits, bitsStored: signed ? r.bitsPerSample : Math.min(im.bitsStored, bits) };
    }
    case 'j2k':
    case 'htj2k': {
      const r = checkCodec(file, await (syntax.kind === 'j2k' ? decodeJ2k(jp2Codestream(data), index) : decodeHtj2k(data, index)), index);
      const bits = r.bitsPerSample <= 8 ? 8 : 16;
      let out = r.pixels;
      // The codestream's sign wins over Pixel Representation when they disagree (as pydicom does).
      if (im.samplesPerPixel === 1 && r.signed !== signed && r.bitsPerSample < bits) out = signExtend(out, bits, r.bitsPerSample, signed);
      else if (r.signed !== signed) out = reinterpret(out, bits, signed);
      const photometric = im.photometric === 'YBR_ICT' || im.photometric === 'YBR_RCT' ? 'RGB' : im.photometric;
      return { pixels: out, photometric, bits, bitsStored: r.bitsPerSample };
    }
    default:
      throw rangeError('ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX', `Expected a transfer syntax sonoedge decodes but received ${describeTransferSyntax(syntax.uid)}`);
  }
}

function checkCodec<T extends CodecFrame>(file: DicomFile, r: T, index: number): T {
  const im = file.image;
  if (r.width === 0 || r.height === 0 || r.components === 0) {
    throw rangeError('ERR_SONOEDGE_DICOM_DECODE', `Expected frame ${index} of ${file.where} to decode to an image but the ${file.syntax.name} decoder returned none: the codestream is corrupt`);
  }
  if (r.width !== im.columns || r.height !== im.rows || r.components !== im.samplesPerPixel) {
    throw pixelError(`Expected frame ${index} of ${file.where} to be ${im.columns}x${im.rows} with ${im.samplesPerPixel} component${im.samplesPerPixel === 1 ? '' : 's'} (Columns, Rows, Samples per Pixel) but its codestream holds ${r.width}x${r.height} with ${r.components}`);
  }
  return r;
}

/** A JP2 file (boxes, as some writers wrongly encapsulate) reduced to its codestream; a codestream as is. */
function jp2Codestream(data: Uint8Array): Uint8Array {
  if (data[0] === 0xff && data[1] === 0x4f) return data;
  for (let i = 0; i + 8 <= data.length; i++) {
    // The contiguous codestream box: "jp2c", then SOC (FF4F).
    if (data[i] === 0x6a && data[i + 1] === 0x70 && data[i + 2] === 0x32 && data[i + 3] === 0x63 && data[i + 4] === 0xff && data[i + 5] === 0x4f) return data.subarray(i + 4);
  }
  return data;
}

/** What a JPEG's markers say: its precision, component ids, and the JFIF and Adobe (APP14) segments. */
export interface JpegHeader {
  sof: number;
  precision: number;
  components: number[];
  jfif: boolean;
  adobeTransform?: number;
}

/** Reads the markers up to the first scan (ITU T.81 B.1); undefined when the bytes do not start with SOI. */
export function jpegHeader(data: Uint8Array): JpegHeader | undefined {
  if (data[0] !== 0xff || data[1] !== 0xd8) return undefined;
  const h: JpegHeader = { sof: -1, precision: 0, components: [], jfif: false };
  let i = 2;
  while (i + 4 <= data.length) {
    if (data[i] !== 0xff) return h;
    const marker = data[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const len = (data[i + 2] << 8) | data[i + 3];
    const seg = data.subarray(i + 4, i + 2 + len);
    if (marker === 0xe0 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) h.jfif = true;
    if (marker === 0xee && seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') h.adobeTransform = seg[11];
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      h.sof = marker - 0xc0;
      h.precision = seg[0];
      const n = seg[5];
      for (let c = 0; c < n; c++) h.components.push(seg[6 + 3 * c]);
    }
    if (marker === 0xda) return h;
    i += 2 + len;
  }
  return h;
}

/** An Adobe APP14 segment saying "no colour transform" (transform 0), for a stream whose markers say nothing. */
const APP14_RGB = Uint8Array.from([0xff, 0xee, 0x00, 0x0e, 0x41, 0x64, 0x6f, 0x62, 0x65, 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]);

async function decodeJpegFrame(file: DicomFile, data: Uint8Array, index: number): Promise<Decoded> {
  const im = file.image;
  const h = jpegHeader(data);
  if (h === undefined || h.sof < 0) {
    throw rangeError('ERR_SONOEDGE_DICOM_DECODE', `Expected a JPEG codestream (SOI, then a frame header) in frame ${index} of ${file.where} but received ${data.length} bytes that are not`);
  }
  const lossless = h.sof === 3 || h.sof === 7 || h.sof === 11 || h.sof === 15;
  if (!lossless && h.precision > 8) {
    throw rangeError('ERR_SONOEDGE_DICOM_CODEC',
      `Expected 8-bit samples in the JPEG frame ${index} of ${file.where} but received ${h.precision}-bit (JPEG Extended, process 4); it needs a 12-bit JPEG decoder, which sonoedge does not bundle`);
  }
  const photometric = im.photometric;
  if (im.samplesPerPixel === 3) {
    const rgbIds = h.components.length === 3 && ((h.components[0] === 82 && h.components[1] === 71 && h.components[2] === 66) || (h.components[0] === 114 && h.components[1] === 103 && h.components[2] === 98));
    // A JFIF marker means YCbCr whatever the data set says; libjpeg converts it.
    // libjpeg guesses YCbCr for a stream with neither JFIF nor Adobe markers; DICOM's
    // photometric interpretation says which it is (PS3.5 8.2.1), so tell libjpeg.
    if (photometric === 'RGB' && !h.jfif && h.adobeTransform === undefined && !rgbIds && !lossless) {
      const patched = new Uint8Array(data.length + APP14_RGB.length);
      patched.set(data.subarray(0, 2));
      patched.set(APP14_RGB, 2);
      patched.set(data.subarray(2), 2 + APP14_RGB.length);
      data = patched;
    }
  }
  if (lossless && h.precision > 8) {
    const r = checkCodec(file, decodeJpegLossless(data, index, 2), index);
    return { pixels: reinterpret(r.pixels, 16, im.pixelRepresentation === 1), photometric: im.photometric, bits: 16, bitsStored: im.bitsStored };
  }
  const r = checkCodec(file, await decodeJpeg(data, index), index);
  // libjpeg-turbo returns RGB for a YCbCr stream: the conversion is done.
  const outPhotometric = im.samplesPerPixel === 3 ? 'RGB' : photometric;
  if (im.bitsAllocated === 16) {
    const wide = new Uint16Array(r.pixels.length);
    wide.set(r.pixels);
    return { pixels: reinterpret(wide, 16, im.pixelRepresentation === 1), photometric: outPhotometric, bits: 16, bitsStored: im.bitsStored };
  }
  return { pixels: reinterpret(r.pixels, 8, im.pixelRepresentation === 1), photometric: outPhotometric, bits: 8, bitsStored: im.bitsStored };
}

/** The same bytes as a typed array of the given width and signedness. */
function reinterpret(a: Samples, bits: number, signed: boolean): Samples {
  const { buffer, byteOffset, byteLength } = a;
  if (bits === 8) return signed ? new Int8Array(buffer, byteOffset, byteLength) : new Uint8Array(buffer, byteOffset, byteLength);
  return signed ? new Int16Array(buffer, byteOffset, byteLength / 2) : new Uint16Array(buffer, byteOffset, byteLength / 2);
}

/** Values of `precision` bits in a `bits`-wide array, sign extended (signed) or masked (unsigned). */
function signExtend(a: Samples, bits: number, precision: number, signed = true): Samples {
  const out = reinterpret(a.slice(), bits, signed);
  const shift = 32 - precision;
  for (let i = 0; i < out.length; i++) out[i] = signed ? (out[i] << shift) >> shift : (out[i] << shift) >>> shift;
  return out;
}

/** Unused high bits: masked (unsigned) or sign extended (signed), as PS3.5 8.1.1 says they carry nothing. */
function conformBits(a: Samples, bits: number, bitsStored: number, signed: boolean, file: DicomFile): Samples {
  const kind = file.syntax.kind;
  if (kind === 'j2k' || kind === 'htj2k' || kind === 'jpeg-ls' || bitsStored >= bits) return a;
  return signExtend(a, bits, bitsStored, signed);
}

function planarToInterleaved(src: Samples, pixels: number): Samples {
  const out = new (src.constructor as new (n: number) => Samples)(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    out[3 * p] = src[p];
    out[3 * p + 1] = src[pixels + p];
    out[3 * p + 2] = src[2 * pixels + p];
  }
  return out;
}

/** Native YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels) to YBR_FULL. */
function expand422(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, i = 0; p < pixels && i + 3 < src.length; p += 2, i += 4) {
    out[3 * p] = src[i];
    out[3 * p + 1] = src[i + 2];
    out[3 * p + 2] = src[i + 3];
    if (p + 1 < pixels) {
      out[3 * p + 3] = src[i + 1];
      out[3 * p + 4] = src[i + 2];
      out[3 * p + 5] = src[i + 3];
    }
  }
  return out;
}

// YBR_FULL to RGB (PS3.3 C.7.6.3.1.2) in float32, term by term as pydicom's matmul
// does it, then floor(x + 0.5) clipped to 0..255: the same bytes as pydicom.
const f = Math.fround;
const CR_R = f(1.402);
const CB_G = f((-0.114 * 1.772) / 0.587);
const CR_G = f((-0.299 * 1.402) / 0.587);
const CB_B = f(1.772);

function ybrToRgb(px: Uint8Array): Uint8Array {
  const out = new Uint8Array(px.length);
  const clamp = (v: number) => {
    const r = Math.floor(f(v + 0.5));
    return r < 0 ? 0 : r > 255 ? 255 : r;
  };
  for (let i = 0; i < px.length; i += 3) {
    const y = px[i];
    const cb = px[i + 1] - 128;
    const cr = px[i + 2] - 128;
    out[i] = clamp(f(f(y + f(cb * 0)) + f(cr * CR_R)));
    out[i + 1] = clamp(f(f(y + f(cb * CB_G)) + f(cr * CR_G)));
    out[i + 2] = clamp(f(f(y + f(cb * CB_B)) + f(cr * 0)));
  }
  return out;
}

/** A palette's three tables, expanded, and how to index them (PS3.3 C.7.6.3.1.5). */
export interface Palette {
  entries: number;
  firstMapped: number;
  /** 8 or 16: the width of each table entry. */
  bits: number;
  red: Uint16Array;
  green: Uint16Array;
  blue: Uint16Array;
  segmented: boolean;
}

/** Reads the Palette Color Lookup Tables, plain or segmented (C.7.9); throws ERR_SONOEDGE_DICOM_PALETTE naming what is missing. */
export function readPalette(file: DicomFile): Palette {
  const ds = file.dataset;
  const fail = (m: string) => rangeError('ERR_SONOEDGE_DICOM_PALETTE', m);
  const desc = TAG.lutDescriptor.map((t) => ds.elements[t]);
  if (desc.some((d) => d === undefined || d.length < 6)) {
    throw fail(`Expected the red, green and blue Palette Color Lookup Table Descriptors (0028,1101-1103) for PALETTE COLOR in ${file.where} but received ${desc.filter((d) => d !== undefined).length} of 3`);
  }
  const entries = ds.uint16(TAG.lutDescriptor[0], 0) || 65536;
  // The first mapped value is US or SS as the pixel representation says.
  const firstRaw = ds.uint16(TAG.lutDescriptor[0], 1) ?? 0;
  const firstMapped = file.image.pixelRepresentation === 1 && firstRaw > 32767 ? firstRaw - 65536 : firstRaw;
  const nominal = ds.uint16(TAG.lutDescriptor[0], 2) ?? 16;
  const plain = TAG.lutData.map((t) => ds.elements[t]);
  const seg = TAG.segmentedLutData.map((t) => ds.elements[t]);
  const raw = (e: DicomParser.Element) => ds.byteArray.subarray(e.dataOffset, e.dataOffset + e.length);
  const words = (e: DicomParser.Element, bytes: number): number[] => {
    const b = raw(e);
    const out: number[] = [];
    if (bytes === 1) for (let i = 0; i < b.length; i++) out.push(b[i]);
    else for (let i = 0; i + 1 < b.length; i += 2) out.push(file.syntax.bigEndian ? (b[i] << 8) | b[i + 1] : b[i] | (b[i + 1] << 8));
    return out;
  };
  let tables: number[][];
  let bits: number;
  let segmented = false;
  if (plain.every((e) => e !== undefined)) {
    // 8-bit entries may be packed in bytes (length = entries) or stored one per 16-bit word.
    bits = Math.round((plain[0]!.length / entries) * 8) === 8 ? 8 : 16;
    tables = plain.map((e) => words(e!, bits / 8));
  } else if (seg.every((e) => e !== undefined)) {
    bits = nominal <= 8 ? 8 : 16;
    segmented = true;
    tables = seg.map((e, c) => expandSegmented(words(e!, bits / 8), ['red', 'green', 'blue'][c], file.where));
  } else {
    throw fail(`Expected Palette Color Lookup Table Data (0028,1201-1203) or Segmented Palette Color Lookup Table Data (0028,1221-1223) in ${file.where} but received neither complete`);
  }
  if (!tables.every((t) => t.length === tables[0].length) || tables[0].length === 0) {
    throw fail(`Expected three palette tables of one length in ${file.where} but received lengths ${tables.map((t) => t.length).join(', ')}`);
  }
  const [red, green, blue] = tables.map((t) => Uint16Array.from(t));
  return { entries: Math.min(entries, red.length), firstMapped, bits, red, green, blue, segmented };
}

/** Expands segmented palette data (C.7.9.2): discrete, linear and indirect segments, as pydicom does. */
function expandSegmented(data: number[], channel: string, where: string, last?: number, segments = Infinity): number[] {
  const lut: number[] = [];
  let o = 0;
  for (let n = 0; n < segments && o + 1 < data.length; n++) {
    const op = data[o];
    const len = data[o + 1];
    o += 2;
    if (op === 0) {
      lut.push(...data.slice(o, o + len));
      o += len;
    } else if (op === 1) {
      const y0 = lut.length > 0 ? lut[lut.length - 1] : last;
      if (y0 === undefined) throw rangeError('ERR_SONOEDGE_DICOM_PALETTE', `Expected the ${channel} segmented palette in ${where} to start with a discrete segment but received a linear one`);
      const y1 = data[o++];
      if (y0 === y1) for (let k = 0; k < len; k++) lut.push(y1);
      else {
        // numpy.linspace(y0 + step, y1, len), rounded half to even.
        const step = (y1 - y0) / len;
        const a = y0 + step;
        const d = len > 1 ? (y1 - a) / (len - 1) : 0;
        for (let k = 0; k < len; k++) lut.push(roundHalfEven(k === len - 1 ? y1 : a + k * d));
      }
    } else if (op === 2) {
      if (lut.length === 0) throw rangeError('ERR_SONOEDGE_DICOM_PALETTE', `Expected the ${channel} segmented palette in ${where} to start with a discrete segment but received an indirect one`);
      const offset = (data[o + 1] << 16) | data[o];
      o += 2;
      // `len` segments copied from word `offset` (pydicom reads the offset as a word index too).
      lut.push(...expandSegmented(data.slice(offset), channel, where, lut[lut.length - 1], len));
    } else {
      throw rangeError('ERR_SONOEDGE_DICOM_PALETTE', `Expected segment opcodes 0, 1 or 2 in the ${channel} segmented palette of ${where} but received ${op} at word ${o - 2}`);
    }
  }
  return lut;
}

function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Palette indices to RGB through the tables: below the first mapped value the first entry, past the end the last. */
export function applyPalette(indices: Samples, palette: Palette): Uint8Array | Uint16Array {
  const out = palette.bits === 8 ? new Uint8Array(indices.length * 3) : new Uint16Array(indices.length * 3);
  const last = palette.entries - 1;
  for (let i = 0; i < indices.length; i++) {
    let k = indices[i] - palette.firstMapped;
    k = k < 0 ? 0 : k > last ? last : k;
    out[3 * i] = palette.red[k];
    out[3 * i + 1] = palette.green[k];
    out[3 * i + 2] = palette.blue[k];
  }
  return out;
}

export { dicomParser };
