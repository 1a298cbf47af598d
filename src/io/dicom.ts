// DICOM ultrasound (US Image, US Multi-frame Image, or any image the codecs
// decode) into a Cine for replay: dicom-file.ts parses, dicom-pixels.ts decodes
// every transfer syntax ultrasound uses through well-kept codecs, and this file
// turns the result into 8-bit frames (GRAY8 or RGB8), the sector box and the
// pixel spacing from the Sequence of Ultrasound Regions (both axes), the frame
// time and any labels, with named warnings where the file is off but usable.
import type { Roi } from '../preprocess/options.js';
import { parseDicomFile, describeTransferSyntax, REGION_FORMATS, REGION_UNITS, type DicomFile, type UltrasoundRegion } from './dicom-file.js';
import { applyPalette, decodePixels, readPalette, type DecodedPixels, type DicomWarning, type Samples } from './dicom-pixels.js';
import { FRAME_TIME_RANGE_MS, SPACING_RANGE_MM, spacingInRange, type Cine, type CineFormat } from './types.js';

export { describeTransferSyntax, parseDicomFile, studyAttributes, transferSyntax, knownTransferSyntaxes } from './dicom-file.js';
export type { DicomFile, DicomImageInfo, TransferSyntax, UltrasoundRegion } from './dicom-file.js';
export { decodePixels, applyPalette, readPalette, jpegHeader, MAX_FRAME_BYTES } from './dicom-pixels.js';
export type { DecodedPixels, DicomWarning, Palette, Samples } from './dicom-pixels.js';

/** Which ultrasound region replay used, and what was done to it. */
export interface RegionUse {
  region: UltrasoundRegion;
  /** The box inside the image (clipped where the region overhangs it). */
  roi?: Roi;
  clipped: boolean;
  /** How far the region's box reached past the image, the larger of right and below, in pixels (0: inside). */
  overhangPx: number;
}

/**
 * A region that overhangs the image by more than this many pixels describes a
 * larger original (a capture scaled down after the region was written): its
 * box no longer frames the sector, and replay finds the sector on the frames.
 * A pixel or two is the off-by-one of scanners that write the last column.
 */
export const REGION_OVERHANG_TOLERANCE_PX = 2;

/** What a DICOM file held and what the reader made of it: `dicom inspect` and replay print it as one table. */
export interface DicomSummary {
  file: string;
  transferSyntax: string;
  lossy: boolean;
  photometric: string;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  planarConfiguration?: number;
  width: number;
  height: number;
  framesDeclared: number;
  modality?: string;
  sopClassUid?: string;
  frameTimeMs?: number;
  regions: UltrasoundRegion[];
  /** The region whose box and spacing were used, if any. */
  used?: RegionUse;
  /** Millimetres per pixel as [x, y], and where it came from. */
  spacingMm?: [number, number];
  spacingSource?: string;
  /** How frames became 8-bit for the pipeline (window, range, palette...). */
  conversion?: string;
  warnings: DicomWarning[];
}

const regionBox = (r: UltrasoundRegion) => (r.x0 !== undefined && r.y0 !== undefined && r.x1 !== undefined && r.y1 !== undefined
  ? { x0: r.x0, y0: r.y0, x1: r.x1, y1: r.y1 } : undefined);

/**
 * The region replay uses: the first 2D region (spatial format 1) whose box
 * overlaps the image, else the first other region that does; a box that
 * overhangs the image is clipped (a warning names by how much), one wholly
 * outside it is dropped (a warning says so). Spacing: the chosen region's
 * physical deltas when both are in cm, else Pixel Spacing (0028,0030).
 */
export function resolveRegion(file: DicomFile, warnings: DicomWarning[]): Pick<DicomSummary, 'used' | 'spacingMm' | 'spacingSource'> {
  const { columns: w, rows: h, regions, pixelSpacing } = file.image;
  const ordered = [...regions.filter((r) => r.spatialFormat === 1), ...regions.filter((r) => r.spatialFormat !== 1)];
  let used: RegionUse | undefined;
  for (const r of ordered) {
    const b = regionBox(r);
    if (b === undefined) {
      used = { region: r, clipped: false, overhangPx: 0 };
      break;
    }
    const name = `ultrasound region ${r.index + 1} (${REGION_FORMATS[r.spatialFormat] ?? `format ${r.spatialFormat}`}, x ${b.x0}..${b.x1}, y ${b.y0}..${b.y1})`;
    if (b.x1 < b.x0 || b.y1 < b.y0 || b.x0 >= w || b.y0 >= h) {
      warnings.push({ code: 'WARN_SONOEDGE_DICOM_REGION_OUTSIDE', message: `${file.where}: ${name} lies outside the ${w}x${h} image; dropped (its box and spacing are not used)` });
      continue;
    }
    const x1 = Math.min(b.x1, w - 1);
    const y1 = Math.min(b.y1, h - 1);
    const clipped = x1 !== b.x1 || y1 !== b.y1;
    const overhangPx = Math.max(b.x1 - x1, b.y1 - y1);
    if (clipped) {
      warnings.push({ code: 'WARN_SONOEDGE_DICOM_REGION_CLIPPED',
        message: `${file.where}: ${name} overhangs the ${w}x${h} image by ${b.x1 - x1} px right and ${b.y1 - y1} px below; clipped to x ${b.x0}..${x1}, y ${b.y0}..${y1}`
          + (overhangPx > REGION_OVERHANG_TOLERANCE_PX ? '; a region this far outside may describe a larger original image: check its spacing (--pixel-spacing overrides it)' : '') });
    }
    used = { region: r, roi: { x: b.x0, y: b.y0, width: x1 - b.x0 + 1, height: y1 - b.y0 + 1 }, clipped, overhangPx };
    break;
  }
  // A spacing past SPACING_RANGE_MM is not used (LV areas of 0 or Infinity, an EF of NaN); a warning says so.
  const plausible = (x: number, y: number, source: string): boolean => {
    const { min, max } = SPACING_RANGE_MM;
    if (spacingInRange(x) && spacingInRange(y)) return true;
    warnings.push({ code: 'WARN_SONOEDGE_DICOM_SPACING',
      message: `${file.where}: a spacing of ${x} x ${y} mm per pixel from ${source} is outside ${min}..${max} mm; not used (--pixel-spacing sets it)` });
    return false;
  };
  const r = used?.region;
  if (r !== undefined && r.unitsX === 3 && r.deltaX !== undefined && r.deltaX > 0) {
    const x = r.deltaX * 10;
    const y = r.unitsY === 3 && r.deltaY !== undefined && r.deltaY > 0 ? r.deltaY * 10 : x;
    const source = `ultrasound region ${r.index + 1} physical deltas (0018,602C/602E)`;
    if (plausible(x, y, source)) return { used, spacingMm: [x, y], spacingSource: source };
  }
  if (pixelSpacing !== undefined && plausible(pixelSpacing[1], pixelSpacing[0], 'Pixel Spacing (0028,0030)')) {
    return { used, spacingMm: [pixelSpacing[1], pixelSpacing[0]], spacingSource: 'Pixel Spacing (0028,0030)' };
  }
  return used ? { used } : {};
}

/** The header summary of a parsed file, before (or without) decoding its pixels. */
export function summarize(file: DicomFile): DicomSummary {
  const im = file.image;
  const warnings: DicomWarning[] = [];
  const region = resolveRegion(file, warnings);
  // A frame time past --fps's range is not used: 1e9 ms paced --realtime for months, 1e-9 ms wrote a clip of 1e12 fps.
  let frameTimeMs = im.frameTimeMs;
  if (frameTimeMs !== undefined && !(frameTimeMs >= FRAME_TIME_RANGE_MS.min && frameTimeMs <= FRAME_TIME_RANGE_MS.max)) {
    warnings.push({ code: 'WARN_SONOEDGE_DICOM_FRAME_TIME',
      message: `${file.where}: a frame time of ${frameTimeMs} ms from Frame Time (0018,1063) or Cine Rate (0018,0040) is outside ${FRAME_TIME_RANGE_MS.min}..${FRAME_TIME_RANGE_MS.max} ms (0.1..1000 fps); not used (--fps sets it)` });
    frameTimeMs = undefined;
  }
  return {
    file: file.where,
    transferSyntax: describeTransferSyntax(file.syntax.uid),
    lossy: file.syntax.lossy,
    photometric: im.photometric,
    samplesPerPixel: im.samplesPerPixel,
    bitsAllocated: im.bitsAllocated,
    bitsStored: im.bitsStored,
    signed: im.pixelRepresentation === 1,
    ...(im.planarConfiguration !== undefined ? { planarConfiguration: im.planarConfiguration } : {}),
    width: im.columns,
    height: im.rows,
    framesDeclared: im.frames,
    ...(file.modality !== undefined ? { modality: file.modality } : {}),
    ...(file.sopClassUid !== undefined ? { sopClassUid: file.sopClassUid } : {}),
    ...(frameTimeMs !== undefined ? { frameTimeMs } : {}),
    regions: im.regions,
    ...region,
    warnings,
  };
}

/** Reads a DICOM file's bytes into a Cine; `where` names it in messages. */
export async function readDicom(bytes: Uint8Array, where = 'the input'): Promise<Cine> {
  const file = parseDicomFile(bytes, where);
  const summary = summarize(file);
  const decoded = await decodePixels(file);
  summary.warnings.push(...decoded.warnings);
  const { format, frames, conversion } = to8bit(file, decoded);
  summary.conversion = conversion;
  const cine: Cine = { width: decoded.width, height: decoded.height, format, frames, dicom: summary, warnings: summary.warnings };
  if (summary.spacingMm !== undefined) {
    const [x, y] = summary.spacingMm;
    cine.pixelSpacingMm = x === y ? x : [x, y];
  }
  if (summary.used?.roi) cine.sectorRoi = summary.used.roi;
  if (summary.frameTimeMs !== undefined) cine.frameTimeMs = summary.frameTimeMs;
  const comments = file.dataset.string('x00204000');
  if (comments !== undefined) {
    try {
      cine.labels = JSON.parse(comments);
    } catch {
      // free text: not labels
    }
  }
  return cine;
}

/**
 * Frames as the pipeline takes them: 8-bit GRAY8 or RGB8. 8-bit data passes
 * through (MONOCHROME1 inverted); wider or signed grey goes through the first
 * VOI window (after any rescale) or, without one, the cine's own range;
 * 16-bit RGB keeps its top 8 stored bits; PALETTE COLOR goes through its tables.
 */
function to8bit(file: DicomFile, d: DecodedPixels): { format: CineFormat; frames: Uint8Array[]; conversion: string } {
  const im = file.image;
  if (d.photometric === 'PALETTE COLOR') {
    const palette = readPalette(file);
    const shift = palette.bits - 8;
    const frames = d.frames.map((f) => {
      const rgb = applyPalette(f, palette);
      if (shift === 0) return rgb as Uint8Array;
      const out = new Uint8Array(rgb.length);
      for (let i = 0; i < rgb.length; i++) out[i] = rgb[i] >> shift;
      return out;
    });
    return { format: 'RGB8', frames, conversion: `PALETTE COLOR through its ${palette.segmented ? 'segmented ' : ''}${palette.entries}-entry ${palette.bits}-bit tables to RGB8` };
  }
  if (d.samples === 3) {
    if (d.bits === 8 && !d.signed) return { format: 'RGB8', frames: d.frames as Uint8Array[], conversion: `${im.photometric === 'RGB' ? 'RGB' : `${im.photometric} to RGB`}, 8 bits as stored` };
    const shift = Math.max(0, d.bitsStored - 8);
    return { format: 'RGB8', frames: d.frames.map((f) => Uint8Array.from(f, (v) => Math.max(0, v) >> shift)), conversion: `RGB, the top 8 of ${d.bitsStored} stored bits` };
  }
  const invert = d.photometric === 'MONOCHROME1';
  if (d.bits === 8 && !d.signed && d.bitsStored === 8) {
    return { format: 'GRAY8', frames: invert ? d.frames.map((f) => (f as Uint8Array).map((v) => 255 - v)) : d.frames as Uint8Array[], conversion: `${d.photometric}, 8 bits as stored${invert ? ', inverted' : ''}` };
  }
  const slope = im.rescale?.slope ?? 1;
  const intercept = im.rescale?.intercept ?? 0;
  let lo: number;
  let hi: number;
  let how: string;
  if (im.window !== undefined) {
    // PS3.3 C.11.2.1.2.1, linear: centre c, width w.
    lo = im.window.center - 0.5 - (im.window.width - 1) / 2;
    hi = im.window.center - 0.5 + (im.window.width - 1) / 2;
    how = `window centre ${im.window.center}, width ${im.window.width}`;
  } else {
    lo = Infinity;
    hi = -Infinity;
    for (const f of d.frames) for (let i = 0; i < f.length; i++) {
      const v = f[i] * slope + intercept;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    how = `the cine's range ${lo}..${hi}`;
  }
  const span = hi > lo ? hi - lo : 1;
  const frames = d.frames.map((f: Samples) => {
    const out = new Uint8Array(f.length);
    for (let i = 0; i < f.length; i++) {
      const v = f[i] * slope + intercept;
      const g = v <= lo ? 0 : v > hi ? 255 : Math.round(((v - lo) / span) * 255);
      out[i] = invert ? 255 - g : g;
    }
    return out;
  });
  return { format: 'GRAY8', frames, conversion: `${d.photometric} ${d.bitsStored}-bit${d.signed ? ' signed' : ''} to 8 bits through ${how}${slope !== 1 || intercept !== 0 ? ` (after rescale ${slope}x + ${intercept})` : ''}${invert ? ', inverted' : ''}` };
}

/** Region units by name, for tables. */
export const regionUnits = (u: number | undefined): string => (u === undefined ? 'none' : REGION_UNITS[u] ?? `units ${u}`);
