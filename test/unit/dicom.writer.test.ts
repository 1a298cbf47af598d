// The DICOM writer (src/dicom/writer.ts): pixels as DICOM stores them, exact
// for every socket pixel format; each object (US multi-frame clip, SR,
// secondary capture) passes dciodvfy (dicom3tools) with no errors; pydicom and
// highdicom, read independently (scripts/dicom-read-capture.py), find the
// study, the pixels bit for bit and every SR measurement with its exact value,
// unit, method, view, phase, algorithm and frames; bad records are coded errors.
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  CODES, SOP_CLASS, captureUids, decimalString, dicomPixels, writeCapture, type ClipRecord, type WrittenObject,
} from '../../src/dicom/writer.js';
import { DCIODVFY, dciodvfy, readBack, venvReady } from '../helpers/dicom-check.js';

const W = 40;
const H = 30;
const gray = (k: number) => Uint8Array.from({ length: W * H }, (_, i) => (i * 7 + k * 31) & 255);
const contour = [5, 5, 30, 6, 28, 24, 6, 22];

function record(format: ClipRecord['frames']['format'] = 'GRAY8', frames?: Uint8Array[]): ClipRecord {
  return {
    study: { PatientName: 'Doe^Jane', PatientID: 'P-0042', PatientBirthDate: '19700101', PatientSex: 'F', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1', AccessionNumber: 'ACC1', StudyDate: '20240102', StudyTime: '101500' },
    frames: { width: W, height: H, format, frames: frames ?? [0, 1, 2, 3, 4].map(gray) },
    frameTimeMs: 33.3333333,
    spacingMm: [0.3, 0.35],
    sectorRoi: { x: 2, y: 1, width: 36, height: 28 },
    seqs: [100, 101, 102, 103, 104],
    acquiredAt: new Date(2024, 0, 2, 10, 16, 0),
    measurements: {
      view: 'A4C', qualityMean: 0.7125, qualityMin: 0.61,
      ef: { ef: 64.9980149376817, efRaw: 63.1, ci: [55.2, 74.8], quality: 'ok', method: 'beats', beats: 2, edvMl: 71.9569047887815, esvMl: 25.1863450654759, edFrame: 1, esFrame: 3 },
      edAreaMm2: 2659.178613096745, esAreaMm2: 1433.76331407175,
    },
    models: [
      { id: 'sonoedge-view-quality@1.0.0', variant: 'fp32', sha256: 'a'.repeat(64), manifestSha256: 'b'.repeat(64) },
      { id: 'sonoedge-lv-segmentation@1.0.0', variant: 'fp32', sha256: 'c'.repeat(64), manifestSha256: 'd'.repeat(64) },
    ],
    contours: [undefined, contour, undefined, contour, undefined],
  };
}

/** mm to cm in binary floating point (0.35 / 10 is 0.034999999999999996). */
const SPACING_TOLERANCE = 1e-12;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

t.test('pixels: every socket format as DICOM stores it, row padding removed', async (t) => {
  const g8 = dicomPixels({ width: 2, height: 2, format: 'GRAY8', stride: 3, frames: [Uint8Array.of(1, 2, 99, 3, 4, 99)] });
  t.same([g8.photometric, g8.samples, g8.bits, [...g8.data]], ['MONOCHROME2', 1, 8, [1, 2, 3, 4]]);
  const g16 = dicomPixels({ width: 2, height: 1, format: 'GRAY16', frames: [Uint8Array.of(0x34, 0x12, 0xff, 0xfe)] });
  t.same([g16.bits, [...g16.data], g16.conversion], [8, [0x12, 0xfe], 'GRAY16 to 8 bits (the high byte: US images hold 8 bits)']);
  t.same([...dicomPixels({ width: 1, height: 1, format: 'BGR8', frames: [Uint8Array.of(10, 20, 30)] }).data], [30, 20, 10]);
  t.same([...dicomPixels({ width: 1, height: 1, format: 'RGBA8', frames: [Uint8Array.of(10, 20, 30, 40)] }).data], [10, 20, 30]);
  t.same([...dicomPixels({ width: 1, height: 1, format: 'BGRA8', frames: [Uint8Array.of(10, 20, 30, 40)] }).data], [30, 20, 10]);
  // Full-range BT.601: grey stays grey; Y 76, U 85, V 255 is red (R = 76 + 1.402 * 127 = 254.05).
  const yuyv = dicomPixels({ width: 2, height: 1, format: 'YUYV', frames: [Uint8Array.of(128, 128, 76, 128)] });
  t.same([...yuyv.data], [128, 128, 128, 76, 76, 76]);
  t.same([...dicomPixels({ width: 2, height: 1, format: 'YUYV', frames: [Uint8Array.of(76, 85, 76, 255)] }).data], [254, 0, 0, 254, 0, 0]);
  const nv12 = dicomPixels({ width: 2, height: 2, format: 'NV12', frames: [Uint8Array.of(76, 76, 76, 76, 85, 255)] });
  t.same([...nv12.data], [254, 0, 0, 254, 0, 0, 254, 0, 0, 254, 0, 0]);
  t.equal(nv12.conversion, 'NV12 to RGB (full-range BT.601)');
});

t.test('decimal strings fit 16 characters', async (t) => {
  t.equal(decimalString(64.9980149376817), '64.9980149376817');
  t.equal(decimalString(0.07243791557261749), '0.07243791557262');
  t.equal(decimalString(12), '12');
  t.ok(decimalString(-1234567.891234567).length <= 16);
});

t.test('bad records are coded errors naming what was wrong', async (t) => {
  const uids = captureUids({});
  const cases: [string, (r: ClipRecord) => void, string][] = [
    ['no frames', (r) => { r.frames.frames = []; r.seqs = []; }, 'Expected a clip of at least 1 frame but received 0'],
    ['seqs', (r) => { r.seqs = [1]; }, 'Expected one seq per clip frame (5) but received 1'],
    ['frame time', (r) => { r.frameTimeMs = 0; }, 'Expected a positive frame time in ms but received 0'],
    ['spacing', (r) => { r.spacingMm = [0.3, -1]; }, 'Expected a positive pixel spacing [x, y] in mm but received [0.3, -1]'],
    ['short frame', (r) => { r.frames.frames[2] = new Uint8Array(10); }, `Expected clip frame 2 of ${W * H} bytes (${W}x${H} GRAY8) but received 10`],
    ['format', (r) => { (r.frames as { format: string }).format = 'CMYK'; }, 'Expected a clip pixel format (GRAY8, GRAY16, RGB8, BGR8, RGBA8, BGRA8, YUYV, NV12) but received "CMYK"'],
  ];
  for (const [name, spoil, message] of cases) {
    const r = record();
    spoil(r);
    t.throws(() => writeCapture(r, uids), { name: 'RangeError', code: 'ERR_SONOEDGE_DICOM_WRITE', message }, name);
  }
});

t.test('clip, SR and secondary capture: dciodvfy and pydicom/highdicom', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-dicom-writer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const rgbFrames = [0, 1, 2, 3, 4].map((k) => Uint8Array.from({ length: W * H * 3 }, (_, i) => (i * 3 + k) & 255));
  const r16 = [0, 1, 2, 3, 4].map((k) => Uint8Array.from({ length: W * H * 2 }, (_, i) => (i * 5 + k) & 255));
  const variants: [string, ClipRecord, string][] = [
    ['GRAY8', record('GRAY8'), 'MONOCHROME2'],
    ['RGB8', record('RGB8', rgbFrames), 'RGB'],
    ['GRAY16', record('GRAY16', r16), 'MONOCHROME2'],
  ];
  for (const [name, rec, photometric] of variants) {
    const uids = captureUids(rec.study);
    const objects = writeCapture(rec, uids, { secondaryCapture: true, stationName: 'CART-7' });
    t.same(objects.map((o) => o.kind), ['clip', 'sc', 'sr'], `${name}: clip, SC, then the SR that references both`);
    const files: string[] = [];
    for (const o of objects) {
      const f = path.join(dir, `${name}-${o.kind}.dcm`);
      await writeFile(f, o.bytes);
      files.push(f);
    }
    if (DCIODVFY) {
      for (const f of files) {
        const v = dciodvfy(f);
        t.same(v.errors, [], `${path.basename(f)}: dciodvfy finds no errors`);
        t.same(v.warnings, [], `${path.basename(f)}: nor warnings`);
      }
    } else t.skip('dciodvfy (Debian package dicom3tools) is not installed: objects not validated', () => {});
    if (!venvReady) {
      t.skip('training/.venv with pydicom and highdicom is absent: objects not read back', () => {});
      continue;
    }
    const [clip, sc, sr] = readBack(files) as Record<string, any>[];
    for (const x of [clip, sc, sr]) t.equal(x.ok, true, `${name}: read back (${x.error ?? ''})`);
    for (const x of [clip, sc, sr]) {
      t.same([x.study, x.patientName, x.patientId], [rec.study.StudyInstanceUID, 'Doe^Jane', 'P-0042'], `${name} ${x.sopClass}: the input's study and patient`);
    }
    t.same([clip.sopClass, clip.sopInstance, clip.modality, clip.photometric], [SOP_CLASS.usMultiframe, uids.clip, 'US', photometric]);
    const stored = name === 'GRAY16' ? rec.frames.frames.map((f) => f.filter((_, i) => i % 2 === 1)) : rec.frames.frames;
    const packed = new Uint8Array(stored.length * stored[0].length);
    stored.forEach((f: Uint8Array, i: number) => packed.set(f, i * f.length));
    t.equal(clip.sha256, sha(packed), `${name}: the clip's pixels are the frames${name === 'GRAY16' ? "' high bytes" : ''}, bit for bit`);
    t.same(clip.shape, name === 'RGB8' ? [5, H, W, 3] : [5, H, W]);
    t.equal(clip.frameTime, 33.3333333);
    t.same(clip.region.slice(0, 4), [2, 1, 37, 28], 'the sector box');
    t.ok(Math.abs(clip.region[4] - 0.03) < SPACING_TOLERANCE && Math.abs(clip.region[5] - 0.035) < SPACING_TOLERANCE, 'both spacings, in cm');
    t.same([sc.sopClass, sc.photometric, sc.shape], [SOP_CLASS.secondaryCapture, 'RGB', [H, W, 3]]);
    t.equal(sr.sr.template, '5200');
    t.same(sr.sr.title, ['125200', 'DCM', 'Adult Echocardiography Procedure Report']);
    t.same(sr.sr.observer['Observer Type'], ['121007', 'DCM', 'Device']);
    t.equal(sr.sr.observer['Device Observer Name'], 'CART-7');
    t.same(sr.sr.library, [uids.clip, uids.sc, ...Array(6).fill(uids.clip)], 'the image library (clip and SC), then each of the 6 measurements, reference the clip');
    const byCode = new Map<string, any>(sr.sr.num.map((n: any) => [n.name[0], n]));
    const m = rec.measurements;
    const expect: [string, number, string, number[] | null, string | null][] = [
      [CODES.ef.CodeValue, m.ef!.ef, '%', [2, 4], null],
      [CODES.edv.CodeValue, m.ef!.edvMl, 'ml', [2], 'End diastole'],
      [CODES.esv.CodeValue, m.ef!.esvMl, 'ml', [4], 'End Systole'],
      [CODES.edArea.CodeValue, m.edAreaMm2! / 100, 'cm2', [2], 'End diastole'],
      [CODES.esArea.CodeValue, m.esAreaMm2! / 100, 'cm2', [4], 'End Systole'],
      [CODES.imageQuality.CodeValue, m.qualityMean, '1', null, null],
    ];
    for (const [c, value, unit, frames, phase] of expect) {
      const n = byCode.get(c);
      t.ok(n, `${name}: SR holds ${c}`);
      if (!n) continue;
      t.equal(n.value, value, `${name}: ${n.name[2]} is the runtime's value exactly`);
      t.equal(n.unit[0], unit);
      t.same(n.frames, frames, `${n.name[2]}: its clip frames (1-based)`);
      t.same(n.code['Image View'], ['399214001', 'SCT', 'Apical four chamber']);
      t.same(n.text['Algorithm Name'], ['sonoedge']);
      t.same(n.text['Algorithm Parameters'], [
        `model package sonoedge-view-quality@1.0.0 variant fp32 sha256 ${'a'.repeat(64)} manifest sha256 ${'b'.repeat(64)}`,
        `model package sonoedge-lv-segmentation@1.0.0 variant fp32 sha256 ${'c'.repeat(64)} manifest sha256 ${'d'.repeat(64)}`,
      ]);
      if (phase) t.equal(n.code['Cardiac cycle phase'][2], phase);
      if (c !== CODES.imageQuality.CodeValue) t.same(n.code['Measurement Method'], ['125205', 'DCM', 'Area-Length Single Plane']);
    }
  }
});

t.test('a clip without EF: the SR has the view and quality only; no outline, no SC', async (t) => {
  const rec = record();
  delete rec.measurements.ef;
  rec.measurements.view = 'PLAX';
  rec.contours = rec.contours.map(() => undefined);
  const objects: WrittenObject[] = writeCapture(rec, captureUids(rec.study), { secondaryCapture: true });
  t.same(objects.map((o) => o.kind), ['clip', 'sr']);
  if (!venvReady || !DCIODVFY) {
    t.skip('dciodvfy or the training venv is absent', () => {});
    return;
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-dicom-writer-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'sr.dcm');
  await writeFile(f, objects[1].bytes);
  t.same(dciodvfy(f).errors, []);
  const [sr] = readBack([f]);
  t.same(sr.sr.num.map((n: any) => [n.name[0], n.value, n.code['Image View']]), [[CODES.imageQuality.CodeValue, 0.7125, ['399139001', 'SCT', 'Parasternal long axis']]]);
});
