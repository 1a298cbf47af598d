// sonoedge's DICOM decoder against pydicom + pylibjpeg, pixel for pixel: every
// image-bearing file of pydicom's own test files (read from the wheel in
// training/.venv, never committed), plus ultrasound-shaped files the wheel
// lacks, made at test time by pydicom's encoders (JPEG 2000, JPEG-LS, RLE,
// colour by plane, YBR_FULL, plain and segmented palettes) and by OpenJPH here
// (HTJ2K, wrapped by pydicom). Lossless syntaxes must match exactly; lossy ones
// within a named tolerance; a file sonoedge does not decode must be refused
// with the coded error this test expects for it, and nothing may crash.
// SONOEDGE_DICOM_TABLE=FILE writes the results as the markdown table of docs/DICOM.md.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { applyPalette, decodePixels, parseDicomFile, readPalette, type DecodedPixels } from '../../src/io/dicom.js';
import { MODELS_DIR } from '../../src/model/package.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
const PY = path.join(ROOT, 'training', '.venv', 'bin', 'python');
const SCRIPT = path.join(ROOT, 'scripts', 'pydicom-pixels.py');
const SAMPLE = path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm');

/**
 * Lossy syntaxes decoded by two implementations of one standard. JPEG: libjpeg-turbo
 * (islow IDCT, fancy upsampling, integer YCbCr) against Thomas Richter's libjpeg with
 * pydicom's float32 YCbCr: a sample may differ by a few levels, the mean by well under one.
 */
const JPEG_LOSSY_TOLERANCE = { maxAbs: 4, meanAbs: 0.25 };
/** JPEG-LS near-lossless and lossy JPEG 2000 decode deterministically: exact. */
const EXACT = { maxAbs: 0, meanAbs: 0 };

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

const venvReady = existsSync(PY)
  && spawnSync(PY, ['-c', 'import pydicom, pylibjpeg, libjpeg, openjpeg, rle, jpeg_ls'], { stdio: 'ignore' }).status === 0;

interface PyLine { index: number; file: string; ok: boolean; dtype?: string; shape?: number[]; photometric?: string; error?: string; warnings?: string[] }

const TYPED: Record<string, new (b: ArrayBuffer) => ArrayLike<number>> = {
  '|u1': Uint8Array, '|i1': Int8Array, '<u2': Uint16Array, '<i2': Int16Array, '<u4': Uint32Array, '<i4': Int32Array, '<f4': Float32Array, '<f8': Float64Array,
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

interface Row { file: string; syntax: string; photometric: string; frames: string; result: string; ok: boolean }

t.test('every image-bearing pydicom test file, and ultrasound-shaped files made by pydicom, decode as pydicom decodes them', { skip: venvReady ? false : 'training/.venv with pydicom, pylibjpeg(-libjpeg, -openjpeg, -rle) and pyjpegls is absent (npm test creates it from training/pyproject.toml)' }, async (t) => {
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
  const dump = spawnSync(PY, [SCRIPT, 'dump', bins, ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
  t.equal(dump.status, 0, dump.stderr);
  const lines = dump.stdout.trim().split('\n').map((l) => JSON.parse(l) as PyLine);
  t.equal(lines.length, files.length);

  const rows: Row[] = [];
  let compared = 0;
  for (const py of lines) {
    const name = path.relative(py.file.startsWith(made) ? made : where, py.file);
    const base = path.basename(py.file);
    if (!py.ok && /no Pixel Data|File is missing DICOM File Meta|not a DICOM/i.test(py.error ?? '')) continue; // not an image
    const bytes = await readFile(py.file);
    let decoded: DecodedPixels | undefined;
    let ours: ArrayLike<number>[] | undefined;
    let refusal: { code?: string; message: string } | undefined;
    let syntax = '';
    let photometric = '';
    let frames = '';
    try {
      const file = parseDicomFile(bytes, base);
      syntax = file.syntax.name;
      photometric = file.image.photometric;
      frames = String(file.image.frames);
      decoded = await decodePixels(file);
      ours = decoded.photometric === 'PALETTE COLOR' ? decoded.frames.map((f) => applyPalette(f, readPalette(file))) : decoded.frames;
    } catch (err) {
      refusal = { code: (err as { code?: string }).code, message: (err as Error).message };
    }
    const row: Row = { file: name, syntax, photometric, frames, result: '', ok: false };
    rows.push(row);
    if (refusal) {
      const want = REFUSED[base];
      row.result = `refused: ${refusal.code} ${refusal.message.replaceAll(py.file, base)}; pydicom ${py.ok ? 'decodes it' : `refuses it too (${py.error})`}`;
      row.ok = refusal.code !== undefined && (want === refusal.code || !py.ok);
      t.ok(row.ok, `${name}: sonoedge refused with ${refusal.code}: ${refusal.message}${py.ok ? ' (pydicom decodes it)' : ` (pydicom refuses too: ${py.error})`}`);
      continue;
    }
    if (!py.ok) {
      row.result = `decoded by sonoedge; pydicom refuses (${py.error})`;
      row.ok = true;
      t.pass(`${name}: pydicom refuses (${py.error}), sonoedge decodes it`);
      continue;
    }
    t.notOk(REFUSED[base], `${name}: decoded, though the test expects ${REFUSED[base]}`);
    const Ctor = TYPED[py.dtype!];
    if (Ctor === undefined) {
      row.result = `MISMATCH: pydicom returned ${py.dtype}, which sonoedge never does`;
      t.fail(`${name}: ${row.result}`);
      continue;
    }
    const bin = await readFile(path.join(bins, `${py.index}.bin`));
    const ref = new Ctor(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) as ArrayBuffer);
    const ourAll = ours!.reduce((n, f) => n + f.length, 0);
    if (ref.length !== ourAll) {
      row.result = `MISMATCH: ${ourAll} values against pydicom's ${ref.length} (${py.shape!.join('x')})`;
      t.fail(`${name}: ${row.result}`);
      continue;
    }
    let maxAbs = 0;
    let sum = 0;
    let k = 0;
    for (const f of ours!) {
      for (let i = 0; i < f.length; i++, k++) {
        const d = Math.abs(f[i] - ref[k]);
        if (d > maxAbs) maxAbs = d;
        sum += d;
      }
    }
    const meanAbs = sum / ref.length;
    const lossy = parseDicomFile(bytes, base).syntax;
    const tol = lossy.lossy && lossy.kind === 'jpeg' ? JPEG_LOSSY_TOLERANCE : EXACT;
    row.ok = maxAbs <= tol.maxAbs && meanAbs <= tol.meanAbs;
    const kind = ['8', '16'].includes(String(decoded!.bits)) ? `${decoded!.bits}-bit${decoded!.signed ? ' signed' : ''}` : '';
    row.result = maxAbs === 0 ? `exact (${ref.length} values, ${kind})` : `max abs diff ${maxAbs}, mean ${meanAbs.toFixed(3)} (${tol === JPEG_LOSSY_TOLERANCE ? 'JPEG_LOSSY_TOLERANCE' : 'must be exact'})`;
    if (!row.ok) row.result = `MISMATCH: ${row.result}`;
    t.ok(row.ok, `${name} (${syntax}, ${photometric}): ${row.result}`);
    compared++;
  }
  t.ok(compared >= 50, `${compared} files compared value for value`);
  for (const [base] of Object.entries(REFUSED)) t.ok(rows.some((r) => path.basename(r.file) === base), `${base} was among the files`);

  const out = process.env.SONOEDGE_DICOM_TABLE;
  if (out) {
    const md = ['| file | transfer syntax | photometric | frames | sonoedge against pydicom |', '| --- | --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.file} | ${r.syntax} | ${r.photometric} | ${r.frames} | ${r.result.replace(/\|/g, '\\|')} |`)].join('\n');
    await writeFile(out, `${md}\n`);
    t.ok((await stat(out)).size > 0, `table written to ${out}`);
  }
});
