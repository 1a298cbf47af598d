// Real ultrasound DICOMs that pydicom ships as test files, decoded by pydicom in
// training/.venv into raw RGB8 frames (src/io/dicom.ts cannot read them as they
// are: see the note in test/unit/sector.test.ts). Never copied into the repository.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const VENV_PYTHON = path.join(root, 'training', '.venv', 'bin', 'python');

export interface PydicomExample {
  /** The raw file: frames back to back, RGB8. */
  raw: string;
  width: number;
  height: number;
  frames: Uint8Array[];
  /** The first Sequence of Ultrasound Regions item's box (x0, y0, x1, y1), when the file has one. */
  region?: [number, number, number, number];
}

const SCRIPT = `
import json, os, sys
import numpy as np
import pydicom
name, out = sys.argv[1], sys.argv[2]
path = os.path.join(os.path.dirname(pydicom.__file__), 'data', 'test_files', name)
ds = pydicom.dcmread(path)
if ds.file_meta.TransferSyntaxUID.is_compressed:
    ds.pixel_array_options(decoding_plugin='pillow')  # the decoder the boxes were measured with (pylibjpeg is in the venv too)
a = np.ascontiguousarray(ds.pixel_array.astype(np.uint8))  # pydicom converts YBR to RGB
if a.ndim == 3: a = a[None]
a.tofile(out)
regions = ds.get('SequenceOfUltrasoundRegions')
r = None
if regions:
    g = regions[0]
    r = [int(g.RegionLocationMinX0), int(g.RegionLocationMinY0), int(g.RegionLocationMaxX1), int(g.RegionLocationMaxY1)]
print(json.dumps({'frames': int(a.shape[0]), 'height': int(a.shape[1]), 'width': int(a.shape[2]), 'region': r}))
`;

/** Why the examples cannot be decoded here, or undefined when they can. */
export function pydicomUnavailable(): string | undefined {
  if (!existsSync(VENV_PYTHON)) return `training/.venv is absent (${VENV_PYTHON}); it holds pydicom and its example files`;
  const r = spawnSync(VENV_PYTHON, ['-c', 'import pydicom, numpy'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `pydicom or numpy is not importable in training/.venv: ${r.stderr.trim().split('\n').pop()}`;
}

/** Decodes pydicom's test file `name` into `dir`/`name`.raw with the venv's pydicom. */
export async function decodePydicomExample(name: string, dir: string): Promise<PydicomExample> {
  const raw = path.join(dir, `${name}.raw`);
  const r = spawnSync(VENV_PYTHON, ['-c', SCRIPT, name, raw], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`Expected pydicom to decode ${name} but received exit ${r.status}: ${r.stderr}`);
  const info = JSON.parse(r.stdout) as { frames: number; width: number; height: number; region: [number, number, number, number] | null };
  const bytes = new Uint8Array(await readFile(raw));
  const size = info.width * info.height * 3;
  const frames = Array.from({ length: info.frames }, (_, i) => bytes.subarray(i * size, (i + 1) * size));
  return { raw, width: info.width, height: info.height, frames, ...(info.region ? { region: info.region } : {}) };
}
