// Replay's readers: DICOM (uncompressed implicit/explicit, RLE, JPEG baseline)
// against fixtures encoded by pydicom and Pillow (scripts/make-dicom-fixtures.py),
// the ultrasound region (clipped, dropped, both spacings), frame counts and
// implausible sizes on patched copies of them, PNG folders and raw files, and
// every refusal with its code and message. Every transfer syntax against
// pydicom, pixel for pixel: io.dicom.pydicom.test.ts.
import t from 'tap';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { decodeRleFrame, parseDicomFile, parseRawGeometry, readDicom, readInput, readRaw, studyAttributes, transferSyntax } from '../../src/io/index.js';
import { MODELS_DIR } from '../../src/model/package.js';
import { resolveSector } from '../../src/cli/replay-geometry.js';

const FIX = path.join(import.meta.dirname, '..', 'fixtures', 'dicom');
const SAMPLE = path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm');
const reference = JSON.parse(await readFile(path.join(FIX, 'reference.json'), 'utf8')) as Record<string, { pillowMeanAbsErr: number; pillowFrameMeans?: number[] }>;
const sampleBytes = await readFile(SAMPLE);
const FRAME = 256 * 256;
/** The sample's frames, straight from the file's tail (its pixel data element is last). */
const sampleFrame = (i: number) => sampleBytes.subarray(sampleBytes.length - 16 * FRAME + i * FRAME, sampleBytes.length - 16 * FRAME + (i + 1) * FRAME);
const LABELS = { ed: 11, ef: 69.1636, es: 3, seed: 0, view: 'A4C' };
// PhysicalDeltaX (cm, as a double) x 10: exact up to one rounding of the multiplication.
const SPACING = 0.07243791557261749 * 10;

/** The colour fixtures' pattern: R = 5x, G = 7y, B = x + y + 10f (mod 256). */
function pattern(f: number, w: number, h: number): Uint8Array {
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) out.set([(5 * x) % 256, (7 * y) % 256, (x + y + 10 * f) % 256], 3 * (y * w + x));
  }
  return out;
}
const meanAbs = (a: Uint8Array, b: Uint8Array) => a.reduce((s, v, i) => s + Math.abs(v - b[i]), 0) / a.length;
const mean = (a: Uint8Array) => a.reduce((s, v) => s + v, 0) / a.length;

t.test('uncompressed explicit VR: frames, spacing from the ultrasound regions, frame time, labels', async (t) => {
  const c = await readDicom(sampleBytes);
  t.same([c.width, c.height, c.format, c.frames.length], [256, 256, 'GRAY8', 16]);
  t.ok(Math.abs((c.pixelSpacingMm as number) - SPACING) < 1e-12, `${c.pixelSpacingMm}`);
  t.equal(c.frameTimeMs, 33.333);
  t.same(c.sectorRoi, { x: 0, y: 0, width: 256, height: 256 });
  t.same(c.labels, LABELS);
  for (let i = 0; i < 16; i++) t.same(Buffer.from(c.frames[i]), sampleFrame(i), `frame ${i}`);
});

t.test('RLE Lossless (pydicom encoder): bit-identical to the uncompressed frames', async (t) => {
  const c = await readInput(path.join(FIX, 'a4c_rle.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [256, 256, 'GRAY8', 4]);
  for (let i = 0; i < 4; i++) t.same(Buffer.from(c.frames[i]), sampleFrame(i), `frame ${i}`);
  t.ok(Math.abs((c.pixelSpacingMm as number) - SPACING) < 1e-12);
  t.same(c.labels, LABELS);
});

t.test('RLE colour: three segments interleaved into RGB8, spacing from PixelSpacing', async (t) => {
  const c = await readInput(path.join(FIX, 'rgb_rle.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [40, 30, 'RGB8', 2]);
  for (let f = 0; f < 2; f++) t.same(c.frames[f], pattern(f, 40, 30), `frame ${f}`);
  t.same(c.pixelSpacingMm, [0.5, 0.25], 'x the column spacing, y the row spacing of PixelSpacing 0.25\\0.5');
  t.equal(c.sectorRoi, undefined);
  t.equal(c.labels, undefined);
});

t.test('JPEG baseline (Pillow encoder): libjpeg-turbo decodes as close to the original as Pillow\'s libjpeg does', async (t) => {
  const c = await readInput(path.join(FIX, 'a4c_jpeg.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [256, 256, 'GRAY8', 4]);
  const ref = reference['a4c_jpeg.dcm'];
  const err = c.frames.reduce((s, f, i) => s + meanAbs(f, sampleFrame(i)), 0) / 4;
  // Two builds of libjpeg may differ by rounding: within 0.25 grey levels of Pillow's mean error.
  t.ok(Math.abs(err - ref.pillowMeanAbsErr) <= 0.25, `mean |err| ${err} vs libjpeg ${ref.pillowMeanAbsErr}`);
  c.frames.forEach((f, i) => t.ok(Math.abs(mean(f) - ref.pillowFrameMeans![i]) <= 0.1, `frame ${i} mean ${mean(f)} vs ${ref.pillowFrameMeans![i]}`));
  t.same(c.labels, LABELS);

  const rgb = await readInput(path.join(FIX, 'rgb_jpeg.dcm'));
  t.same([rgb.width, rgb.height, rgb.format, rgb.frames.length], [40, 30, 'RGB8', 2]);
  const rgbErr = (meanAbs(rgb.frames[0], pattern(0, 40, 30)) + meanAbs(rgb.frames[1], pattern(1, 40, 30))) / 2;
  // Both interpolate the 4:2:2 chroma; a wrong colour transform would be off by tens of levels.
  t.ok(Math.abs(rgbErr - reference['rgb_jpeg.dcm'].pillowMeanAbsErr) <= 0.25, `YBR_FULL_422 -> RGB mean |err| ${rgbErr} vs libjpeg ${reference['rgb_jpeg.dcm'].pillowMeanAbsErr}`);
});

t.test('implicit VR little endian: the region box becomes the sector ROI; free-text comments are not labels', async (t) => {
  const c = await readInput(path.join(FIX, 'implicit_gray.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [32, 24, 'GRAY8', 2]);
  t.same(c.sectorRoi, { x: 4, y: 2, width: 24, height: 20 });
  t.ok(Math.abs((c.pixelSpacingMm as number) - 0.5) < 1e-12);
  t.equal(c.labels, undefined);
  for (let f = 0; f < 2; f++) {
    const want = new Uint8Array(32 * 24);
    for (let y = 0; y < 24; y++) want.set(sampleFrame(f).subarray((100 + y) * 256 + 100, (100 + y) * 256 + 132), y * 32);
    t.same(Buffer.from(c.frames[f]), Buffer.from(want), `frame ${f}`);
  }
});

/**
 * A copy of a little-endian file with one element's value overwritten in place (same length):
 * the tag found by its bytes, implicit (4-byte length) or explicit VR (2-byte length).
 */
function patch(bytes: Uint8Array, tag: number, value: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const key = Buffer.from([(tag >> 16) & 0xff, tag >>> 24, tag & 0xff, (tag >> 8) & 0xff]);
  const at = out.indexOf(key, 132);
  if (at < 0) throw new Error(`tag ${tag.toString(16)} not found`);
  const explicit = /^[A-Z]{2}$/.test(out.toString('latin1', at + 4, at + 6));
  const len = explicit ? out.readUInt16LE(at + 6) : out.readUInt32LE(at + 4);
  if (len !== value.length) throw new Error(`tag ${tag.toString(16)} holds ${len} bytes, not ${value.length}`);
  value.copy(out, at + (explicit ? 8 : 8));
  return out;
}
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const f64 = (v: number) => { const b = Buffer.alloc(8); b.writeDoubleLE(v); return b; };
const IMPLICIT = path.join(FIX, 'implicit_gray.dcm');

t.test('the ultrasound region: both spacings as [x, y], a box that overhangs is clipped, one outside the image is dropped', async (t) => {
  const bytes = await readFile(IMPLICIT);
  const square = await readDicom(bytes, 'g.dcm');
  t.equal(square.pixelSpacingMm, 0.05 * 10, 'equal deltas: one number');
  t.same(square.warnings, []);
  t.same(square.dicom?.spacingMm, [0.5, 0.5]);
  t.equal(square.dicom?.spacingSource, 'ultrasound region 1 physical deltas (0018,602C/602E)');

  const unequal = await readDicom(patch(bytes, 0x0018602e, f64(0.07)), 'g.dcm');
  t.same(unequal.pixelSpacingMm, [0.05 * 10, 0.07 * 10], 'x from Physical Delta X, y from Physical Delta Y');

  // Max X1 33 and Max Y1 24 in a 32x24 image: two columns and one row past the edge.
  const over = await readDicom(patch(patch(bytes, 0x0018601c, u32(33)), 0x0018601e, u32(24)), 'g.dcm');
  t.same(over.sectorRoi, { x: 4, y: 2, width: 28, height: 22 });
  t.same(over.warnings, [{ code: 'WARN_SONOEDGE_DICOM_REGION_CLIPPED', message: 'g.dcm: ultrasound region 1 (2D, x 4..33, y 2..24) overhangs the 32x24 image by 2 px right and 1 px below; clipped to x 4..31, y 2..23' }]);
  t.equal(over.pixelSpacingMm, 0.5, "a clipped region's spacing still holds");
  t.same([over.dicom?.used?.clipped, over.dicom?.used?.overhangPx], [true, 2], 'the larger of right and below');
  t.same([square.dicom?.used?.clipped, square.dicom?.used?.overhangPx], [false, 0]);

  const outside = await readDicom(patch(patch(bytes, 0x00186018, u32(40)), 0x0018601c, u32(50)), 'g.dcm');
  t.equal(outside.sectorRoi, undefined);
  t.equal(outside.pixelSpacingMm, undefined, 'no other spacing in the file');
  t.same(outside.warnings, [{ code: 'WARN_SONOEDGE_DICOM_REGION_OUTSIDE', message: 'g.dcm: ultrasound region 1 (2D, x 40..50, y 2..21) lies outside the 32x24 image; dropped (its box and spacing are not used)' }]);
  t.same([outside.frames.length, outside.width], [2, 32], 'the study is read all the same');

  // Deltas of 1e300 cm made LV areas Infinity and the EF NaN, 1e-300 cm areas of 0: not used, a warning says so.
  for (const [delta, mm] of [[1e300, '1e+301'], [1e-300, '1e-299']] as const) {
    const odd = await readDicom(patch(patch(bytes, 0x0018602c, f64(delta)), 0x0018602e, f64(0.05)), 'g.dcm');
    t.equal(odd.pixelSpacingMm, undefined, 'no other spacing in the file');
    t.same(odd.dicom?.spacingMm, undefined);
    t.same(odd.sectorRoi, { x: 4, y: 2, width: 24, height: 20 }, 'the region box still holds');
    t.same(odd.warnings, [{ code: 'WARN_SONOEDGE_DICOM_SPACING',
      message: `g.dcm: a spacing of ${mm} x 0.5 mm per pixel from ultrasound region 1 physical deltas (0018,602C/602E) is outside 0.000001..1000 mm; not used (--pixel-spacing sets it)` }]);
  }
});

t.test("replay's default sector: a region overhanging by at most 2 px frames the sector, one past that describes a larger original and the finder frames it", async (t) => {
  // The sample's region is its whole 256x256 frame (x 0..255); its fan's tight box is inside it.
  const bytes = await readFile(SAMPLE);
  const plain = await readDicom(bytes, 's.dcm');
  t.same(resolveSector(undefined, plain), { roi: { x: 0, y: 0, width: 256, height: 256 }, line: 'sector 0,0,256,256 (the DICOM ultrasound region)', source: 'region' });
  const auto = resolveSector({ kind: 'auto' }, plain);
  t.same(auto, { roi: { x: 0, y: 0, width: 256, height: 211 }, line: 'sector 0,0,256,211 (--sector auto: a 75-degree fan, apex 128,0, radius 210 px, confidence 0.99, 16 frames)', source: 'finder' }, 'the finder gives the fan, not the whole frame');
  for (const [x1, used] of [[257, 'region'], [258, 'finder']] as const) {
    const cine = await readDicom(patch(bytes, 0x0018601c, u32(x1)), 's.dcm');
    t.equal(cine.dicom?.used?.overhangPx, x1 - 255);
    const r = resolveSector(undefined, cine);
    if (used === 'region') {
      t.same(r, { roi: { x: 0, y: 0, width: 256, height: 256 }, line: 'sector 0,0,256,256 (the DICOM ultrasound region)', source: 'region' }, '2 px: the region');
    } else {
      t.same(r.roi, auto.roi, '3 px: the box --sector auto finds');
      t.equal(r.source, 'finder');
      t.equal(r.line, auto.line.replace('--sector auto', 'found on the frames, as --sector auto does, because the DICOM ultrasound region overhangs the image by 3 px and so describes a larger original'));
    }
  }
});

t.test('a frame time past 0.1..1000 fps is not used, and a warning says so', async (t) => {
  t.equal((await readDicom(sampleBytes, 's.dcm')).frameTimeMs, 33.333);
  // The sample's Frame Time is '33.333' (6 bytes): 1e9 ms paced --realtime for months, 1e-9 ms wrote clips of 1e12 fps.
  for (const text of ['1e9', '1e-9', '0.5', '10001']) {
    const c = await readDicom(patch(sampleBytes, 0x00181063, Buffer.from(text.padEnd(6, ' '))), 's.dcm');
    t.equal(c.frameTimeMs, undefined, text);
    t.equal(c.dicom?.frameTimeMs, undefined);
    t.same(c.warnings, [{ code: 'WARN_SONOEDGE_DICOM_FRAME_TIME',
      message: `s.dcm: a frame time of ${Number(text)} ms from Frame Time (0018,1063) or Cine Rate (0018,0040) is outside 1..10000 ms (0.1..1000 fps); not used (--fps sets it)` }]);
  }
  for (const text of ['1', '10000']) t.equal((await readDicom(patch(sampleBytes, 0x00181063, Buffer.from(text.padEnd(6, ' '))), 's.dcm')).frameTimeMs, Number(text), `${text} ms is used`);
});

t.test('frame counts: extra frames are a named warning, missing ones a coded error; implausible sizes are refused before allocating', async (t) => {
  const bytes = await readFile(IMPLICIT);
  const extra = await readDicom(patch(bytes, 0x00280008, Buffer.from('1 ')), 'g.dcm');
  t.equal(extra.frames.length, 1);
  t.same(extra.warnings, [{ code: 'WARN_SONOEDGE_DICOM_FRAMES', message: 'g.dcm declares 1 frame (0028,0008) but its pixel data holds 2; reading the 1 declared' }]);
  await t.rejects(readDicom(patch(bytes, 0x00280008, Buffer.from('3 ')), 'g.dcm'), {
    code: 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
    message: 'Expected 2304 bytes of pixel data (3 frames of 32x24x1, 8 bits) in g.dcm but received 1536 (2 whole frames): the data is truncated',
  });
  await t.rejects(readDicom(patch(patch(bytes, 0x00280010, u16(65535)), 0x00280011, u16(65535)), 'g.dcm'), {
    code: 'ERR_SONOEDGE_DICOM_DIMENSIONS',
    message: 'Expected a frame of at most 256 MiB but received Rows 65535 x Columns 65535 x 1 samples x 1 bytes = 4294836225 bytes, implausible for an image',
  });
  await t.rejects(readDicom(patch(bytes, 0x00280100, u16(32)), 'g.dcm'), {
    code: 'ERR_SONOEDGE_DICOM_PIXEL_DATA', message: 'Expected 8 or 16 bits allocated per sample (what ultrasound uses) but received 32 in g.dcm',
  });
  // Planar Configuration is 0 or 1; 2 was read as colour-by-pixel without a word.
  await t.rejects(readDicom(patch(await readFile(path.join(FIX, 'rgb_rle.dcm')), 0x00280006, u16(2)), 'c.dcm'), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DICOM_PIXEL_DATA',
    message: 'Expected Planar Configuration (0028,0006) of 0 (colour by pixel) or 1 (colour by plane) but received 2 in c.dcm',
  });
  // Encapsulated: RLE with one fragment per frame.
  const rle = await readFile(path.join(FIX, 'a4c_rle.dcm'));
  const rleExtra = await readDicom(patch(rle, 0x00280008, Buffer.from('3 ')), 'r.dcm');
  t.same([rleExtra.frames.length, rleExtra.warnings?.[0]?.code], [3, 'WARN_SONOEDGE_DICOM_FRAMES']);
  await t.rejects(readDicom(patch(rle, 0x00280008, Buffer.from('5 ')), 'r.dcm'), {
    code: 'ERR_SONOEDGE_DICOM_PIXEL_DATA', message: 'Expected 5 encapsulated frames in r.dcm but received 4 (4 fragments, 4 offsets): the data is truncated',
  });
});

t.test("the study's patient and study attributes, for objects a writer adds to the same study", async (t) => {
  const a = studyAttributes(parseDicomFile(sampleBytes));
  t.equal(a.Modality, 'US');
  t.match(a.StudyInstanceUID, /^[0-9.]+$/);
  t.match(a.SOPClassUID, '1.2.840.10008.5.1.4.1.1.3.1', 'US Multi-frame Image Storage');
});

t.test('refusals name what was expected and what was received', async (t) => {
  // j2k.dcm holds two fragments that are no JPEG 2000 codestream.
  await t.rejects(readInput(path.join(FIX, 'j2k.dcm')), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DICOM_DECODE',
    message: `Expected frame 0 of ${path.join(FIX, 'j2k.dcm')} to decode to an image but the JPEG 2000 Image Compression (Lossless Only) decoder returned none: the codestream is corrupt`,
  });
  const unknown = Buffer.from(await readFile(path.join(FIX, 'j2k.dcm')));
  unknown.write('1.2.840.10008.1.2.4.99', unknown.indexOf('1.2.840.10008.1.2.4.90'), 'latin1');
  await t.rejects(readDicom(unknown, 'x.dcm'), {
    code: 'ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX',
    message: 'Expected a transfer syntax sonoedge decodes (uncompressed, deflated, RLE, JPEG, JPEG-LS, JPEG 2000 or HTJ2K) but received 1.2.840.10008.1.2.4.99 (not a transfer syntax this reader knows)',
  });
  t.same([transferSyntax('1.2.840.10008.1.2.4.102').supported, transferSyntax('1.2.840.10008.1.2.4.102').kind], [false, 'video'], 'H.264 is known and refused');
  t.rejects(readInput('no/such/file.dcm'), {
    code: 'ERR_SONOEDGE_INPUT_NOT_FOUND',
    message: 'Expected a DICOM file, a folder of PNG files or a raw file but received "no/such/file.dcm", which does not exist',
  });
  await t.rejects(readDicom(sampleBytes.subarray(0, 100), 'x.dcm'), {
    code: 'ERR_SONOEDGE_DICOM',
    message: 'Expected a DICOM Part 10 file (a 128-byte preamble, then "DICM") at x.dcm but received 100 bytes that are not (attempt to read past end of buffer)',
  });
  await t.rejects(readDicom(sampleBytes.subarray(0, sampleBytes.length - 1000), 'x.dcm'), {
    code: 'ERR_SONOEDGE_DICOM',
    message: 'Expected a complete DICOM data set in x.dcm but received one that ends early or is corrupt (dicomParser:parseDicomDataSetExplicit: buffer overrun)',
  });
  const odd = Buffer.from(sampleBytes);
  odd.write('MONOCHROME3', odd.indexOf('MONOCHROME2'), 'latin1');
  await t.rejects(readDicom(odd), {
    code: 'ERR_SONOEDGE_DICOM_PHOTOMETRIC',
    message: 'Expected a photometric interpretation of MONOCHROME1, MONOCHROME2, PALETTE COLOR, RGB, YBR_FULL, YBR_FULL_422, YBR_ICT, YBR_RCT but received "MONOCHROME3"',
  });
});

t.test('RLE decoder: literal runs, replicate runs, the no-op byte, and broken segments', async (t) => {
  const header = (offsets: number[]) => {
    const h = Buffer.alloc(64);
    h.writeUInt32LE(offsets.length, 0);
    offsets.forEach((o, i) => h.writeUInt32LE(o, 4 + 4 * i));
    return h;
  };
  // Literal 3 bytes (header 2), no-op (128 = -128), replicate 0x07 four times (header 253 = -3).
  const seg = Buffer.from([2, 1, 2, 3, 128, 253, 7]);
  t.same(decodeRleFrame(Buffer.concat([header([64]), seg]), 7, 1), new Uint8Array([1, 2, 3, 7, 7, 7, 7]));
  // Two samples: planes interleave.
  const two = Buffer.concat([header([64, 67]), Buffer.from([1, 10, 20]), Buffer.from([255, 9])]);
  t.same(decodeRleFrame(two, 2, 2), new Uint8Array([10, 9, 20, 9]));
  // 16 bits: two segments per sample, most significant byte first; out little endian.
  const wide = Buffer.concat([header([64, 67]), Buffer.from([1, 0x12, 0xab]), Buffer.from([1, 0x34, 0xcd])]);
  t.same(new Uint16Array(decodeRleFrame(wide, 2, 1, 0, 2).buffer), new Uint16Array([0x1234, 0xabcd]));
  t.throws(() => decodeRleFrame(wide, 2, 3, 0, 2), { code: 'ERR_SONOEDGE_RLE', message: 'Expected 6 segments (one per byte of each 16-bit sample) but received 2 in RLE frame 0' });
  t.throws(() => decodeRleFrame(Buffer.concat([header([64]), seg]), 7, 3, 5), { code: 'ERR_SONOEDGE_RLE', message: 'Expected 3 segments (one per 8-bit sample) but received 1 in RLE frame 5' });
  t.throws(() => decodeRleFrame(Buffer.concat([header([64]), seg]), 8, 1), { code: 'ERR_SONOEDGE_RLE', message: 'Expected segment 0 to decode to 8 bytes but received 7 in RLE frame 0' });
  t.throws(() => decodeRleFrame(Buffer.concat([header([64, 900]), seg]), 7, 2), { code: 'ERR_SONOEDGE_RLE', message: 'Expected segment 0 within the frame\'s 71 bytes but received offsets 64..900 in RLE frame 0' });
  t.throws(() => decodeRleFrame(new Uint8Array(10), 1, 1), { code: 'ERR_SONOEDGE_RLE', message: 'Expected a 64-byte RLE header but received 10 bytes in RLE frame 0' });
});

t.test('a folder of PNG files: numeric name order, gray and colour, one geometry', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-png-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const write = async (name: string, w: number, h: number, value: (x: number, y: number) => number[], colorType: 0 | 2) => {
    const png = new PNG({ width: w, height: h, colorType, inputColorType: 2, inputHasAlpha: false });
    const rgb = Buffer.alloc(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) rgb.set(value(x, y), 3 * (y * w + x));
    png.data = rgb;
    await writeFile(path.join(dir, name), PNG.sync.write(png, { colorType, inputColorType: 2, inputHasAlpha: false }));
  };
  await write('frame10.png', 4, 3, (x, y) => [x + y + 100, x + y + 100, x + y + 100], 0);
  await write('frame2.png', 4, 3, (x, y) => [x + y, x + y, x + y], 0);
  await writeFile(path.join(dir, 'notes.txt'), 'not a frame');
  const c = await readInput(dir);
  t.same([c.width, c.height, c.format, c.frames.length], [4, 3, 'GRAY8', 2]);
  t.same([...c.frames[0]], [0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5], 'frame2 first');
  t.equal(c.frames[1][0], 100);
  t.equal(c.pixelSpacingMm, undefined);

  await write('frame3.png', 4, 3, (x) => [x, 2 * x, 3 * x], 2);
  await t.rejects(readInput(dir), { code: 'ERR_SONOEDGE_PNG', message: 'Expected frame3.png to be 4x3 GRAY8 like frame2.png but received 4x3 RGB8' });
  await rm(path.join(dir, 'frame2.png'));
  await rm(path.join(dir, 'frame10.png'));
  const rgb = await readInput(dir);
  t.same([rgb.format, ...rgb.frames[0].subarray(0, 6)], ['RGB8', 0, 0, 0, 1, 2, 3]);
  await rm(path.join(dir, 'frame3.png'));
  await t.rejects(readInput(dir), { code: 'ERR_SONOEDGE_PNG', message: `Expected .png files in ${dir} but received none` });
});

t.test('raw frames with a stated geometry; a trailing partial frame is refused', async (t) => {
  t.same(parseRawGeometry('1024x768:gray8'), { width: 1024, height: 768, format: 'GRAY8' });
  t.throws(() => parseRawGeometry('1024x768'), { code: 'ERR_SONOEDGE_RAW', message: /^Expected a geometry WIDTHxHEIGHT:FORMAT .* but received "1024x768"$/ });
  const bytes = new Uint8Array(2 * 6 * 3).map((_, i) => i);
  const c = readRaw(bytes, parseRawGeometry('3x2:RGB8'));
  t.same([c.width, c.height, c.format, c.frames.length], [3, 2, 'RGB8', 2]);
  t.same([...c.frames[1]], Array.from({ length: 18 }, (_, i) => 18 + i));
  t.throws(() => readRaw(bytes.subarray(0, 30), parseRawGeometry('3x2:RGB8'), 'cine.raw'), {
    code: 'ERR_SONOEDGE_RAW',
    message: 'Expected cine.raw to hold whole 3x2 RGB8 frames of 18 bytes but received 30 bytes (1 frames and 12 bytes over)',
  });
});

t.test('readInput: a folder with a geometry, and a file past 2 GiB, are refused with the input named', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-input-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // The geometry was dropped without a word and the folder read as PNG files.
  await t.rejects(readInput(dir, { geometry: '3x2:GRAY8' }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_RAW',
    message: `Expected a raw file of 3x2:GRAY8 frames but received ${JSON.stringify(dir)}, which is a folder (a folder is read as PNG files, without a geometry)`,
  });
  // A sparse file: Node threw its own ERR_FS_FILE_TOO_LARGE, naming no file.
  const big = path.join(dir, 'big.bin');
  await writeFile(big, '');
  await truncate(big, 2 ** 31);
  await t.rejects(readInput(big, { geometry: '1024x768:GRAY8' }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_RAW',
    message: `Expected a raw file of at most 2 GiB (replay reads the whole file into memory) but received ${JSON.stringify(big)} of 2147483648 bytes`,
  });
  await t.rejects(readInput(big), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DICOM',
    message: `Expected a DICOM file of at most 2 GiB (replay reads the whole file into memory) but received ${JSON.stringify(big)} of 2147483648 bytes`,
  });
});
