// DICOM objects for a captured clip, written with dcmjs (Part 10, Explicit VR
// Little Endian), all in the study of the input:
// - the clip: an Ultrasound Multi-frame Image (PS3.3 A.7) holding the frames
//   as received (grey or colour, 8 or 16 bits), the ultrasound region with
//   both spacings, and the frame time (Cine module);
// - the measurements: a Comprehensive SR following TID 5200 (Adult
//   Echocardiography Procedure Report): the device as observer, an image
//   library referencing the clip, and a Findings section on the left ventricle
//   (TID 5202/5203) with EF, end-diastolic and end-systolic volumes and areas,
//   each with its method (area-length, single plane), its view, the algorithm
//   (TID 4019: name, version, model packages and sha256) and the clip frames
//   it comes from, plus the clip's image quality;
// - optionally a Secondary Capture: the end-diastolic frame in RGB with the LV
//   outline drawn in.
// docs/DICOM.md ("What is written") lists the attributes and codes.
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { rangeError } from '../errors.js';
import { VERSION } from '../version.js';
import { dcmjs, type Naturalized } from './dcmjs.js';

export const SOP_CLASS = {
  usMultiframe: '1.2.840.10008.5.1.4.1.1.3.1',
  comprehensiveSr: '1.2.840.10008.5.1.4.1.1.88.33',
  secondaryCapture: '1.2.840.10008.5.1.4.1.1.7',
} as const;
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
/** sonoedge's implementation class UID (a UUID-derived UID, PS3.5 B.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.314499641548615340191501448804656892362';
export const IMPLEMENTATION_VERSION = `SONOEDGE_${VERSION}`.slice(0, 16);

/** A new UUID-derived UID (PS3.5 B.2): "2.25." and the UUID as a decimal integer. */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString()}`;
}

/** A UID derived from a name (the first 128 bits of its SHA-256, as PS3.5 B.2 does with a UUID): the same name, the same UID. */
export function uidFromName(name: string): string {
  const hex = createHash('sha256').update(name).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

/** Frame pixel formats the clip writer takes (the socket protocol's). */
export type ClipPixelFormat = 'GRAY8' | 'GRAY16' | 'RGB8' | 'BGR8' | 'RGBA8' | 'BGRA8' | 'YUYV' | 'NV12';
const BYTES_PER_PIXEL: Record<ClipPixelFormat, number> = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 };

/** The clip's frames as the runtime received them (copies), and their geometry. */
export interface ClipFrames {
  width: number;
  height: number;
  format: ClipPixelFormat;
  /** Bytes per row (default packed). */
  stride?: number;
  /** NV12: offset of the UV plane (default stride * height). */
  uvOffset?: number;
  frames: Uint8Array[];
}

/** The patient and study attributes of the input (keyword to value), as `studyAttributes()` returns them or CONFIGURE_STREAM carries them. */
export type StudyAttributes = Record<string, string>;

/** A model package that produced the measurements. */
export interface ModelUse {
  /** name@version. */
  id: string;
  variant: string;
  /** sha256 of the variant's model file. */
  sha256: string;
  /** sha256 of the package's manifest (which names every file's sha256). */
  manifestSha256: string;
}

/** What the runtime measured on the clip (frames are 0-based indices into the clip). */
export interface ClipMeasurements {
  view: string;
  /** Mean and lowest smoothed quality over the clip's frames. */
  qualityMean: number;
  qualityMin: number;
  ef?: {
    /** Percent, as the runtime reported it. */
    ef: number;
    efRaw: number;
    ci: [number, number] | null;
    quality: 'ok' | 'low';
    method: 'beats' | 'window';
    beats: number;
    edvMl: number;
    esvMl: number;
    /** Clip frame indices of ED and ES (absent when that frame is not in the clip). */
    edFrame?: number;
    esFrame?: number;
  };
  /** LV areas at ED and ES in mm2, when those frames were segmented. */
  edAreaMm2?: number;
  esAreaMm2?: number;
}

/** Everything the writer needs for one captured clip. */
export interface ClipRecord {
  study: StudyAttributes;
  frames: ClipFrames;
  frameTimeMs: number;
  /** Millimetres per pixel, [x, y]. */
  spacingMm: readonly [number, number];
  /** The image sector's box (the ultrasound region); default the whole frame. */
  sectorRoi?: { x: number; y: number; width: number; height: number };
  /** The stream's frame seqs of the clip's frames. */
  seqs: number[];
  /** When the clip's first frame was acquired (wall clock). */
  acquiredAt: Date;
  measurements: ClipMeasurements;
  models: ModelUse[];
  /** The LV outline in frame pixels (x0,y0,x1,y1,...) per clip frame, where segmented. */
  contours: (number[] | undefined)[];
  /** The input had been lossy-compressed (a replayed JPEG study): Lossy Image Compression "01". */
  lossySource?: boolean;
}

/** The UIDs and numbers of one capture's objects; made once, so that a resend is the same instance. */
export interface CaptureUids {
  study: string;
  clipSeries: string;
  srSeries: string;
  scSeries: string;
  clip: string;
  sr: string;
  sc: string;
  instanceNumber: number;
}

export interface WriterOptions {
  /** Equipment: Manufacturer (default "sonoedge"), Station Name, Institution Name. */
  manufacturer?: string;
  stationName?: string;
  institutionName?: string;
  /** The device observer UID in the SR (default derived from the host name). */
  deviceUid?: string;
  /** Also write a Secondary Capture with the LV outline (default false). */
  secondaryCapture?: boolean;
  /** The outline's colour in the Secondary Capture (default green). */
  outlineRgb?: [number, number, number];
  /** Series numbers of the clip, SC and SR series (default 901, 902, 903). */
  seriesNumbers?: [number, number, number];
}

/** A written object: its file name, SOP class and instance, and its bytes. */
export interface WrittenObject {
  kind: 'clip' | 'sr' | 'sc';
  sopClassUid: string;
  sopInstanceUid: string;
  bytes: Uint8Array;
}

const writerError = (message: string) => rangeError('ERR_SONOEDGE_DICOM_WRITE', message);

/** Makes the UIDs of one capture in `study` (series UIDs may be shared by the captures of one stream). */
export function captureUids(study: StudyAttributes, series?: Pick<CaptureUids, 'clipSeries' | 'srSeries' | 'scSeries'>, instanceNumber = 1): CaptureUids {
  return {
    study: study.StudyInstanceUID ?? newUid(),
    clipSeries: series?.clipSeries ?? newUid(),
    srSeries: series?.srSeries ?? newUid(),
    scSeries: series?.scSeries ?? newUid(),
    clip: newUid(),
    sr: newUid(),
    sc: newUid(),
    instanceNumber,
  };
}

// --- values ------------------------------------------------------------------

const pad2 = (n: number) => String(n).padStart(2, '0');
/** DA and TM of a date, local time (as modalities write them). */
export function dicomDate(d: Date): string {
  return `${d.getFullYear()}${pad2(d.getMonth() + 1)}${pad2(d.getDate())}`;
}
export function dicomTime(d: Date): string {
  return `${pad2(d.getHours())}${pad2(d.getMinutes())}${pad2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** A decimal string (DS, at most 16 characters) as close to `v` as fits. */
export function decimalString(v: number): string {
  if (!Number.isFinite(v)) throw writerError(`Expected a finite number for a DICOM decimal string but received ${v}`);
  for (let digits = 16; digits >= 1; digits--) {
    const s = String(Number(v.toPrecision(digits)));
    if (s.length <= 16) return s;
  }
  return v.toExponential(8);
}

interface Code { CodeValue: string; CodingSchemeDesignator: string; CodeMeaning: string }
const code = (value: string, scheme: string, meaning: string): Code => ({ CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning });

/** The codes the SR uses (PS3.16). */
export const CODES = {
  echoReport: code('125200', 'DCM', 'Adult Echocardiography Procedure Report'),
  observerType: code('121005', 'DCM', 'Observer Type'),
  device: code('121007', 'DCM', 'Device'),
  deviceUid: code('121012', 'DCM', 'Device Observer UID'),
  deviceName: code('121013', 'DCM', 'Device Observer Name'),
  deviceManufacturer: code('121014', 'DCM', 'Device Observer Manufacturer'),
  deviceModel: code('121015', 'DCM', 'Device Observer Model Name'),
  procedureReported: code('121058', 'DCM', 'Procedure reported'),
  echocardiography: code('40701008', 'SCT', 'Echocardiography'),
  imageLibrary: code('111028', 'DCM', 'Image Library'),
  findings: code('121070', 'DCM', 'Findings'),
  findingSite: code('363698007', 'SCT', 'Finding Site'),
  leftVentricle: code('87878005', 'SCT', 'Left Ventricle'),
  ef: code('18043-0', 'LN', 'Left Ventricular Ejection Fraction by US'),
  edv: code('18026-5', 'LN', 'Left Ventricular End Diastolic Volume'),
  esv: code('18148-7', 'LN', 'Left Ventricular End Systolic Volume'),
  edArea: code('399109006', 'SCT', 'Left Ventricular Diastolic Area'),
  esArea: code('399030000', 'SCT', 'Left Ventricular Systolic Area'),
  measurementMethod: code('370129005', 'SCT', 'Measurement Method'),
  areaLengthSinglePlane: code('125205', 'DCM', 'Area-Length Single Plane'),
  imageView: code('111031', 'DCM', 'Image View'),
  cardiacPhase: code('246092007', 'SCT', 'Cardiac cycle phase'),
  endDiastole: code('416190007', 'SCT', 'End diastole'),
  endSystole: code('416430001', 'SCT', 'End Systole'),
  imageQuality: code('111029', 'DCM', 'Image Quality Rating'),
  algorithmName: code('111001', 'DCM', 'Algorithm Name'),
  algorithmVersion: code('111003', 'DCM', 'Algorithm Version'),
  algorithmParameters: code('111002', 'DCM', 'Algorithm Parameters'),
  percent: code('%', 'UCUM', '%'),
  ml: code('ml', 'UCUM', 'ml'),
  cm2: code('cm2', 'UCUM', 'cm2'),
  noUnits: code('1', 'UCUM', 'no units'),
} as const;

/** The sonoedge view labels as echocardiography image views (CID 12226). */
export const VIEW_CODES: Record<string, Code> = {
  A4C: code('399214001', 'SCT', 'Apical four chamber'),
  A2C: code('399232001', 'SCT', 'Apical two chamber'),
  PLAX: code('399139001', 'SCT', 'Parasternal long axis'),
  PSAX: code('399306005', 'SCT', 'Parasternal short axis'),
};

// --- pixels ------------------------------------------------------------------

/** The clip's pixels as DICOM stores them: the photometric interpretation and all frames back to back. */
export interface DicomPixels {
  photometric: 'MONOCHROME2' | 'RGB';
  samples: 1 | 3;
  bits: 8;
  data: Uint8Array;
  /** What was done to the received pixels. */
  conversion: string;
}

const clamp8 = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/**
 * The frames as DICOM pixel data: GRAY8 as MONOCHROME2, exactly; GRAY16 (little endian) as MONOCHROME2 of its high
 * bytes (the US Image module allows 8 bits only, PS3.3 C.8.5.6.1); RGB8 as RGB; BGR8,
 * RGBA8 and BGRA8 reordered to RGB (alpha dropped); YUYV and NV12 converted to RGB with the full-range BT.601
 * formula (PS3.3 C.7.6.3.1.2, YBR_FULL). Row padding (stride) is removed.
 */
export function dicomPixels(clip: ClipFrames): DicomPixels {
  const { width: w, height: h, format } = clip;
  if (!(format in BYTES_PER_PIXEL)) throw writerError(`Expected a clip pixel format (${Object.keys(BYTES_PER_PIXEL).join(', ')}) but received ${JSON.stringify(format)}`);
  const bpp = BYTES_PER_PIXEL[format];
  const stride = clip.stride ?? w * bpp;
  const gray = format === 'GRAY8' || format === 'GRAY16';
  const samples = gray ? 1 : 3;
  const bits = 8;
  const frameBytes = w * h * samples;
  const need = format === 'NV12' ? (clip.uvOffset ?? stride * h) + stride * Math.ceil(h / 2) : stride * (h - 1) + w * bpp;
  const data = new Uint8Array(frameBytes * clip.frames.length);
  clip.frames.forEach((f, k) => {
    if (f.length < need) throw writerError(`Expected clip frame ${k} of ${need} bytes (${w}x${h} ${format}) but received ${f.length}`);
    const out = data.subarray(k * frameBytes, (k + 1) * frameBytes);
    for (let y = 0; y < h; y++) {
      const row = y * stride;
      const o = y * w * samples;
      switch (format) {
        case 'GRAY8': case 'RGB8':
          out.set(f.subarray(row, row + w * bpp), o);
          break;
        case 'GRAY16':
          for (let x = 0; x < w; x++) out[o + x] = f[row + 2 * x + 1];
          break;
        case 'BGR8': case 'RGBA8': case 'BGRA8': {
          const [r, b] = format === 'RGBA8' ? [0, 2] : [2, 0];
          for (let x = 0; x < w; x++) {
            out[o + 3 * x] = f[row + bpp * x + r];
            out[o + 3 * x + 1] = f[row + bpp * x + 1];
            out[o + 3 * x + 2] = f[row + bpp * x + b];
          }
          break;
        }
        case 'YUYV': case 'NV12': {
          const uv = (clip.uvOffset ?? stride * h) + (y >> 1) * stride;
          for (let x = 0; x < w; x++) {
            const Y = format === 'YUYV' ? f[row + 2 * x] : f[row + x];
            const U = (format === 'YUYV' ? f[row + 4 * (x >> 1) + 1] : f[uv + 2 * (x >> 1)]) - 128;
            const V = (format === 'YUYV' ? f[row + 4 * (x >> 1) + 3] : f[uv + 2 * (x >> 1) + 1]) - 128;
            out[o + 3 * x] = clamp8(Y + 1.402 * V);
            out[o + 3 * x + 1] = clamp8(Y - 0.344136 * U - 0.714136 * V);
            out[o + 3 * x + 2] = clamp8(Y + 1.772 * U);
          }
          break;
        }
        default:
          break;
      }
    }
  });
  const conversion = format === 'GRAY16' ? 'GRAY16 to 8 bits (the high byte: US images hold 8 bits)' : format === 'GRAY8' || format === 'RGB8' ? `${format} as received`
    : format === 'YUYV' || format === 'NV12' ? `${format} to RGB (full-range BT.601)` : `${format} reordered to RGB`;
  return { photometric: gray ? 'MONOCHROME2' : 'RGB', samples, bits, data, conversion };
}

// --- data sets ---------------------------------------------------------------

/** Patient and study attributes (Type 2 ones present, empty when unknown) and equipment. */
function common(study: StudyAttributes, uids: CaptureUids, now: Date, o: WriterOptions): Naturalized {
  const s = (k: string) => study[k] ?? '';
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    PatientName: s('PatientName'),
    PatientID: s('PatientID'),
    PatientBirthDate: s('PatientBirthDate'),
    PatientSex: s('PatientSex'),
    StudyInstanceUID: uids.study,
    StudyDate: study.StudyDate ?? dicomDate(now),
    StudyTime: study.StudyTime ?? dicomTime(now),
    ReferringPhysicianName: s('ReferringPhysicianName'),
    StudyID: s('StudyID'),
    AccessionNumber: s('AccessionNumber'),
    ...(study.StudyDescription ? { StudyDescription: study.StudyDescription } : {}),
    Manufacturer: o.manufacturer ?? 'sonoedge',
    ManufacturerModelName: 'sonoedge runtime',
    SoftwareVersions: VERSION,
    DeviceSerialNumber: hostname().slice(0, 64),
    ...(o.stationName ? { StationName: o.stationName } : {}),
    ...(o.institutionName ? { InstitutionName: o.institutionName } : {}),
    InstanceCreationDate: dicomDate(now),
    InstanceCreationTime: dicomTime(now),
    ContentDate: dicomDate(now),
    ContentTime: dicomTime(now),
    InstanceNumber: uids.instanceNumber,
  };
}

function part10(ds: Naturalized): Uint8Array {
  const { DicomDict, DicomMetaDictionary } = dcmjs.data;
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: ds.SOPClassUID,
    MediaStorageSOPInstanceUID: ds.SOPInstanceUID,
    TransferSyntaxUID: EXPLICIT_VR_LITTLE_ENDIAN,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION,
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(ds);
  return new Uint8Array(dict.write({ fragmentMultiframe: false }));
}

const even = (b: Uint8Array): ArrayBuffer => {
  const out = new Uint8Array(b.length + (b.length & 1));
  out.set(b);
  return out.buffer;
};

/** The ultrasound region of the clip: the sector box, 2D tissue, physical deltas in cm. */
function region(r: ClipRecord): Naturalized {
  const roi = r.sectorRoi ?? { x: 0, y: 0, width: r.frames.width, height: r.frames.height };
  return {
    RegionSpatialFormat: 1,
    RegionDataType: 1,
    RegionFlags: 0,
    RegionLocationMinX0: roi.x,
    RegionLocationMinY0: roi.y,
    RegionLocationMaxX1: roi.x + roi.width - 1,
    RegionLocationMaxY1: roi.y + roi.height - 1,
    PhysicalUnitsXDirection: 3,
    PhysicalUnitsYDirection: 3,
    PhysicalDeltaX: r.spacingMm[0] / 10,
    PhysicalDeltaY: r.spacingMm[1] / 10,
  };
}

function checkRecord(r: ClipRecord): void {
  const n = r.frames.frames.length;
  if (n < 1) throw writerError('Expected a clip of at least 1 frame but received 0');
  if (r.seqs.length !== n) throw writerError(`Expected one seq per clip frame (${n}) but received ${r.seqs.length}`);
  if (!(r.frameTimeMs > 0 && Number.isFinite(r.frameTimeMs))) throw writerError(`Expected a positive frame time in ms but received ${r.frameTimeMs}`);
  if (!(r.spacingMm[0] > 0 && r.spacingMm[1] > 0)) throw writerError(`Expected a positive pixel spacing [x, y] in mm but received [${r.spacingMm.join(', ')}]`);
  const { width, height } = r.frames;
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1 && width <= 65535 && height <= 65535)) {
    throw writerError(`Expected a clip of 1..65535 x 1..65535 pixels but received ${width}x${height}`);
  }
}

/** The clip as an Ultrasound Multi-frame Image. */
export function clipDataset(r: ClipRecord, uids: CaptureUids, o: WriterOptions = {}, now = new Date()): { dataset: Naturalized; conversion: string } {
  checkRecord(r);
  const px = dicomPixels(r.frames);
  const n = r.frames.frames.length;
  const ds: Naturalized = {
    SOPClassUID: SOP_CLASS.usMultiframe,
    SOPInstanceUID: uids.clip,
    ...common(r.study, uids, now, o),
    ImageType: ['DERIVED', 'PRIMARY'],
    Modality: 'US',
    SeriesInstanceUID: uids.clipSeries,
    SeriesNumber: o.seriesNumbers?.[0] ?? 901,
    SeriesDescription: 'sonoedge auto-captured clips',
    ...(r.study.OperatorsName ? { OperatorsName: r.study.OperatorsName } : {}),
    BodyPartExamined: 'HEART',
    PatientOrientation: '',
    AcquisitionDateTime: `${dicomDate(r.acquiredAt)}${dicomTime(r.acquiredAt)}`,
    ImageComments: `${r.measurements.view} clip auto-captured by sonoedge ${VERSION}: stream frames ${r.seqs[0]}..${r.seqs[n - 1]}, mean quality ${r.measurements.qualityMean.toFixed(3)}`,
    BurnedInAnnotation: 'NO',
    LossyImageCompression: r.lossySource ? '01' : '00',
    SamplesPerPixel: px.samples,
    PhotometricInterpretation: px.photometric,
    ...(px.samples === 3 ? { PlanarConfiguration: 0 } : {}),
    Rows: r.frames.height,
    Columns: r.frames.width,
    BitsAllocated: px.bits,
    BitsStored: px.bits,
    HighBit: px.bits - 1,
    PixelRepresentation: 0,
    NumberOfFrames: n,
    FrameIncrementPointer: 0x00181063,
    FrameTime: decimalString(r.frameTimeMs),
    CineRate: Math.max(1, Math.round(1000 / r.frameTimeMs)),
    RecommendedDisplayFrameRate: Math.max(1, Math.round(1000 / r.frameTimeMs)),
    SequenceOfUltrasoundRegions: [region(r)],
    PixelData: [even(px.data)],
    _vrMap: { PixelData: 'OB' },
  };
  const ed = r.measurements.ef?.edFrame;
  if (ed !== undefined) ds.RepresentativeFrameNumber = ed + 1;
  return { dataset: ds, conversion: px.conversion };
}

// --- the structured report ---------------------------------------------------

type Item = Naturalized;
const rel = (relationship: string, item: Item): Item => ({ RelationshipType: relationship, ...item });
const codeItem = (name: Code, value: Code): Item => ({ ValueType: 'CODE', ConceptNameCodeSequence: [name], ConceptCodeSequence: [value] });
const textItem = (name: Code, value: string): Item => ({ ValueType: 'TEXT', ConceptNameCodeSequence: [name], TextValue: value });
const uidItem = (name: Code, value: string): Item => ({ ValueType: 'UIDREF', ConceptNameCodeSequence: [name], UID: value });
const numItem = (name: Code, value: number, unit: Code): Item => ({
  ValueType: 'NUM',
  ConceptNameCodeSequence: [name],
  MeasuredValueSequence: [{ NumericValue: decimalString(value), FloatingPointValue: value, MeasurementUnitsCodeSequence: [unit] }],
});
const imageItem = (sopClass: string, sopInstance: string, frames?: number[]): Item => ({
  ValueType: 'IMAGE',
  ReferencedSOPSequence: [{ ReferencedSOPClassUID: sopClass, ReferencedSOPInstanceUID: sopInstance, ...(frames && frames.length > 0 ? { ReferencedFrameNumber: frames } : {}) }],
});
const container = (name: Code, children: Item[]): Item => ({
  ValueType: 'CONTAINER', ConceptNameCodeSequence: [name], ContinuityOfContent: 'SEPARATE', ContentSequence: children,
});

/** TID 4019: the algorithm and the model packages it ran. */
function algorithm(models: ModelUse[]): Item[] {
  return [
    rel('HAS CONCEPT MOD', textItem(CODES.algorithmName, 'sonoedge')),
    rel('HAS CONCEPT MOD', textItem(CODES.algorithmVersion, VERSION)),
    ...models.map((m) => rel('HAS CONCEPT MOD', textItem(CODES.algorithmParameters, `model package ${m.id} variant ${m.variant} sha256 ${m.sha256} manifest sha256 ${m.manifestSha256}`))),
  ];
}

/** The SR of a clip's measurements (TID 5200), referencing the clip (and the SC when written). */
export function srDataset(r: ClipRecord, uids: CaptureUids, o: WriterOptions = {}, now = new Date(), withSc = false): Naturalized {
  checkRecord(r);
  const m = r.measurements;
  const view = VIEW_CODES[m.view];
  const clipRef = (frames?: number[]) => rel('INFERRED FROM', imageItem(SOP_CLASS.usMultiframe, uids.clip, frames));
  const mods = (frames: (number | undefined)[], phase?: Code): Item[] => [
    rel('HAS CONCEPT MOD', codeItem(CODES.measurementMethod, CODES.areaLengthSinglePlane)),
    ...(view ? [rel('HAS ACQ CONTEXT', codeItem(CODES.imageView, view))] : []),
    ...(phase ? [rel('HAS ACQ CONTEXT', codeItem(CODES.cardiacPhase, phase))] : []),
    ...algorithm(r.models),
    clipRef(frames.filter((f): f is number => f !== undefined).map((f) => f + 1)),
  ];
  const findings: Item[] = [rel('HAS CONCEPT MOD', codeItem(CODES.findingSite, CODES.leftVentricle))];
  if (m.ef) {
    const e = m.ef;
    findings.push(
      rel('CONTAINS', { ...numItem(CODES.ef, e.ef, CODES.percent), ContentSequence: mods([e.edFrame, e.esFrame]) }),
      rel('CONTAINS', { ...numItem(CODES.edv, e.edvMl, CODES.ml), ContentSequence: mods([e.edFrame], CODES.endDiastole) }),
      rel('CONTAINS', { ...numItem(CODES.esv, e.esvMl, CODES.ml), ContentSequence: mods([e.esFrame], CODES.endSystole) }),
    );
    if (m.edAreaMm2 !== undefined) findings.push(rel('CONTAINS', { ...numItem(CODES.edArea, m.edAreaMm2 / 100, CODES.cm2), ContentSequence: mods([e.edFrame], CODES.endDiastole) }));
    if (m.esAreaMm2 !== undefined) findings.push(rel('CONTAINS', { ...numItem(CODES.esArea, m.esAreaMm2 / 100, CODES.cm2), ContentSequence: mods([e.esFrame], CODES.endSystole) }));
  }
  findings.push(rel('CONTAINS', {
    ...numItem(CODES.imageQuality, m.qualityMean, CODES.noUnits),
    ContentSequence: [...(view ? [rel('HAS ACQ CONTEXT', codeItem(CODES.imageView, view))] : []), ...algorithm(r.models), clipRef()],
  }));
  const library: Item[] = [rel('CONTAINS', imageItem(SOP_CLASS.usMultiframe, uids.clip))];
  if (withSc) library.push(rel('CONTAINS', imageItem(SOP_CLASS.secondaryCapture, uids.sc)));
  const evidence: { ReferencedSOPClassUID: string; ReferencedSOPInstanceUID: string; SeriesInstanceUID: string }[] = [{ ReferencedSOPClassUID: SOP_CLASS.usMultiframe, ReferencedSOPInstanceUID: uids.clip, SeriesInstanceUID: uids.clipSeries }];
  if (withSc) evidence.push({ ReferencedSOPClassUID: SOP_CLASS.secondaryCapture, ReferencedSOPInstanceUID: uids.sc, SeriesInstanceUID: uids.scSeries });
  const bySeries = new Map<string, { ReferencedSOPClassUID: string; ReferencedSOPInstanceUID: string }[]>();
  for (const e of evidence) bySeries.set(e.SeriesInstanceUID, [...(bySeries.get(e.SeriesInstanceUID) ?? []), { ReferencedSOPClassUID: e.ReferencedSOPClassUID, ReferencedSOPInstanceUID: e.ReferencedSOPInstanceUID }]);
  return {
    SOPClassUID: SOP_CLASS.comprehensiveSr,
    SOPInstanceUID: uids.sr,
    ...common(r.study, uids, now, o),
    Modality: 'SR',
    SeriesInstanceUID: uids.srSeries,
    SeriesNumber: o.seriesNumbers?.[2] ?? 903,
    SeriesDescription: 'sonoedge measurements',
    ReferencedPerformedProcedureStepSequence: [],
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [{
      StudyInstanceUID: uids.study,
      ReferencedSeriesSequence: [...bySeries].map(([series, refs]) => ({ SeriesInstanceUID: series, ReferencedSOPSequence: refs })),
    }],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [CODES.echoReport],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '5200' }],
    ContentSequence: [
      rel('HAS OBS CONTEXT', codeItem(CODES.observerType, CODES.device)),
      rel('HAS OBS CONTEXT', uidItem(CODES.deviceUid, o.deviceUid ?? uidFromName(`sonoedge device ${hostname()}`))),
      rel('HAS OBS CONTEXT', textItem(CODES.deviceName, o.stationName ?? hostname().slice(0, 64))),
      rel('HAS OBS CONTEXT', textItem(CODES.deviceManufacturer, o.manufacturer ?? 'sonoedge')),
      rel('HAS OBS CONTEXT', textItem(CODES.deviceModel, 'sonoedge runtime')),
      rel('HAS CONCEPT MOD', codeItem(CODES.procedureReported, CODES.echocardiography)),
      rel('CONTAINS', container(CODES.imageLibrary, library)),
      rel('CONTAINS', container(CODES.findings, findings)),
    ],
  };
}

// --- the secondary capture ---------------------------------------------------

/** The frame of the clip the SC shows: ED when segmented there, else the frame with the largest outlined LV, else none. */
export function outlineFrame(r: ClipRecord): number | undefined {
  const ed = r.measurements.ef?.edFrame;
  if (ed !== undefined && r.contours[ed]) return ed;
  let best: number | undefined;
  let bestLen = -1;
  r.contours.forEach((c, i) => {
    if (c && c.length > bestLen) {
      best = i;
      bestLen = c.length;
    }
  });
  return best;
}

/** Draws a closed polygon (frame pixel coordinates) into packed RGB8, 2 px wide. */
export function drawOutline(rgb: Uint8Array, width: number, height: number, points: readonly number[], color: readonly [number, number, number]): void {
  const plot = (x: number, y: number) => {
    for (let dy = 0; dy <= 1; dy++) for (let dx = 0; dx <= 1; dx++) {
      const px = Math.round(x) + dx;
      const py = Math.round(y) + dy;
      if (px < 0 || py < 0 || px >= width || py >= height) continue;
      const o = (py * width + px) * 3;
      rgb[o] = color[0];
      rgb[o + 1] = color[1];
      rgb[o + 2] = color[2];
    }
  };
  const n = points.length / 2;
  for (let i = 0; i < n; i++) {
    const x0 = points[2 * i];
    const y0 = points[2 * i + 1];
    const x1 = points[(2 * ((i + 1) % n))];
    const y1 = points[(2 * ((i + 1) % n)) + 1];
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let s = 0; s <= steps; s++) plot(x0 + ((x1 - x0) * s) / steps, y0 + ((y1 - y0) * s) / steps);
  }
}

/** The SC: one frame of the clip in RGB8 with the LV outline drawn in; undefined when no frame was outlined. */
export function scDataset(r: ClipRecord, uids: CaptureUids, o: WriterOptions = {}, now = new Date()): Naturalized | undefined {
  checkRecord(r);
  const k = outlineFrame(r);
  if (k === undefined) return undefined;
  const px = dicomPixels({ ...r.frames, frames: [r.frames.frames[k]] });
  const { width: w, height: h } = r.frames;
  let rgb: Uint8Array;
  if (px.samples === 3) rgb = px.data;
  else {
    rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) {
      const g = px.data[i];
      rgb[3 * i] = g;
      rgb[3 * i + 1] = g;
      rgb[3 * i + 2] = g;
    }
  }
  drawOutline(rgb, w, h, r.contours[k]!, o.outlineRgb ?? [0, 255, 0]);
  return {
    SOPClassUID: SOP_CLASS.secondaryCapture,
    SOPInstanceUID: uids.sc,
    ...common(r.study, uids, now, o),
    ImageType: ['DERIVED', 'SECONDARY'],
    Modality: 'US',
    ConversionType: 'WSD',
    BodyPartExamined: 'HEART',
    SeriesInstanceUID: uids.scSeries,
    SeriesNumber: o.seriesNumbers?.[1] ?? 902,
    SeriesDescription: 'sonoedge LV outline',
    ...(r.study.OperatorsName ? { OperatorsName: r.study.OperatorsName } : {}),
    DerivationDescription: `frame ${k + 1} of the ${r.measurements.view} clip with the LV outline drawn by sonoedge`,
    SourceImageSequence: [{ ReferencedSOPClassUID: SOP_CLASS.usMultiframe, ReferencedSOPInstanceUID: uids.clip, ReferencedFrameNumber: [k + 1] }],
    ImageComments: `LV outline (segmentation by ${r.models.map((m) => m.id).join(', ')}) on frame ${k + 1} of the clip`,
    BurnedInAnnotation: 'YES',
    LossyImageCompression: r.lossySource ? '01' : '00',
    PatientOrientation: '',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: h,
    Columns: w,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelSpacing: [decimalString(r.spacingMm[1]), decimalString(r.spacingMm[0])],
    PixelData: [even(rgb)],
    _vrMap: { PixelData: 'OB' },
  };
}

/** Writes the clip, the SR and (when asked and a frame was outlined) the SC, as Part 10 bytes. */
export function writeCapture(r: ClipRecord, uids: CaptureUids, o: WriterOptions = {}, now = new Date()): WrittenObject[] {
  const out: WrittenObject[] = [];
  const clip = clipDataset(r, uids, o, now).dataset;
  out.push({ kind: 'clip', sopClassUid: SOP_CLASS.usMultiframe, sopInstanceUid: uids.clip, bytes: part10(clip) });
  const sc = o.secondaryCapture ? scDataset(r, uids, o, now) : undefined;
  if (sc) out.push({ kind: 'sc', sopClassUid: SOP_CLASS.secondaryCapture, sopInstanceUid: uids.sc, bytes: part10(sc) });
  out.push({ kind: 'sr', sopClassUid: SOP_CLASS.comprehensiveSr, sopInstanceUid: uids.sr, bytes: part10(srDataset(r, uids, o, now, sc !== undefined)) });
  return out;
}
