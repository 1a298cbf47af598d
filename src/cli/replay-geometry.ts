// Replay's input geometry from the command line: --sector (a box, or auto: the
// sector finder on the cine) and --pixel-spacing (one number, or x and y). Each
// flag's syntax is checked before the input is read (UsageError, exit 2); the
// box against the frame once it is.
import { REGION_OVERHANG_TOLERANCE_PX } from '../io/dicom.js';
import { SPACING_RANGE_MM, type Cine } from '../io/types.js';
import { findSector } from '../preprocess/sector.js';
import type { Roi } from '../preprocess/options.js';
import { UsageError, type ParsedArgs } from './args.js';

export type SectorFlag = { kind: 'auto' } | { kind: 'box'; box: Roi; text: string };

const SECTOR_FORM = 'X,Y,W,H (integers: left, top, width and height in pixels of the input frame) or auto';

/** --sector: undefined when absent; `auto`; or a box of four integers, X and Y at least 0, W and H at least 1. */
export function sectorFlag(values: ParsedArgs['values']): SectorFlag | undefined {
  const raw = values.sector;
  if (raw === undefined) return undefined;
  const text = String(raw).trim();
  if (text.toLowerCase() === 'auto') return { kind: 'auto' };
  const items = text.split(',').map((v) => v.trim());
  const n = items.map(Number);
  if (items.length !== 4 || !items.every((s) => /^[+-]?\d+$/.test(s))) {
    throw new UsageError(`option --sector expects ${SECTOR_FORM} but received ${JSON.stringify(raw)}`);
  }
  if (n[0] < 0 || n[1] < 0) throw new UsageError(`option --sector expects X and Y of at least 0 but received ${JSON.stringify(raw)}`);
  if (n[2] < 1 || n[3] < 1) throw new UsageError(`option --sector expects W and H of at least 1 but received ${JSON.stringify(raw)}`);
  return { kind: 'box', box: { x: n[0], y: n[1], width: n[2], height: n[3] }, text };
}

/** --pixel-spacing: undefined when absent; one number (square pixels) or SX,SY (x then y), millimetres per pixel, each from 1e-6 to 1000 (SPACING_RANGE_MM). */
export function spacingFlag(values: ParsedArgs['values']): number | [number, number] | undefined {
  const raw = values['pixel-spacing'];
  if (raw === undefined) return undefined;
  const items = String(raw).split(',').map((s) => s.trim());
  const n = items.map(Number);
  if ((items.length !== 1 && items.length !== 2) || items.some((s) => s === '') || n.some((v) => !Number.isFinite(v) || v < SPACING_RANGE_MM.min)) {
    throw new UsageError(`option --pixel-spacing expects MM or SX,SY (numbers >= 0.000001: millimetres per pixel, x then y) but received ${JSON.stringify(raw)}`);
  }
  // Larger ones made LV areas Infinity and the EF NaN.
  if (n.some((v) => v > SPACING_RANGE_MM.max)) {
    throw new UsageError(`option --pixel-spacing expects at most ${SPACING_RANGE_MM.max} millimetres per pixel but received ${JSON.stringify(raw)}`);
  }
  return n.length === 1 ? n[0] : [n[0], n[1]];
}

export const boxText = (b: Roi): string => `${b.x},${b.y},${b.width},${b.height}`;

/** The spacing as the report and messages show it: "0.3000 mm" or "0.3000 x 0.2000 mm" (x by y). */
export const spacingText = (s: number | readonly [number, number]): string =>
  (typeof s === 'number' ? `${s.toFixed(4)} mm` : `${s[0].toFixed(4)} x ${s[1].toFixed(4)} mm`);

export interface ResolvedSector {
  /** The box the pipeline crops (sector_bounding_box); undefined: the whole frame. */
  roi?: Roi;
  /** Where the box came from, for stderr and the report: one line without the "sonoedge replay: " prefix. */
  line: string;
  /** Where the box came from, for code: the DICOM ultrasound region, the whole frame, --sector X,Y,W,H, the sector finder. */
  source: 'region' | 'frame' | 'flag' | 'finder';
}

/**
 * The sector box replay uses, in order: --sector X,Y,W,H (checked against the
 * frame: UsageError), --sector auto (the finder on the cine; when it finds
 * nothing, the DICOM region or the whole frame, and the line says why), the
 * DICOM ultrasound region (the only input that carries one) unless it
 * overhangs the image by more than REGION_OVERHANG_TOLERANCE_PX (it describes
 * a larger original, so its clipped box cuts the sector: the finder instead,
 * as with --sector auto), the whole frame.
 */
export function resolveSector(flag: SectorFlag | undefined, cine: Cine): ResolvedSector {
  const { width: w, height: h } = cine;
  const whole = `whole frame ${boxText({ x: 0, y: 0, width: w, height: h })}`;
  const fromInput = (why: string): ResolvedSector => (cine.sectorRoi
    ? { roi: cine.sectorRoi, line: `${why}sector ${boxText(cine.sectorRoi)} (the DICOM ultrasound region)`, source: 'region' }
    : { line: `${why}sector ${whole} (the input gives no region; set --sector X,Y,W,H or --sector auto)`, source: 'frame' });
  const find = (source: string): ResolvedSector => {
    const r = findSector(cine.frames, w, h, cine.format);
    if (!r.found) return fromInput(`the sector finder found no image (${r.reason}: ${r.message}); `);
    const s = r.shape;
    const shape = s.kind === 'sector'
      ? `a ${Math.round((s.angleEnd - s.angleStart) * 180 / Math.PI)}-degree fan, apex ${Math.round(s.apex.x)},${Math.round(s.apex.y)}, radius ${Math.round(s.radius)} px`
      : s.kind === 'rectangle' ? 'a rectangle' : 'a region that is neither fan nor rectangle';
    return { roi: r.box, line: `sector ${boxText(r.box)} (${source}: ${shape}, confidence ${r.confidence.toFixed(2)}, ${r.framesUsed} frame${r.framesUsed === 1 ? '' : 's'})`, source: 'finder' };
  };
  if (flag === undefined) {
    const overhang = cine.dicom?.used?.overhangPx ?? 0;
    if (cine.sectorRoi === undefined || overhang <= REGION_OVERHANG_TOLERANCE_PX) return fromInput('');
    return find(`found on the frames, as --sector auto does, because the DICOM ultrasound region overhangs the image by ${overhang} px and so describes a larger original`);
  }
  if (flag.kind === 'box') {
    const b = flag.box;
    if (b.x + b.width > w || b.y + b.height > h) {
      throw new UsageError(`option --sector expects a box inside the ${w}x${h} input frame but received ${JSON.stringify(flag.text)} (right edge ${b.x + b.width}, bottom edge ${b.y + b.height})`);
    }
    const over = cine.sectorRoi ? `; overrides the DICOM ultrasound region ${boxText(cine.sectorRoi)}` : '';
    return { roi: b, line: `sector ${boxText(b)} (--sector${over})`, source: 'flag' };
  }
  return find('--sector auto');
}
