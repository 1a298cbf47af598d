// Recorded inputs for replay: a DICOM file, a folder of PNG files, or a raw
// file with a stated geometry. One entry point picks the reader.
import { readFile, stat } from 'node:fs/promises';
import { coded, rangeError } from '../errors.js';
import { readDicom } from './dicom.js';
import { readPngFolder } from './png.js';
import { parseRawGeometry, readRaw } from './raw.js';
import type { Cine } from './types.js';

export interface ReadInputOptions {
  /** "WIDTHxHEIGHT:FORMAT": read the file as raw frames of this geometry. */
  geometry?: string;
}

/** The largest file Node reads into one buffer (2 GiB less a byte). */
const MAX_INPUT_BYTES = 2 ** 31 - 1;

export async function readInput(input: string, options: ReadInputOptions = {}): Promise<Cine> {
  const st = await stat(input).catch(() => undefined);
  if (st === undefined) {
    throw coded(new Error(`Expected a DICOM file, a folder of PNG files or a raw file but received ${JSON.stringify(input)}, which does not exist`),
      'ERR_SONOEDGE_INPUT_NOT_FOUND');
  }
  if (st.isDirectory()) {
    if (options.geometry !== undefined) {
      throw rangeError('ERR_SONOEDGE_RAW', `Expected a raw file of ${options.geometry} frames but received ${JSON.stringify(input)}, which is a folder (a folder is read as PNG files, without a geometry)`);
    }
    return readPngFolder(input);
  }
  // Node reads no more into one buffer (it threw its own ERR_FS_FILE_TOO_LARGE, without the file's name).
  if (st.size > MAX_INPUT_BYTES) {
    throw rangeError(options.geometry !== undefined ? 'ERR_SONOEDGE_RAW' : 'ERR_SONOEDGE_DICOM',
      `Expected ${options.geometry !== undefined ? 'a raw file' : 'a DICOM file'} of at most 2 GiB (replay reads the whole file into memory) but received ${JSON.stringify(input)} of ${st.size} bytes`);
  }
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
