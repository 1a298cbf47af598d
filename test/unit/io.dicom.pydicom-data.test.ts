// sonoedge's DICOM decoder against pydicom + pylibjpeg, pixel for pixel, on every
// US-modality file of pydicom-data (pydicom's larger test files, a package of
// their own, installed in training/.venv, never committed, never downloaded):
// the real ultrasound a cart meets that pydicom's wheel lacks. JPEG lossless,
// PALETTE COLOR with 8- and 16-bit tables (native, explicit big endian, RLE),
// JPEG 2000 lossy and lossless (YBR_ICT, YBR_RCT), RGB by pixel and by plane,
// and a 120-frame YBR_FULL_422 baseline JPEG cine. Same rules as
// io.dicom.pydicom.test.ts (test/helpers/pydicom-pixels.ts): lossless exact,
// lossy JPEG within a named tolerance, a refusal only with the coded error
// REFUSED lists. Each file is decoded once on each side; the cine is compared
// on all its frames (about 2 s for sonoedge, 5 s for pydicom).
// SONOEDGE_DICOM_DATA_TABLE=FILE writes the results as the markdown table of docs/DICOM.md.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { checkAgainstPydicom, dumpWithPydicom, PY, SCRIPT, VENV_MISSING, venvReady, writeTable, type PyLine, type Row, type Tolerance } from '../helpers/pydicom-pixels.js';

/** Files sonoedge refuses, the code it must refuse each with, and why. None: every one decodes. */
const REFUSED: Record<string, { code: string; why: string }> = {};

/**
 * Files pydicom decodes wrong, checked instead against pydicom's decode of a twin
 * holding the same image. pydicom 3.0.2's apply_color_lut reads plain (not segmented)
 * Palette Color Lookup Table Data as little endian in an explicit big endian file:
 * every 16-bit entry comes out byte-swapped (0x2500 as 0x0025). The test checks that
 * this is still all pydicom gets wrong, so the entry goes once pydicom is fixed.
 */
const PYDICOM_WRONG: Record<string, { twin: string; why: string }> = {
  'OBXXXX1A_expb.dcm': { twin: 'OBXXXX1A.dcm', why: 'pydicom byte-swaps the big endian 16-bit palette' },
  'OBXXXX1A_expb_2frame.dcm': { twin: 'OBXXXX1A_2frame.dcm', why: 'pydicom byte-swaps the big endian 16-bit palette' },
};

/**
 * color3d_jpeg_baseline.dcm is 4:2:2 (chroma halved across): libjpeg-turbo and Richter's
 * libjpeg upsample it differently, and 120 of its 110,592,000 values differ by 5 (the
 * mean by 0.024). sonoedge matches libjpeg-turbo as Pillow runs it exactly on all 120
 * frames, so this is the two decoders, not the reader: one level past JPEG_LOSSY_TOLERANCE,
 * with a tighter mean.
 */
const JPEG_422_CINE_TOLERANCE: Tolerance = { maxAbs: 5, meanAbs: 0.05 };
const OWN_TOLERANCE: Record<string, Tolerance> = { 'color3d_jpeg_baseline.dcm': JPEG_422_CINE_TOLERANCE };

/** The ultrasound files named when this test was written: a listing that misses one is broken, not short. */
const EXPECTED = [
  'JPGLosslessP14SV1_1s_1f_8b.dcm', 'OBXXXX1A.dcm', 'OBXXXX1A_2frame.dcm', 'OBXXXX1A_expb.dcm', 'OBXXXX1A_expb_2frame.dcm',
  'OBXXXX1A_rle.dcm', 'OBXXXX1A_rle_2frame.dcm', 'US1_J2KI.dcm', 'US1_J2KR.dcm', 'US1_UNCI.dcm', 'US1_UNCR.dcm',
  'color-pl.dcm', 'color-px.dcm', 'color3d_jpeg_baseline.dcm', 'gdcm-US-ALOKA-16.dcm', 'gdcm-US-ALOKA-16_big.dcm',
];

const listing = venvReady ? spawnSync(PY, [SCRIPT, 'us-data'], { encoding: 'utf8' }) : undefined;
const skip = !venvReady ? VENV_MISSING
  : listing!.status === 3 ? 'pydicom-data (pydicom\'s larger test files) is not installed in training/.venv'
    : false;

/** pydicom's values for a file, 16-bit words read back with their bytes swapped. */
async function swapped16(bins: string, py: PyLine): Promise<Buffer> {
  const b = Buffer.from(await readFile(path.join(bins, `${py.index}.bin`)));
  return b.swap16();
}

t.test('every US-modality file of pydicom-data decodes as pydicom decodes it', { skip }, async (t) => {
  t.equal(listing!.status, 0, `pydicom-data listed: ${listing!.stderr}`);
  const files = listing!.stdout.trim().split('\n');
  const bases = files.map((f) => path.basename(f));
  for (const name of EXPECTED) t.ok(bases.includes(name), `${name} is among pydicom-data's ultrasound files`);
  for (const name of [...Object.keys(REFUSED), ...Object.keys(PYDICOM_WRONG)]) t.ok(bases.includes(name), `${name}, in a table here, is among the files`);

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pydicom-data-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));
  const bins = path.join(tmp, 'bins');
  const lines = dumpWithPydicom(t, bins, files);
  const byName = new Map(lines.map((l) => [path.basename(l.file), l]));

  const rows: Row[] = [];
  let compared = 0;
  for (const py of lines) {
    const name = path.basename(py.file);
    const wrong = PYDICOM_WRONG[name];
    const twin = wrong ? byName.get(wrong.twin) : undefined;
    if (wrong) {
      t.ok(twin?.ok && py.ok, `${name}: pydicom decodes it and its twin ${wrong.twin}`);
      if (!twin?.ok || !py.ok) continue;
      t.ok((await swapped16(bins, py)).equals(await readFile(path.join(bins, `${twin.index}.bin`))),
        `${name}: ${wrong.why} (its values byte-swapped are its twin's); once pydicom decodes it right, drop it from PYDICOM_WRONG`);
    }
    const { row, compared: done } = await checkAgainstPydicom(t, py, bins, {
      name, refused: REFUSED[name]?.code, reference: twin, jpegTolerance: OWN_TOLERANCE[name], toleranceName: 'JPEG_422_CINE_TOLERANCE',
    });
    if (REFUSED[name]) row.result += ` (${REFUSED[name].why})`;
    rows.push(row);
    if (done) compared++;
  }
  t.equal(compared, files.length - Object.keys(REFUSED).length, `${compared} of ${files.length} ultrasound files compared value for value`);
  await writeTable(t, rows, process.env.SONOEDGE_DICOM_DATA_TABLE);
});
