// A recorded cine loop as replay reads it: frames of one geometry, and what the
// recording says about them (spacing, frame time, the image sector, labels).
import type { Roi } from '../preprocess/options.js';

export type CineFormat = 'GRAY8' | 'RGB8';

export interface Cine {
  width: number;
  height: number;
  format: CineFormat;
  /** Packed rows, width * height * (1 or 3) bytes each. */
  frames: Uint8Array[];
  /** Millimetres per pixel along x, when the recording says. */
  pixelSpacingMm?: number;
  /** Milliseconds between frames, when the recording says. */
  frameTimeMs?: number;
  /** The image region (the ultrasound sector's box), when the recording says. */
  sectorRoi?: Roi;
  /** Ground truth carried by the recording (DICOM ImageComments as JSON). */
  labels?: unknown;
}

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
