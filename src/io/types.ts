// A recorded cine loop as replay reads it: frames of one geometry, and what the
// recording says about them (spacing, frame time, the image sector, labels).
import type { DicomSummary } from './dicom.js';
import type { DicomWarning } from './dicom-pixels.js';
import type { Roi } from '../preprocess/options.js';

export type CineFormat = 'GRAY8' | 'RGB8';

export interface Cine {
  width: number;
  height: number;
  format: CineFormat;
  /** Packed rows, width * height * (1 or 3) bytes each. */
  frames: Uint8Array[];
  /** Millimetres per pixel when the recording says: one number for square pixels, else [x, y]. */
  pixelSpacingMm?: number | readonly [number, number];
  /** Milliseconds between frames, when the recording says. */
  frameTimeMs?: number;
  /** The image region (the ultrasound sector's box), when the recording says. */
  sectorRoi?: Roi;
  /** Ground truth carried by the recording (DICOM ImageComments as JSON). */
  labels?: unknown;
  /** What a DICOM recording held (syntax, photometric, frames, regions, spacing), for replay's table. */
  dicom?: DicomSummary;
  /** Named findings the reader went on past (a clipped region, extra frames...). */
  warnings?: DicomWarning[];
}

/**
 * Pixel spacings, mm per pixel, that replay uses from a file or takes from --pixel-spacing: past them LV areas
 * underflow to 0 or overflow to Infinity (an EF of NaN), and no ultrasound image has pixels of a metre.
 */
export const SPACING_RANGE_MM = { min: 1e-6, max: 1000 } as const;

/** Whether a spacing (mm per pixel) lies in SPACING_RANGE_MM; NaN does not. */
export const spacingInRange = (v: number): boolean => v >= SPACING_RANGE_MM.min && v <= SPACING_RANGE_MM.max;

/** Frame times, ms, that replay and demo use from a file: --fps's 0.1..1000 frames per second. */
export const FRAME_TIME_RANGE_MS = { min: 1, max: 10000 } as const;

export const bytesPerPixel = (format: CineFormat): number => (format === 'RGB8' ? 3 : 1);

const label = (labels: unknown, key: string): unknown =>
  (typeof labels === 'object' && labels !== null ? (labels as Record<string, unknown>)[key] : undefined);
/** A field of the recording's labels (`Cine.labels`) when it has the expected type: a finite number, or a string. */
export function labelNumber(labels: unknown, key: string): number | undefined {
  const v = label(labels, key);
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}
export function labelString(labels: unknown, key: string): string | undefined {
  const v = label(labels, key);
  return typeof v === 'string' ? v : undefined;
}
