// A DICOM Part 10 file, parsed once by dicom-parser, and what an ultrasound
// reader needs from it: the transfer syntax, the image pixel module (PS3.3
// C.7.6.3), the Sequence of Ultrasound Regions (C.8.5.5) with both spacings,
// timing, and the patient/study attributes a writer copies into objects it
// adds to the same study. Pixels are decoded in dicom-pixels.ts.
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';
import type * as DicomParser from 'dicom-parser';
import { rangeError } from '../errors.js';

// dicom-parser ships a UMD bundle; require() is the dependable way to load it from ESM.
export const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof DicomParser;

/** How a transfer syntax stores pixels, and whether its decoding is exact. */
export type SyntaxKind = 'native' | 'deflated' | 'rle' | 'jpeg' | 'jpeg-lossless' | 'jpeg-ls' | 'j2k' | 'htj2k' | 'video';

export interface TransferSyntax {
  uid: string;
  name: string;
  kind: SyntaxKind;
  /** The encoding can lose information (so a comparison allows a tolerance). */
  lossy: boolean;
  bigEndian: boolean;
  /** sonoedge decodes its pixels. */
  supported: boolean;
}

const SYNTAXES: [string, string, SyntaxKind, boolean][] = [
  ['1.2.840.10008.1.2', 'Implicit VR Little Endian', 'native', false],
  ['1.2.840.10008.1.2.1', 'Explicit VR Little Endian', 'native', false],
  ['1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian', 'deflated', false],
  ['1.2.840.10008.1.2.2', 'Explicit VR Big Endian', 'native', false],
  ['1.2.840.10008.1.2.5', 'RLE Lossless', 'rle', false],
  ['1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)', 'jpeg', true],
  ['1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)', 'jpeg', true],
  ['1.2.840.10008.1.2.4.57', 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg-lossless', false],
  ['1.2.840.10008.1.2.4.70', 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])', 'jpeg-lossless', false],
  ['1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless Image Compression', 'jpeg-ls', false],
  ['1.2.840.10008.1.2.4.81', 'JPEG-LS Lossy (Near-Lossless) Image Compression', 'jpeg-ls', true],
  ['1.2.840.10008.1.2.4.90', 'JPEG 2000 Image Compression (Lossless Only)', 'j2k', false],
  ['1.2.840.10008.1.2.4.91', 'JPEG 2000 Image Compression', 'j2k', true],
  ['1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Image Compression (Lossless Only)', 'htj2k', false],
  ['1.2.840.10008.1.2.4.202', 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)', 'htj2k', false],
  ['1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000 Image Compression', 'htj2k', true],
  ['1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level', 'video', true],
  ['1.2.840.10008.1.2.4.101', 'MPEG2 Main Profile / High Level', 'video', true],
  ['1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile / Level 4.1', 'video', true],
  ['1.2.840.10008.1.2.4.103', 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1', 'video', true],
  ['1.2.840.10008.1.2.4.104', 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video', 'video', true],
  ['1.2.840.10008.1.2.4.107', 'HEVC/H.265 Main Profile / Level 5.1', 'video', true],
];

const SYNTAX = new Map<string, TransferSyntax>(SYNTAXES.map(([uid, name, kind, lossy]) => [uid, {
  uid, name, kind, lossy, bigEndian: uid === '1.2.840.10008.1.2.2', supported: kind !== 'video',
}]));

/** The transfer syntax of a UID; an unknown UID is not supported. */
export function transferSyntax(uid: string): TransferSyntax {
  return SYNTAX.get(uid) ?? { uid, name: 'not a transfer syntax this reader knows', kind: 'native', lossy: false, bigEndian: false, supported: false };
}

/** Every transfer syntax the reader knows, in PS3.6 order (for docs and `dicom inspect`). */
export const knownTransferSyntaxes = (): TransferSyntax[] => [...SYNTAX.values()];

/** "1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only))". */
export function describeTransferSyntax(uid: string): string {
  return `${uid} (${transferSyntax(uid).name})`;
}

export const TAG = {
  transferSyntax: 'x00020010',
  sopClass: 'x00080016',
  sopInstance: 'x00080018',
  modality: 'x00080060',
  manufacturer: 'x00080070',
  modelName: 'x00081090',
  samplesPerPixel: 'x00280002',
  photometric: 'x00280004',
  planar: 'x00280006',
  frames: 'x00280008',
  rows: 'x00280010',
  columns: 'x00280011',
  pixelSpacing: 'x00280030',
  bitsAllocated: 'x00280100',
  bitsStored: 'x00280101',
  highBit: 'x00280102',
  pixelRepresentation: 'x00280103',
  windowCenter: 'x00281050',
  windowWidth: 'x00281051',
  rescaleIntercept: 'x00281052',
  rescaleSlope: 'x00281053',
  lutDescriptor: ['x00281101', 'x00281102', 'x00281103'],
  lutData: ['x00281201', 'x00281202', 'x00281203'],
  segmentedLutData: ['x00281221', 'x00281222', 'x00281223'],
  frameTime: 'x00181063',
  cineRate: 'x00180040',
  regions: 'x00186011',
  regionSpatialFormat: 'x00186012',
  regionDataType: 'x00186014',
  minX0: 'x00186018',
  minY0: 'x0018601a',
  maxX1: 'x0018601c',
  maxY1: 'x0018601e',
  unitsX: 'x00186024',
  unitsY: 'x00186026',
  deltaX: 'x0018602c',
  deltaY: 'x0018602e',
  imageComments: 'x00204000',
  extendedOffsetTable: 'x7fe00001',
  pixelData: 'x7fe00010',
} as const;

export const tagName = (tag: string): string => `(${tag.slice(1, 5)},${tag.slice(5)})`.toUpperCase();

const dicomError = (message: string) => rangeError('ERR_SONOEDGE_DICOM', message);

/** Units of a region's physical deltas (PS3.3 C.8.5.5.1.15); 3 is cm. */
export const REGION_UNITS: Record<number, string> = { 0: 'none', 1: 'percent', 2: 'dB', 3: 'cm', 4: 'seconds', 5: 'hertz', 6: 'dB/seconds', 7: 'cm/sec', 8: 'cm2', 9: 'cm2/sec', 10: 'cm3', 11: 'cm3/sec', 12: 'degrees' };
/** Region spatial formats (C.8.5.5.1.1). */
export const REGION_FORMATS: Record<number, string> = { 0: 'none', 1: '2D', 2: 'M-mode', 3: 'spectral', 4: 'waveform', 5: 'graphics' };

/** One item of the Sequence of Ultrasound Regions, as written (box inclusive, deltas in the region's units). */
export interface UltrasoundRegion {
  index: number;
  spatialFormat: number;
  dataType?: number;
  x0?: number; y0?: number; x1?: number; y1?: number;
  unitsX?: number; unitsY?: number;
  deltaX?: number; deltaY?: number;
}

/** The image pixel module and what surrounds it, as the file declares them. */
export interface DicomImageInfo {
  rows: number;
  columns: number;
  samplesPerPixel: number;
  photometric: string;
  /** 0: colour-by-pixel (interleaved), 1: colour-by-plane; undefined for one sample. */
  planarConfiguration?: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: number;
  /** NumberOfFrames, 1 when absent. */
  frames: number;
  /** Row spacing \ column spacing in mm (0028,0030), when present. */
  pixelSpacing?: [number, number];
  frameTimeMs?: number;
  regions: UltrasoundRegion[];
  /** First window centre and width (0028,1050/1051), when present. */
  window?: { center: number; width: number };
  rescale?: { slope: number; intercept: number };
}

/** A parsed file: the data set (for any attribute a caller needs), its transfer syntax and the image description. */
export interface DicomFile {
  where: string;
  dataset: DicomParser.DataSet;
  syntax: TransferSyntax;
  image: DicomImageInfo;
  sopClassUid?: string;
  modality?: string;
}

const str = (ds: DicomParser.DataSet, tag: string): string | undefined => {
  const v = ds.string(tag);
  return v === undefined ? undefined : v.replace(/\0/g, '').trim();
};

/** dicom-parser throws strings, Errors, or { exception, dataSet }; one message either way. */
function reason(err: unknown): string {
  const e = (err as { exception?: unknown })?.exception ?? err;
  return String(e instanceof Error ? e.message : e).replace(/^dicomParser\.\w+: /, '');
}

/**
 * Parses a Part 10 file (preamble, "DICM", meta group) in any transfer syntax
 * dicom-parser reads; refuses one whose pixels sonoedge cannot decode with the
 * transfer syntax named. `where` names the file in messages.
 */
export function parseDicomFile(bytes: Uint8Array, where = 'the input'): DicomFile {
  let header: DicomParser.DataSet;
  try {
    header = dicomParser.readPart10Header(bytes);
  } catch (err) {
    throw dicomError(`Expected a DICOM Part 10 file (a 128-byte preamble, then "DICM") at ${where} but received ${bytes.length} bytes that are not (${reason(err)})`);
  }
  const uid = str(header, TAG.transferSyntax) ?? '';
  if (uid === '') {
    throw rangeError('ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX', `Expected a Transfer Syntax UID (0002,0010) in the file meta information of ${where} but received none`);
  }
  const syntax = transferSyntax(uid);
  if (!syntax.supported) {
    throw rangeError('ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX',
      `Expected a transfer syntax sonoedge decodes (uncompressed, deflated, RLE, JPEG, JPEG-LS, JPEG 2000 or HTJ2K) but received ${describeTransferSyntax(uid)}`
      + (syntax.kind === 'video' ? '; video syntaxes need a video decoder, which sonoedge does not bundle' : ''));
  }
  let dataset: DicomParser.DataSet;
  try {
    dataset = dicomParser.parseDicom(bytes, {
      // Node's own zlib, on a plain Uint8Array as well as a Buffer.
      inflater: (array: Uint8Array, position: number) => {
        const inflated = inflateRawSync(array.subarray(position));
        const full = new Uint8Array(position + inflated.length);
        full.set(array.subarray(0, position));
        full.set(inflated, position);
        return full;
      },
    } as DicomParser.ParseDicomOptions);
  } catch (err) {
    throw dicomError(`Expected a complete DICOM data set in ${where} but received one that ends early or is corrupt (${reason(err)})`);
  }
  return {
    where, dataset, syntax, image: imageInfo(dataset, where),
    ...optional('sopClassUid', str(dataset, TAG.sopClass)),
    ...optional('modality', str(dataset, TAG.modality)),
  };
}

const optional = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } => (v === undefined ? {} : { [k]: v } as { [P in K]: V });

function requireUint16(ds: DicomParser.DataSet, tag: string, name: string, where: string): number {
  const v = ds.uint16(tag);
  if (v === undefined) throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', `Expected ${name} ${tagName(tag)} in ${where} but received none`);
  return v;
}

const finite = (v: number | undefined): number | undefined => (v !== undefined && Number.isFinite(v) ? v : undefined);

function imageInfo(ds: DicomParser.DataSet, where: string): DicomImageInfo {
  const has = (tag: string) => ds.elements[tag] !== undefined;
  if (!has(TAG.pixelData)) throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', `Expected pixel data (7FE0,0010) in ${where} but received none`);
  const rows = requireUint16(ds, TAG.rows, 'Rows', where);
  const columns = requireUint16(ds, TAG.columns, 'Columns', where);
  const bitsAllocated = requireUint16(ds, TAG.bitsAllocated, 'Bits Allocated', where);
  const bitsStored = ds.uint16(TAG.bitsStored) ?? bitsAllocated;
  const framesText = str(ds, TAG.frames);
  const frames = framesText === undefined || framesText === '' ? 1 : Number(framesText);
  if (!Number.isInteger(frames) || frames < 1) {
    throw rangeError('ERR_SONOEDGE_DICOM_PIXEL_DATA', `Expected Number of Frames (0028,0008) of at least 1 in ${where} but received ${JSON.stringify(framesText)}`);
  }
  const info: DicomImageInfo = {
    rows, columns, bitsAllocated, bitsStored, frames,
    samplesPerPixel: ds.uint16(TAG.samplesPerPixel) ?? 1,
    photometric: str(ds, TAG.photometric) ?? 'MONOCHROME2',
    highBit: ds.uint16(TAG.highBit) ?? bitsStored - 1,
    pixelRepresentation: ds.uint16(TAG.pixelRepresentation) ?? 0,
    regions: regions(ds),
  };
  if (info.samplesPerPixel > 1) info.planarConfiguration = ds.uint16(TAG.planar) ?? 0;
  const ps = [finite(ds.floatString(TAG.pixelSpacing, 0)), finite(ds.floatString(TAG.pixelSpacing, 1))];
  if (ps[0] !== undefined && ps[1] !== undefined && ps[0] > 0 && ps[1] > 0) info.pixelSpacing = [ps[0], ps[1]];
  const cineRate = ds.intString(TAG.cineRate);
  const frameTime = finite(ds.floatString(TAG.frameTime)) ?? (cineRate ? 1000 / cineRate : undefined);
  if (frameTime !== undefined && frameTime > 0 && Number.isFinite(frameTime)) info.frameTimeMs = frameTime;
  const wc = finite(ds.floatString(TAG.windowCenter, 0));
  const ww = finite(ds.floatString(TAG.windowWidth, 0));
  if (wc !== undefined && ww !== undefined && ww >= 1) info.window = { center: wc, width: ww };
  const slope = finite(ds.floatString(TAG.rescaleSlope));
  const intercept = finite(ds.floatString(TAG.rescaleIntercept));
  if (slope !== undefined || intercept !== undefined) info.rescale = { slope: slope ?? 1, intercept: intercept ?? 0 };
  return info;
}

function regions(ds: DicomParser.DataSet): UltrasoundRegion[] {
  const items = ds.elements[TAG.regions]?.items ?? [];
  const out: UltrasoundRegion[] = [];
  items.forEach((item, index) => {
    const d = item.dataSet;
    if (d === undefined) return;
    const r: UltrasoundRegion = { index, spatialFormat: d.uint16(TAG.regionSpatialFormat) ?? 0 };
    const put = <K extends keyof UltrasoundRegion>(k: K, v: UltrasoundRegion[K] | undefined) => {
      if (v !== undefined) r[k] = v;
    };
    put('dataType', d.uint16(TAG.regionDataType));
    put('x0', d.uint32(TAG.minX0));
    put('y0', d.uint32(TAG.minY0));
    put('x1', d.uint32(TAG.maxX1));
    put('y1', d.uint32(TAG.maxY1));
    put('unitsX', d.uint16(TAG.unitsX));
    put('unitsY', d.uint16(TAG.unitsY));
    put('deltaX', finite(d.double(TAG.deltaX)));
    put('deltaY', finite(d.double(TAG.deltaY)));
    out.push(r);
  });
  return out;
}

/**
 * The patient, study and series attributes a writer copies into a new object
 * of the same study (keyword to value, only those present), e.g. an SR or a
 * captured clip. Strings as stored, padding removed.
 */
export function studyAttributes(file: DicomFile): Record<string, string> {
  const tags: [string, string][] = [
    ['PatientName', 'x00100010'], ['PatientID', 'x00100020'], ['PatientBirthDate', 'x00100030'], ['PatientSex', 'x00100040'],
    ['StudyInstanceUID', 'x0020000d'], ['StudyID', 'x00200010'], ['StudyDate', 'x00080020'], ['StudyTime', 'x00080030'],
    ['AccessionNumber', 'x00080050'], ['ReferringPhysicianName', 'x00080090'], ['StudyDescription', 'x00081030'],
    ['SeriesInstanceUID', 'x0020000e'], ['SeriesNumber', 'x00200011'], ['Modality', 'x00080060'],
    ['FrameOfReferenceUID', 'x00200052'], ['SOPClassUID', 'x00080016'], ['SOPInstanceUID', 'x00080018'],
    ['Manufacturer', 'x00080070'], ['ManufacturerModelName', 'x00081090'], ['SpecificCharacterSet', 'x00080005'],
  ];
  const out: Record<string, string> = {};
  for (const [keyword, tag] of tags) {
    const v = str(file.dataset, tag);
    if (v !== undefined && v !== '') out[keyword] = v;
  }
  return out;
}
