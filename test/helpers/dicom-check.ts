// Independent checks of the DICOM objects sonoedge writes: dciodvfy (Debian's
// dicom3tools) and pydicom + highdicom in training/.venv
// (scripts/dicom-read-capture.py). Each says when it cannot run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Test } from 'tap';

export const ROOT = path.join(import.meta.dirname, '..', '..');
export const PY = path.join(ROOT, 'training', '.venv', 'bin', 'python');
const READER = path.join(ROOT, 'scripts', 'dicom-read-capture.py');
export const DCIODVFY = ['/usr/bin/dciodvfy', '/usr/local/bin/dciodvfy'].find((p) => existsSync(p));
export const venvReady = existsSync(PY) && spawnSync(PY, ['-c', 'import pydicom, highdicom'], { stdio: 'ignore' }).status === 0;

/** dciodvfy's findings on a file: the lines that are errors or warnings (DICOMDIR-only hints dropped). */
export function dciodvfy(file: string): { errors: string[]; warnings: string[] } {
  const r = spawnSync(DCIODVFY!, [file], { encoding: 'utf8' });
  const lines = `${r.stdout}${r.stderr}`.split('\n');
  return {
    errors: lines.filter((l) => l.startsWith('Error')),
    warnings: lines.filter((l) => l.startsWith('Warning') && !l.includes('needed to build DICOMDIR')),
  };
}

/** pydicom + highdicom's reading of files (one JSON object each). */
export function readBack(files: string[]): Record<string, any>[] {
  const r = spawnSync(PY, [READER, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`dicom-read-capture.py failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}


/**
 * dciodvfy finds no errors in `files` (when it is installed), then pydicom + highdicom's reading of them; undefined,
 * with a SKIP comment ending in `unread` ("the objects are not read back"), when training/.venv cannot read them.
 */
export function validateAndReadBack(t: Test, files: string[], unread: string): Record<string, any>[] | undefined {
  if (DCIODVFY) for (const f of files) t.same(dciodvfy(f).errors, [], `${path.basename(f)}: dciodvfy finds no errors`);
  else t.skip('dciodvfy (Debian package dicom3tools) is not installed', () => {});
  if (!venvReady) {
    t.skip(`training/.venv with pydicom and highdicom is absent: ${unread}`, () => {});
    return undefined;
  }
  return readBack(files);
}
