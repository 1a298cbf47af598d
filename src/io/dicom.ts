// DICOM multi-frame ultrasound (PS3.3 A.7, US Multi-frame Image) into a Cine:
// dicom-parser reads the data set; we decode the pixels of the transfer
// syntaxes replay supports (uncompressed little endian, RLE Lossless, JPEG
// Baseline via jpeg-js) and read pixel spacing, the image region and frame
// time the way ultrasound writes them (the Sequence of Ultrasound Regions).
import { createRequire } from 'node:module';
import type * as DicomParser from 'dicom-parser';
import jpeg from 'jpeg-js';
import { coded, rangeError } from '../errors.js';
import type { Roi } from '../preprocess/options.js';
import { decodeRleFrame } from './rle.js';
import type { Cine, CineFormat } from './types.js';

// dicom-parser ships a UMD bundle; require() is the dependable way to load it from ESM.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParser;

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const RLE = '1.2.840.10008.1.2.5';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const SUPPORTED = [IMPLICIT_LE, EXPLICIT_LE, RLE, JPEG_BASELINE];

/** Names of the transfer syntaxes one meets (PS3.6 Table A-1), for messages. */
const SYNTAX_NAMES: Record<string, string> = {
  [IMPLICIT_LE]: 'Implicit VR Little Endian',
  [EXPLICIT_LE]: 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  [RLE]: 'RLE Lossless',
  [JPEG_BASELINE]: 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless Image Compression',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless) Image Compression',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000 Image Compression',
};

const T = {
  transferSyntax: 'x00020010',
  samplesPerPixel: 'x00280002',
  photometric: 'x00280004',
  planar: 'x00280006',
  frames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  pixelSpacing: 'x00280030',
  bitsAllocated: 'x00280100',
  frameTime: 'x00181063',
  cineRate: 'x00180040',
  regions: 'x00186011',
  regionSpatialFormat: 'x00186012',
  minX0: 'x00186018',
  minY0: 'x0018601a',
  maxX1: 'x0018601c',
  maxY1: 'x0018601e',
  unitsX: 'x00186024',
  deltaX: 'x0018602c',
  imageComments: 'x00204000',
  pixelData: 'x7fe00010',
} as const;

const dicomError = (message: string) => rangeError('ERR_SONOEDGE_DICOM', message);

/** "1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only))". */
export function describeTransferSyntax(uid: string): string {
  const name = SYNTAX_NAMES[uid];
  return name ? `${uid} (${name})` : `${uid} (not a transfer syntax this reader knows)`;
}

function parse(bytes: Uint8Array, where: string): DicomParser.DataSet {
  // dicom-parser throws strings, Errors, or { exception, dataSet }; one message either way.
  const reason = (err: unknown): string => {
    const e = (err as { exception?: unknown })?.exception ?? err;
    return String(e instanceof Error ? e.message : e).replace(/^dicomParser\.\w+: /, '');
  };
  let header: DicomParser.DataSet;
  try {
    header = dicomParser.readPart10Header(bytes);
  } catch (err) {
    throw dicomError(`Expected a DICOM Part 10 file (a 128-byte preamble, then "DICM") at ${where} but received ${bytes.length} bytes that are not (${reason(err)})`);
  }
  const uid = (header.string(T.transferSyntax) ?? '').replace(/\0/g, '').trim();
  if (!SUPPORTED.includes(uid)) {
    throw rangeError('ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX',
      `Expected an uncompressed, RLE or JPEG baseline transfer syntax but received ${uid === '' ? 'none' : describeTransferSyntax(uid)}`);
  }
  try {
    return dicomParser.parseDicom(bytes);
  } catch (err) {
    throw dicomError(`Expected a complete DICOM data set in ${where} but received one that ends early or is corrupt (${reason(err)})`);
  }
}

function requireUint16(ds: DicomParser.DataSet, tag: string, name: string): number {
  const v = ds.uint16(tag);
  if (v === undefined) throw dicomError(`Expected ${name} (${tagName(tag)}) but received none`);
  return v;
}

const tagName = (tag: string): string => `${tag.slice(1, 5)},${tag.slice(5)}`.toUpperCase();

/** The first 2D region of the Sequence of Ultrasound Regions, in cm (units 3) only. */
function ultrasoundRegion(ds: DicomParser.DataSet, width: number, height: number): { spacingMm?: number; roi?: Roi } {
  const items = ds.elements[T.regions]?.items ?? [];
  const region = items.map((i) => i.dataSet).find((d) => d !== undefined && (d.uint16(T.regionSpatialFormat) ?? 1) === 1)
    ?? items[0]?.dataSet;
  if (region === undefined) return {};
  const out: { spacingMm?: number; roi?: Roi } = {};
  const delta = region.double(T.deltaX);
  if (region.uint16(T.unitsX) === 3 && delta !== undefined && delta > 0 && Number.isFinite(delta)) out.spacingMm = delta * 10;
  const [x0, y0, x1, y1] = [T.minX0, T.minY0, T.maxX1, T.maxY1].map((t) => region.uint32(t));
  if (x0 !== undefined && y0 !== undefined && x1 !== undefined && y1 !== undefined) {
    if (x1 < x0 || y1 < y0 || x1 >= width || y1 >= height) {
      throw dicomError(`Expected the ultrasound region (0018,6018..601E) inside the ${width}x${height} frame but received x ${x0}..${x1}, y ${y0}..${y1}`);
    }
    out.roi = { x: x0, y: y0, width: x1 - x0 + 1, height: y1 - y0 + 1 };
  }
  return out;
}

/** YCbCr full range (PS3.3 C.7.6.3.1.2) to RGB, in place. */
function ybrToRgb(px: Uint8Array): void {
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  for (let i = 0; i < px.length; i += 3) {
    const y = px[i];
    const cb = px[i + 1] - 128;
    const cr = px[i + 2] - 128;
    px[i] = clamp(y + 1.402 * cr);
    px[i + 1] = clamp(y - 0.344136 * cb - 0.714136 * cr);
    px[i + 2] = clamp(y + 1.772 * cb);
  }
}

/** Native YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels) to YBR_FULL. */
function expand422(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0, i = 0; p < pixels && i + 3 < src.length; p += 2, i += 4) {
    out.set([src[i], src[i + 2], src[i + 3]], p * 3);
    if (p + 1 < pixels) out.set([src[i + 1], src[i + 2], src[i + 3]], (p + 1) * 3);
  }
  return out;
}

function planarToInterleaved(src: Uint8Array, pixels: number): Uint8Array {
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    out[3 * p] = src[p];
    out[3 * p + 1] = src[pixels + p];
    out[3 * p + 2] = src[2 * pixels + p];
  }
  return out;
}

/** Each frame's compressed bytes: from the offset table, one fragment per frame, or JPEG markers. */
function encapsulatedFrames(ds: DicomParser.DataSet, el: DicomParser.Element, count: number, jpegSyntax: boolean): Uint8Array[] {
  const fragments = el.fragments ?? [];
  const bot = el.basicOffsetTable ?? [];
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    if (bot.length === count) frames.push(dicomParser.readEncapsulatedImageFrame(ds, el, i));
    else if (fragments.length === count) frames.push(dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, i, 1));
    else if (count === 1) frames.push(dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, fragments.length));
    else if (jpegSyntax) frames.push(dicomParser.readEncapsulatedImageFrame(ds, el, i, dicomParser.createJPEGBasicOffsetTable(ds, el)));
    else {
      throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA',
        `Expected ${count} frames from the basic offset table or one fragment per frame but received ${bot.length} offsets and ${fragments.length} fragments`);
    }
  }
  return frames;
}

function decodeJpeg(data: Uint8Array, width: number, height: number, samples: number, frame: number): Uint8Array {
  let img: { width: number; height: number; data: Uint8Array };
  try {
    img = jpeg.decode(data, { useTArray: true, formatAsRGBA: false, tolerantDecoding: false });
  } catch (err) {
    throw rangeError('ERR_SONOEDGE_JPEG', `Expected a decodable JPEG baseline frame ${frame} but received ${data.length} bytes that are not (${(err as Error).message})`);
  }
  if (img.width !== width || img.height !== height) {
    throw rangeError('ERR_SONOEDGE_JPEG', `Expected JPEG frame ${frame} of ${width}x${height} (Columns x Rows) but received ${img.width}x${img.height}`);
  }
  if (samples === 3) return img.data;
  // jpeg-js always returns three channels; a one-component image repeats its value.
  const gray = new Uint8Array(width * height);
  for (let p = 0; p < gray.length; p++) gray[p] = img.data[3 * p];
  return gray;
}

/** Reads a DICOM multi-frame ultrasound file's bytes; `where` names it in messages. */
export function readDicom(bytes: Uint8Array, where = 'the input'): Cine {
  const ds = parse(bytes, where);
  const uid = (ds.string(T.transferSyntax) ?? '').replace(/\0/g, '').trim();
  const height = requireUint16(ds, T.rows, 'Rows');
  const width = requireUint16(ds, T.columns, 'Columns');
  const samples = ds.uint16(T.samplesPerPixel) ?? 1;
  const bits = ds.uint16(T.bitsAllocated) ?? 8;
  const count = ds.intString(T.frames) ?? 1;
  const photometric = (ds.string(T.photometric) ?? 'MONOCHROME2').trim();
  if (bits !== 8) throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', `Expected 8 bits allocated per sample but received ${bits}`);
  if (width < 1 || height < 1 || !Number.isInteger(count) || count < 1) {
    throw dicomError(`Expected Rows, Columns and NumberOfFrames of at least 1 but received ${height}, ${width}, ${count}`);
  }
  const gray = ['MONOCHROME1', 'MONOCHROME2'];
  const colour = ['RGB', 'YBR_FULL', 'YBR_FULL_422'];
  const wantSamples = gray.includes(photometric) ? 1 : colour.includes(photometric) ? 3 : 0;
  if (wantSamples === 0) {
    throw rangeError('ERR_SONOEDGE_DICOM_PHOTOMETRIC',
      `Expected a photometric interpretation of MONOCHROME1, MONOCHROME2, RGB, YBR_FULL or YBR_FULL_422 but received ${JSON.stringify(photometric)}`);
  }
  if (samples !== wantSamples) {
    throw rangeError('ERR_SONOEDGE_DICOM_PHOTOMETRIC', `Expected ${wantSamples} samples per pixel for ${photometric} but received ${samples}`);
  }
  const el = ds.elements[T.pixelData];
  if (el === undefined) throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', 'Expected pixel data (7FE0,0010) but received none');
  const pixels = width * height;
  const frameBytes = pixels * samples;

  let frames: Uint8Array[];
  if (uid === RLE || uid === JPEG_BASELINE) {
    if (el.encapsulatedPixelData !== true) {
      throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', `Expected encapsulated pixel data for ${describeTransferSyntax(uid)} but received native pixel data`);
    }
    let blobs: Uint8Array[];
    try {
      blobs = encapsulatedFrames(ds, el, count, uid === JPEG_BASELINE);
    } catch (err) {
      if ((err as { code?: string }).code) throw err;
      throw coded(new Error(`Expected ${count} encapsulated frames but received pixel data dicom-parser cannot split (${String((err as Error).message ?? err)})`), 'ERR_SONOEDGE_DICOM_PIXEL_DATA');
    }
    frames = blobs.map((b, i) => (uid === RLE ? decodeRleFrame(b, pixels, samples, i) : decodeJpeg(b, width, height, samples, i)));
  } else {
    // Native pixels: frames back to back; an odd total is padded to even, so compare with >=.
    const need = frameBytes * count * (photometric === 'YBR_FULL_422' ? 2 / 3 : 1);
    if (el.length < need) {
      throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA',
        `Expected ${need} bytes of pixel data (${count} frames of ${width}x${height}x${samples}) but received ${el.length}`);
    }
    const per = need / count;
    frames = Array.from({ length: count }, (_, i) => bytes.subarray(el.dataOffset + i * per, el.dataOffset + (i + 1) * per));
    if (photometric === 'YBR_FULL_422') frames = frames.map((f) => expand422(f, pixels));
    else if (samples === 3 && ds.uint16(T.planar) === 1) frames = frames.map((f) => planarToInterleaved(f, pixels));
  }

  // JPEG's decoder already returns RGB; native and RLE YBR need converting.
  if (uid !== JPEG_BASELINE && photometric.startsWith('YBR_FULL')) {
    frames = frames.map((f) => {
      const c = f.byteOffset === 0 && f.length === f.buffer.byteLength ? f : f.slice();
      ybrToRgb(c);
      return c;
    });
  }
  if (photometric === 'MONOCHROME1') frames = frames.map((f) => f.map((v) => 255 - v));

  const format: CineFormat = samples === 3 ? 'RGB8' : 'GRAY8';
  const cine: Cine = { width, height, format, frames };
  const region = ultrasoundRegion(ds, width, height);
  const spacing = region.spacingMm ?? ds.floatString(T.pixelSpacing, 1);
  if (spacing !== undefined && spacing > 0 && Number.isFinite(spacing)) cine.pixelSpacingMm = spacing;
  if (region.roi) cine.sectorRoi = region.roi;
  const frameTime = ds.floatString(T.frameTime) ?? (ds.intString(T.cineRate) ? 1000 / ds.intString(T.cineRate)! : undefined);
  if (frameTime !== undefined && frameTime > 0 && Number.isFinite(frameTime)) cine.frameTimeMs = frameTime;
  const comments = ds.string(T.imageComments);
  if (comments !== undefined) {
    try {
      cine.labels = JSON.parse(comments);
    } catch {
      // free text: not labels
    }
  }
  return cine;
}
