// sonoedge's DICOM decoder against pydicom + pylibjpeg, pixel for pixel: every
// image-bearing file of pydicom's own test files (read from the wheel in
// training/.venv, never committed), plus ultrasound-shaped files the wheel
// lacks, made at test time by pydicom's encoders (JPEG 2000, JPEG-LS, RLE,
// colour by plane, YBR_FULL, plain and segmented palettes) and by OpenJPH here
// (HTJ2K, wrapped by pydicom). Lossless syntaxes must match exactly; lossy ones
// within a named tolerance; a file sonoedge does not decode must be refused
// with the coded error this test expects for it, and nothing may crash.
// The comparison is test/helpers/pydicom-pixels.ts; io.dicom.pydicom-data.test.ts
// runs it on pydicom-data's real ultrasound files.
// SONOEDGE_DICOM_TABLE=FILE writes the results as the markdown table of docs/DICOM.md.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { MODELS_DIR } from '../../src/model/package.js';
import { checkAgainstPydicom, dumpWithPydicom, PY, SCRIPT, VENV_MISSING, venvReady, writeTable, type Row } from '../helpers/pydicom-pixels.js';

const SAMPLE = path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm');

/** Files sonoedge refuses, and the code it must refuse each with (pydicom decodes them). */
const REFUSED: Record<string, string> = {
  'JPEG-lossy.dcm': 'ERR_SONOEDGE_DICOM_CODEC', // 12-bit JPEG Extended: no 12-bit JPEG decoder
  'JPGExtended.dcm': 'ERR_SONOEDGE_DICOM_CODEC',
  'SC_rgb_rle_32bit.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA', // 32 bits allocated: not ultrasound
  'SC_rgb_rle_32bit_2frame.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'rtdose.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'rtdose_1frame.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'rtdose_expb.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'rtdose_expb_1frame.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'rtdose_rle.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'rtdose_rle_1frame.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'badVR.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'liver_1frame.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA', // 1 bit allocated (a segmentation)
  'liver_expb_1frame.dcm': 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
  'SC_rgb_jpeg.dcm': 'ERR_SONOEDGE_DICOM', // declares Explicit VR but is written Implicit VR (pydicom guesses)
};

/** Every file under dir (pydicom's test data has DICOM files without an extension too). */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...await walk(p));
    else if (!/\.(txt|json|dump|gz|icc)$/.test(e.name) && e.name !== 'DICOMDIR') out.push(p);
  }
  return out.sort();
}

/** OpenJPH encodes HTJ2K codestreams (reversible) for pydicom to wrap: the bundled cine's frames, and 16-bit data. */
async function encodeHtj2k(dir: string): Promise<void> {
  const require = createRequire(import.meta.url);
  const M = await (require('@cornerstonejs/codec-openjph/wasmjs') as () => Promise<Record<string, new () => { getDecodedBuffer(fi: object): Uint8Array; encode(): void; getEncodedBuffer(): Uint8Array; delete(): void }>>)();
  const cine = await readFile(SAMPLE);
  const w = 256;
  const h = 256;
  const frames = [0, 1, 2].map((i) => cine.subarray(cine.length - 16 * w * h + i * w * h, cine.length - 16 * w * h + (i + 1) * w * h));
  const wide = [0, 1].map((f) => {
    const a = new Uint16Array(64 * 48);
    for (let i = 0; i < a.length; i++) a[i] = (i * 97 + f * 4099) % 65536;
    return new Uint8Array(a.buffer);
  });
  const sets: [string, { rows: number; columns: number; samples: number; bits: number; photometric: string }, Uint8Array[]][] = [
    ['us_htj2k_8bit', { rows: h, columns: w, samples: 1, bits: 8, photometric: 'MONOCHROME2' }, frames],
    ['us_htj2k_16bit', { rows: 48, columns: 64, samples: 1, bits: 16, photometric: 'MONOCHROME2' }, wide],
  ];
  for (const [name, meta, data] of sets) {
    await writeFile(path.join(dir, `${name}.json`), JSON.stringify(meta));
    for (let i = 0; i < data.length; i++) {
      const e = new M.HTJ2KEncoder();
      const buf = e.getDecodedBuffer({ width: meta.columns, height: meta.rows, bitsPerSample: meta.bits, componentCount: 1, isSigned: false, isUsingColorTransform: false });
      buf.set(data[i]);
      e.encode();
      await writeFile(path.join(dir, `${name}.${i}.j2c`), e.getEncodedBuffer().slice());
      e.delete();
    }
  }
}

t.test('every image-bearing pydicom test file, and ultrasound-shaped files made by pydicom, decode as pydicom decodes them', { skip: venvReady ? false : VENV_MISSING }, async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pydicom-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const made = path.join(tmp, 'made');
  const htj2k = path.join(tmp, 'htj2k');
  await mkdir(htj2k);
  await encodeHtj2k(htj2k);
  const mk = spawnSync(PY, [SCRIPT, 'make', made, SAMPLE, htj2k], { encoding: 'utf8' });
  t.equal(mk.status, 0, `pydicom made the ultrasound files: ${mk.stderr}`);
  const where = spawnSync(PY, ['-c', 'import os, pydicom; print(os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files"))'], { encoding: 'utf8' }).stdout.trim();
  const files = [...await walk(where), ...await walk(made)];
  const bins = path.join(tmp, 'bins');
  const lines = dumpWithPydicom(t, bins, files);

  const rows: Row[] = [];
  let compared = 0;
  for (const py of lines) {
    const name = path.relative(py.file.startsWith(made) ? made : where, py.file);
    if (!py.ok && /no Pixel Data|File is missing DICOM File Meta|not a DICOM/i.test(py.error ?? '')) continue; // not an image
    const { row, compared: done } = await checkAgainstPydicom(t, py, bins, { name, refused: REFUSED[path.basename(py.file)] });
    rows.push(row);
    if (done) compared++;
  }
  t.ok(compared >= 50, `${compared} files compared value for value`);
  for (const [base] of Object.entries(REFUSED)) t.ok(rows.some((r) => path.basename(r.file) === base), `${base} was among the files`);

  await writeTable(t, rows, process.env.SONOEDGE_DICOM_TABLE);
});
