// The smallest capture the DICOM writer makes: for tests of the outbox, the PACS and the runtime that need real
// objects, not their pixels.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { captureUids, writeCapture, type ClipRecord, type WrittenObject } from '../../src/dicom/writer.js';

/** A clip of two 8x6 GRAY8 frames (all 1s, then all 2s) in `study`, and its SR, as the writer writes them. */
export function tinyCapture(study: ClipRecord['study']): WrittenObject[] {
  const r: ClipRecord = {
    study,
    frames: { width: 8, height: 6, format: 'GRAY8', frames: [new Uint8Array(48).fill(1), new Uint8Array(48).fill(2)] },
    frameTimeMs: 33.3, spacingMm: [0.3, 0.3], seqs: [0, 1], acquiredAt: new Date(),
    measurements: { view: 'A4C', qualityMean: 0.8, qualityMin: 0.7 },
    models: [], contours: [],
  };
  return writeCapture(r, captureUids(study));
}

/**
 * failed/ of an outbox as an earlier run left it: the folder made, and for each name a stand-in object with the reason
 * the outbox writes beside it (refused by the PACS `where` with status 0xa900). Only counted by the outbox, never read.
 */
export async function seedFailed(failedDir: string, names: string[], where: string): Promise<void> {
  await mkdir(failedDir, { recursive: true });
  for (const name of names) {
    await writeFile(path.join(failedDir, name), 'DICM');
    await writeFile(path.join(failedDir, `${name}.txt`), `refused by the PACS ${where} with status 0xa900\n`);
  }
}
