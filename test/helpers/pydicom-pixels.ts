// The comparison both pixel-for-pixel DICOM tests share (test/unit/io.dicom.pydicom.test.ts
// on pydicom's wheel files, io.dicom.pydicom-data.test.ts on pydicom-data's ultrasound
// files): scripts/pydicom-pixels.py decodes with pydicom + pylibjpeg, sonoedge's
// decoder decodes the same bytes, and each file is checked value for value, or
// its refusal against the coded error a test's table expects.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Test } from 'tap';
import { applyPalette, decodePixels, parseDicomFile, readPalette, type DecodedPixels, type DicomFile } from '../../src/io/dicom.js';

const ROOT = path.join(import.meta.dirname, '..', '..');
export const PY = path.join(ROOT, 'training', '.venv', 'bin', 'python');
export const SCRIPT = path.join(ROOT, 'scripts', 'pydicom-pixels.py');

export interface Tolerance { maxAbs: number; meanAbs: number }
/**
 * Lossy syntaxes decoded by two implementations of one standard. JPEG: libjpeg-turbo
 * (islow IDCT, fancy upsampling, integer YCbCr) against Thomas Richter's libjpeg with
 * pydicom's float32 YCbCr: a sample may differ by a few levels, the mean by well under one.
 */
export const JPEG_LOSSY_TOLERANCE: Tolerance = { maxAbs: 4, meanAbs: 0.25 };
/** JPEG-LS near-lossless and lossy JPEG 2000 decode deterministically: exact. */
export const EXACT: Tolerance = { maxAbs: 0, meanAbs: 0 };

export const venvReady = existsSync(PY)
  && spawnSync(PY, ['-c', 'import pydicom, pylibjpeg, libjpeg, openjpeg, rle, jpeg_ls'], { stdio: 'ignore' }).status === 0;
export const VENV_MISSING = 'training/.venv with pydicom, pylibjpeg(-libjpeg, -openjpeg, -rle) and pyjpegls is absent (npm test creates it from training/pyproject.toml)';

export interface PyLine { index: number; file: string; ok: boolean; dtype?: string; shape?: number[]; photometric?: string; error?: string; warnings?: string[] }

const TYPED: Record<string, new (b: ArrayBuffer) => ArrayLike<number>> = {
  '|u1': Uint8Array, '|i1': Int8Array, '<u2': Uint16Array, '<i2': Int16Array, '<u4': Uint32Array, '<i4': Int32Array, '<f4': Float32Array, '<f8': Float64Array,
};

/** pydicom decodes `files` into `bins`/<index>.bin: one line per file, in order. */
export function dumpWithPydicom(t: Test, bins: string, files: string[]): PyLine[] {
  const dump = spawnSync(PY, [SCRIPT, 'dump', bins, ...files], { encoding: 'utf8', maxBuffer: 1 << 26 });
  t.equal(dump.status, 0, dump.stderr);
  const lines = dump.stdout.trim().split('\n').map((l) => JSON.parse(l) as PyLine);
  t.equal(lines.length, files.length);
  return lines;
}

export interface Row { file: string; syntax: string; photometric: string; frames: string; result: string; ok: boolean }

export interface CheckOptions {
  /** The file as messages and the table name it. */
  name: string;
  /** The coded error sonoedge must refuse the file with, when the test's table lists it. */
  refused?: string;
  /** Reference values from another line than the file's own (a twin pydicom decodes right, where it decodes this file wrong). */
  reference?: PyLine;
  /** A lossy JPEG file's own tolerance, where JPEG_LOSSY_TOLERANCE is too tight for a named reason. */
  jpegTolerance?: Tolerance;
  /** What the tolerance is called in the table. */
  toleranceName?: string;
}

/**
 * Decodes py.file with sonoedge once and checks it against pydicom's line: the
 * values (lossless exact, lossy JPEG within its tolerance), or a refusal with
 * the expected code (or any coded error where pydicom refuses the file too).
 */
export async function checkAgainstPydicom(t: Test, py: PyLine, bins: string, o: CheckOptions): Promise<{ row: Row; compared: boolean }> {
  const { name } = o;
  const base = path.basename(py.file);
  let file: DicomFile | undefined;
  let decoded: DecodedPixels | undefined;
  let ours: ArrayLike<number>[] | undefined;
  let refusal: { code?: string; message: string } | undefined;
  const row: Row = { file: name, syntax: '', photometric: '', frames: '', result: '', ok: false };
  try {
    file = parseDicomFile(await readFile(py.file), base);
    row.syntax = file.syntax.name;
    row.photometric = file.image.photometric;
    row.frames = String(file.image.frames);
    decoded = await decodePixels(file);
    ours = decoded.photometric === 'PALETTE COLOR' ? decoded.frames.map((f) => applyPalette(f, readPalette(file!))) : decoded.frames;
  } catch (err) {
    refusal = { code: (err as { code?: string }).code, message: (err as Error).message };
  }
  if (refusal) {
    row.result = `refused: ${refusal.code} ${refusal.message.replaceAll(py.file, base)}; pydicom ${py.ok ? 'decodes it' : `refuses it too (${py.error})`}`;
    row.ok = refusal.code !== undefined && (o.refused === refusal.code || !py.ok);
    t.ok(row.ok, `${name}: sonoedge refused with ${refusal.code}: ${refusal.message}${py.ok ? ' (pydicom decodes it)' : ` (pydicom refuses too: ${py.error})`}`);
    return { row, compared: false };
  }
  if (!py.ok) {
    row.result = `decoded by sonoedge; pydicom refuses (${py.error})`;
    row.ok = true;
    t.pass(`${name}: pydicom refuses (${py.error}), sonoedge decodes it`);
    return { row, compared: false };
  }
  t.notOk(o.refused, `${name}: decoded, though the test expects ${o.refused}`);
  const ref = o.reference ?? py;
  const Ctor = TYPED[ref.dtype!];
  if (Ctor === undefined) {
    row.result = `MISMATCH: pydicom returned ${ref.dtype}, which sonoedge never does`;
    t.fail(`${name}: ${row.result}`);
    return { row, compared: false };
  }
  const bin = await readFile(path.join(bins, `${ref.index}.bin`));
  const want = new Ctor(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length) as ArrayBuffer);
  const ourAll = ours!.reduce((n, f) => n + f.length, 0);
  if (want.length !== ourAll) {
    row.result = `MISMATCH: ${ourAll} values against pydicom's ${want.length} (${ref.shape!.join('x')})`;
    t.fail(`${name}: ${row.result}`);
    return { row, compared: false };
  }
  let maxAbs = 0;
  let sum = 0;
  let k = 0;
  for (const f of ours!) {
    for (let i = 0; i < f.length; i++, k++) {
      const d = Math.abs(f[i] - want[k]);
      if (d > maxAbs) maxAbs = d;
      sum += d;
    }
  }
  const meanAbs = sum / want.length;
  const jpeg = file!.syntax.lossy && file!.syntax.kind === 'jpeg';
  const tol = jpeg ? o.jpegTolerance ?? JPEG_LOSSY_TOLERANCE : EXACT;
  const tolName = jpeg ? (o.jpegTolerance ? o.toleranceName ?? 'its own tolerance' : 'JPEG_LOSSY_TOLERANCE') : 'must be exact';
  row.ok = maxAbs <= tol.maxAbs && meanAbs <= tol.meanAbs;
  const kind = ['8', '16'].includes(String(decoded!.bits)) ? `${decoded!.bits}-bit${decoded!.signed ? ' signed' : ''}` : '';
  const against = o.reference ? ` against pydicom's ${path.basename(ref.file)}` : '';
  row.result = maxAbs === 0 ? `exact (${want.length} values, ${kind})${against}` : `max abs diff ${maxAbs}, mean ${meanAbs.toFixed(3)} (${tolName})${against}`;
  if (!row.ok) row.result = `MISMATCH: ${row.result}`;
  t.ok(row.ok, `${name} (${row.syntax}, ${row.photometric}): ${row.result}`);
  return { row, compared: true };
}

/** The rows as a markdown table of docs/DICOM.md, written to `out` (a test's SONOEDGE_DICOM_*TABLE=FILE) when it is set. */
export async function writeTable(t: Test, rows: Row[], out: string | undefined): Promise<void> {
  if (!out) return;
  const md = ['| file | transfer syntax | photometric | frames | sonoedge against pydicom |', '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.file} | ${r.syntax} | ${r.photometric} | ${r.frames} | ${r.result.replace(/\|/g, '\\|')} |`)].join('\n');
  await writeFile(out, `${md}\n`);
  t.ok((await stat(out)).size > 0, `table written to ${out}`);
}
