// Recorded inputs for replay: a DICOM file, a folder of PNG files, or a raw
// file with a stated geometry. One entry point picks the reader.
import { readFile, stat } from 'node:fs/promises';
import { coded } from '../errors.js';
import { readDicom } from './dicom.js';
import { readPngFolder } from './png.js';
import { parseRawGeometry, readRaw } from './raw.js';
import type { Cine } from './types.js';

export interface ReadInputOptions {
  /** "WIDTHxHEIGHT:FORMAT": read the file as raw frames of this geometry. */
  geometry?: string;
}

export async function readInput(input: string, options: ReadInputOptions = {}): Promise<Cine> {
  const st = await stat(input).catch(() => undefined);
  if (st === undefined) {
    throw coded(new Error(`Expected a DICOM file, a folder of PNG files or a raw file but received ${JSON.stringify(input)}, which does not exist`),
      'ERR_SONOEDGE_INPUT_NOT_FOUND');
  }
  if (st.isDirectory()) return readPngFolder(input);
  const bytes = await readFile(input);
  if (options.geometry !== undefined) return readRaw(bytes, parseRawGeometry(options.geometry), input);
  return readDicom(bytes, input);
}

export {
  readDicom, describeTransferSyntax, parseDicomFile, decodePixels, summarize as summarizeDicom, studyAttributes, transferSyntax, knownTransferSyntaxes,
  applyPalette, readPalette, type DicomSummary, type DicomFile, type DecodedPixels, type DicomWarning,
} from './dicom.js';
export { loadCodecs } from './dicom-codecs.js';
export { decodeRleFrame } from './rle.js';
export { readPngFolder } from './png.js';
export { readRaw, parseRawGeometry, type RawGeometry } from './raw.js';
export type { Cine, CineFormat } from './types.js';
