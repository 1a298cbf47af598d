// `sonoedge dicom inspect FILE` and replay's DICOM table, as a user runs them:
// a real process from dist/. The bundled cine and the committed fixtures give
// exact tables; pydicom's real ultrasound files (from training/.venv's wheel,
// never committed) show a clipped region, a palette and --pixel-spacing
// overriding the file's spacing.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });
const SAMPLE = path.join('models', 'samples', 'a4c_cine_16f.dcm');
const FIX = path.join('test', 'fixtures', 'dicom');
const PY = path.join(root, 'training', '.venv', 'bin', 'python');
const pydicomFiles = existsSync(PY)
  ? spawnSync(PY, ['-c', 'import os, pydicom; print(os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files"))'], { encoding: 'utf8' }).stdout.trim()
  : '';

t.test('dicom inspect: the bundled cine in one table, every frame decoded', async (t) => {
  const r = run('dicom', 'inspect', SAMPLE);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, [
    `file             ${SAMPLE}`,
    'transfer syntax  1.2.840.10008.1.2.1 (Explicit VR Little Endian), lossless',
    'modality         US, SOP class 1.2.840.10008.5.1.4.1.1.3.1',
    'photometric      MONOCHROME2, 1 sample per pixel',
    'image            256x256, 8 bits allocated, 8 stored, unsigned',
    'frames           16 declared, 16 read, frame time 33.333 ms (30.0 fps)',
    'regions          1: 2D, x 0..255, y 0..255, delta x 0.0724379 cm, delta y 0.0724379 cm (used)',
    'sector box       0,0,256,256 (the ultrasound region)',
    'pixel spacing    0.7244 mm per pixel in x and y from ultrasound region 1 physical deltas (0018,602C/602E)',
    'pipeline frames  MONOCHROME2, 8 bits as stored',
    'warnings         none',
    'pixels           16 frames decoded',
    '',
  ].join('\n'));
  t.equal(r.stderr, '');

  const json = run('dicom', 'inspect', path.join(FIX, 'rgb_rle.dcm'), '--json');
  t.equal(json.status, 0, json.stderr);
  const s = JSON.parse(json.stdout) as Record<string, unknown>;
  t.same([s.transferSyntax, s.photometric, s.framesDeclared, s.framesRead, s.spacingMm, s.spacingSource],
    ['1.2.840.10008.1.2.5 (RLE Lossless)', 'RGB', 2, 2, [0.5, 0.25], 'Pixel Spacing (0028,0030)']);

  const header = run('dicom', 'inspect', path.join(FIX, 'j2k.dcm'), '--header-only');
  t.equal(header.status, 0, header.stderr);
  t.match(header.stdout, /\npixels           not decoded \(--header-only\)\n$/);
});

t.test('dicom inspect: pixels it cannot decode exit 1 with the coded line in the table; bad use exits 2', async (t) => {
  const j2k = run('dicom', 'inspect', path.join(FIX, 'j2k.dcm'));
  t.equal(j2k.status, 1);
  t.match(j2k.stdout, `\npixels           not decoded: [ERR_SONOEDGE_DICOM_DECODE] Expected frame 0 of ${path.join(FIX, 'j2k.dcm')} to decode to an image but the JPEG 2000 Image Compression (Lossless Only) decoder returned none: the codestream is corrupt\n`);
  const missing = run('dicom', 'inspect', 'no/such.dcm');
  t.equal(missing.status, 1);
  t.equal(missing.stderr, 'sonoedge dicom: [ERR_SONOEDGE_INPUT_NOT_FOUND] Expected a DICOM file but received "no/such.dcm", which does not exist\n');
  const notDicom = run('dicom', 'inspect', 'package.json');
  t.equal(notDicom.status, 1);
  t.match(notDicom.stderr, /^sonoedge dicom: \[ERR_SONOEDGE_DICOM\] Expected a DICOM Part 10 file \(a 128-byte preamble, then "DICM"\) at package\.json but received \d+ bytes that are not \(.+\)\n$/);
  const typo = run('dicom', 'inspekt', SAMPLE);
  t.equal(typo.status, 2);
  t.equal(typo.stderr, 'sonoedge dicom: unknown subcommand "inspekt"; did you mean "inspect"? (inspect)\n');
  t.equal(run('dicom').status, 2);
  const help = run('dicom', 'inspect', '--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /--header-only/);
});

t.test("replay prints the DICOM table after its sector line; --pixel-spacing overrides the file's spacing and says so", async (t) => {
  const r = run('replay', SAMPLE, '--pixel-spacing', '0.4,0.5', '-o', '/dev/null');
  t.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  t.equal(lines[0], 'sonoedge replay: sector 0,0,256,256 (the DICOM ultrasound region)');
  t.equal(lines[1], `sonoedge replay: file             ${SAMPLE}`);
  t.ok(lines.includes('sonoedge replay: sector box       0,0,256,256 (the DICOM ultrasound region)'), r.stderr);
  t.ok(lines.includes('sonoedge replay: pixel spacing    0.4000 x 0.5000 mm per pixel (x by y) from --pixel-spacing; overrides the file\'s 0.7244 mm per pixel in x and y from ultrasound region 1 physical deltas (0018,602C/602E)'), r.stderr);
  t.ok(lines.includes('sonoedge replay: warnings         none'), r.stderr);
});

t.test("pydicom's real ultrasound files: a region from a larger original is clipped with a warning and the sector found on the frames, a palette is read", { skip: pydicomFiles ? false : 'training/.venv (pydicom and its test files) is absent' }, async (t) => {
  const ybr = path.join(pydicomFiles, 'examples_ybr_color.dcm');
  const r = run('replay', ybr, '-o', '/dev/null');
  t.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  // Its region (x 84..595, y 31..414) was written for a 640x480 original: clipped, it would cut the fan's left
  // half off, so replay frames the sector as --sector auto does.
  t.equal(lines[0], 'sonoedge replay: sector 39,21,262,181 (found on the frames, as --sector auto does, because the DICOM ultrasound region overhangs the image by 276 px and so describes a larger original: a 85-degree fan, apex 169,8, radius 194 px, confidence 0.76, 30 frames)');
  const auto = run('replay', ybr, '--sector', 'auto', '-o', '/dev/null');
  t.equal(auto.stderr.trimEnd().split('\n')[0], 'sonoedge replay: sector 39,21,262,181 (--sector auto: a 85-degree fan, apex 169,8, radius 194 px, confidence 0.76, 30 frames)');
  // demo --input takes the same box by the same rule, and says so first
  const demo = run('demo', '--input', ybr, '--loops', '1', '--fast', '--no-report');
  t.equal(demo.status, 0, demo.stderr);
  t.equal(demo.stdout.split('\n')[0], lines[0].replace('sonoedge replay:', 'sonoedge demo:'));
  t.ok(lines.includes('sonoedge replay: photometric      YBR_FULL_422, 3 samples per pixel, planar configuration 0 (by pixel)'), r.stderr);
  t.ok(lines.includes(`sonoedge replay: warnings         WARN_SONOEDGE_DICOM_REGION_CLIPPED: ${ybr}: ultrasound region 1 (2D, x 84..595, y 31..414) overhangs the 320x240 image by 276 px right and 175 px below; clipped to x 84..319, y 31..239; a region this far outside may describe a larger original image: check its spacing (--pixel-spacing overrides it)`), r.stderr);
  t.match(lines[lines.length - 1], /^sonoedge replay: 30\/30 frames processed \(0 dropped, 0 failed\)/);

  const palette = run('dicom', 'inspect', path.join(pydicomFiles, 'examples_palette.dcm'));
  t.equal(palette.status, 0, palette.stderr);
  t.match(palette.stdout, '\npipeline frames  PALETTE COLOR through its 256-entry 16-bit tables to RGB8\n');
  t.match(palette.stdout, '\n                 2: waveform, x 176..743, y 522..576, delta x 0.00964274 seconds, delta y 0 none\n');
});
