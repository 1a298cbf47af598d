// Replay's readers: DICOM (uncompressed implicit/explicit, RLE, JPEG baseline)
// against fixtures encoded by pydicom and Pillow (scripts/make-dicom-fixtures.py),
// PNG folders and raw files, and every refusal with its code and message.
import t from 'tap';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { decodeRleFrame, parseRawGeometry, readDicom, readInput, readRaw } from '../../src/io/index.js';
import { MODELS_DIR } from '../../src/model/package.js';

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
  const c = readDicom(sampleBytes);
  t.same([c.width, c.height, c.format, c.frames.length], [256, 256, 'GRAY8', 16]);
  t.ok(Math.abs(c.pixelSpacingMm! - SPACING) < 1e-12, `${c.pixelSpacingMm}`);
  t.equal(c.frameTimeMs, 33.333);
  t.same(c.sectorRoi, { x: 0, y: 0, width: 256, height: 256 });
  t.same(c.labels, LABELS);
  for (let i = 0; i < 16; i++) t.same(Buffer.from(c.frames[i]), sampleFrame(i), `frame ${i}`);
});

t.test('RLE Lossless (pydicom encoder): bit-identical to the uncompressed frames', async (t) => {
  const c = await readInput(path.join(FIX, 'a4c_rle.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [256, 256, 'GRAY8', 4]);
  for (let i = 0; i < 4; i++) t.same(Buffer.from(c.frames[i]), sampleFrame(i), `frame ${i}`);
  t.ok(Math.abs(c.pixelSpacingMm! - SPACING) < 1e-12);
  t.same(c.labels, LABELS);
});

t.test('RLE colour: three segments interleaved into RGB8, spacing from PixelSpacing', async (t) => {
  const c = await readInput(path.join(FIX, 'rgb_rle.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [40, 30, 'RGB8', 2]);
  for (let f = 0; f < 2; f++) t.same(c.frames[f], pattern(f, 40, 30), `frame ${f}`);
  t.equal(c.pixelSpacingMm, 0.5, 'the column spacing of PixelSpacing 0.25\\0.5');
  t.equal(c.sectorRoi, undefined);
  t.equal(c.labels, undefined);
});

t.test('JPEG baseline (Pillow encoder): jpeg-js decodes as close to the original as libjpeg does', async (t) => {
  const c = await readInput(path.join(FIX, 'a4c_jpeg.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [256, 256, 'GRAY8', 4]);
  const ref = reference['a4c_jpeg.dcm'];
  const err = c.frames.reduce((s, f, i) => s + meanAbs(f, sampleFrame(i)), 0) / 4;
  // Two IDCT implementations differ by rounding: within 0.25 grey levels of libjpeg's mean error.
  t.ok(Math.abs(err - ref.pillowMeanAbsErr) <= 0.25, `mean |err| ${err} vs libjpeg ${ref.pillowMeanAbsErr}`);
  c.frames.forEach((f, i) => t.ok(Math.abs(mean(f) - ref.pillowFrameMeans![i]) <= 0.1, `frame ${i} mean ${mean(f)} vs ${ref.pillowFrameMeans![i]}`));
  t.same(c.labels, LABELS);

  const rgb = await readInput(path.join(FIX, 'rgb_jpeg.dcm'));
  t.same([rgb.width, rgb.height, rgb.format, rgb.frames.length], [40, 30, 'RGB8', 2]);
  const rgbErr = (meanAbs(rgb.frames[0], pattern(0, 40, 30)) + meanAbs(rgb.frames[1], pattern(1, 40, 30))) / 2;
  // libjpeg interpolates the 4:2:2 chroma ("fancy upsampling"), jpeg-js repeats it, so its error is
  // larger on this steep colour ramp; a wrong colour transform would be off by tens of levels.
  t.ok(rgbErr <= reference['rgb_jpeg.dcm'].pillowMeanAbsErr + 1, `YBR_FULL_422 -> RGB mean |err| ${rgbErr} vs libjpeg ${reference['rgb_jpeg.dcm'].pillowMeanAbsErr}`);
});

t.test('implicit VR little endian: the region box becomes the sector ROI; free-text comments are not labels', async (t) => {
  const c = await readInput(path.join(FIX, 'implicit_gray.dcm'));
  t.same([c.width, c.height, c.format, c.frames.length], [32, 24, 'GRAY8', 2]);
  t.same(c.sectorRoi, { x: 4, y: 2, width: 24, height: 20 });
  t.ok(Math.abs(c.pixelSpacingMm! - 0.5) < 1e-12);
  t.equal(c.labels, undefined);
  for (let f = 0; f < 2; f++) {
    const want = new Uint8Array(32 * 24);
    for (let y = 0; y < 24; y++) want.set(sampleFrame(f).subarray((100 + y) * 256 + 100, (100 + y) * 256 + 132), y * 32);
    t.same(Buffer.from(c.frames[f]), Buffer.from(want), `frame ${f}`);
  }
});

t.test('refusals name what was expected and what was received', async (t) => {
  t.rejects(readInput(path.join(FIX, 'j2k.dcm')), {
    name: 'RangeError', code: 'ERR_SONOEDGE_DICOM_TRANSFER_SYNTAX',
    message: 'Expected an uncompressed, RLE or JPEG baseline transfer syntax but received 1.2.840.10008.1.2.4.90 (JPEG 2000 Image Compression (Lossless Only))',
  });
  t.rejects(readInput('no/such/file.dcm'), {
    code: 'ERR_SONOEDGE_INPUT_NOT_FOUND',
    message: 'Expected a DICOM file, a folder of PNG files or a raw file but received "no/such/file.dcm", which does not exist',
  });
  t.throws(() => readDicom(sampleBytes.subarray(0, 100), 'x.dcm'), {
    code: 'ERR_SONOEDGE_DICOM',
    message: 'Expected a DICOM Part 10 file (a 128-byte preamble, then "DICM") at x.dcm but received 100 bytes that are not (attempt to read past end of buffer)',
  });
  t.throws(() => readDicom(sampleBytes.subarray(0, sampleBytes.length - 1000), 'x.dcm'), {
    code: 'ERR_SONOEDGE_DICOM',
    message: 'Expected a complete DICOM data set in x.dcm but received one that ends early or is corrupt (dicomParser:parseDicomDataSetExplicit: buffer overrun)',
  });
  const odd = Buffer.from(sampleBytes);
  odd.write('MONOCHROME3', odd.indexOf('MONOCHROME2'), 'latin1');
  t.throws(() => readDicom(odd), {
    code: 'ERR_SONOEDGE_DICOM_PHOTOMETRIC',
    message: 'Expected a photometric interpretation of MONOCHROME1, MONOCHROME2, RGB, YBR_FULL or YBR_FULL_422 but received "MONOCHROME3"',
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
