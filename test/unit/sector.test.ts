// The automatic sector finder (src/preprocess/sector.ts): synthetic full-screen
// frames of known geometry (test/helpers/screen.ts) with UI around and inside
// the image, the bundled sample cine on a screen, the coded not-found results,
// bad arguments, and two real ultrasound captures that pydicom ships.
import t, { type Test } from 'tap';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findSector, type SectorFound, type SectorResult } from '../../src/preprocess/sector.js';
import { readDicom } from '../../src/io/dicom.js';
import { MODELS_DIR } from '../../src/model/package.js';
import { makeScreen, rng, type ScreenSpec } from '../helpers/screen.js';
import { decodePydicomExample, pydicomUnavailable } from '../helpers/pydicom-examples.js';

/** Every edge of a found box within this many pixels of the truth (the tight box of the image pixels drawn). */
const TOL_PX = 2;
/** A fitted fan's apex and radius within this many pixels, its edge angles within this many radians (0.5 degrees). */
const TOL_APEX_PX = 2;
const TOL_ANGLE_RAD = 0.5 * Math.PI / 180;
const deg = Math.PI / 180;

type Box = { x: number; y: number; width: number; height: number };
const edges = (b: Box) => [b.x, b.y, b.x + b.width, b.y + b.height];
function found(_t: Test, r: SectorResult): SectorFound {
  if (!r.found) throw new Error(`Expected a sector but received ${r.reason}: ${r.message}`);
  return r;
}
function near(t: Test, got: Box, want: Box, tol: number, what: string): void {
  const d = edges(got).map((v, i) => Math.abs(v - edges(want)[i]));
  t.ok(d.every((v) => v <= tol), `${what}: box ${JSON.stringify(got)} within ${tol} px of ${JSON.stringify(want)} (edge errors ${d.join(', ')})`);
}

interface Case { name: string; spec: Omit<ScreenSpec, 'frames'> }
const W = 640, H = 480;
const fan = (ax: number, ay: number, angle: number, radius: number, steer = 0, innerRadius = 0) =>
  ({ kind: 'sector' as const, apex: { x: ax, y: ay }, angleStart: -angle / 2 * deg + steer * deg, angleEnd: angle / 2 * deg + steer * deg, radius, innerRadius });
const CASES: Case[] = [
  { name: '90-degree sector, GRAY8, text, logo, colour bar, ECG, depth scale, calipers', spec: { width: W, height: H, format: 'GRAY8', shape: fan(320, 40, 90, 380) } },
  { name: '60-degree sector, RGB8 with colour UI', spec: { width: W, height: H, format: 'RGB8', shape: fan(280, 60, 60, 360), seed: 2 } },
  { name: '100-degree sector at low gain (mean grey level 10)', spec: { width: W, height: H, format: 'GRAY8', gain: 10, shape: fan(330, 30, 100, 330), seed: 3 } },
  { name: '76-degree sector steered 5 degrees, off-centre, small, in a 320x240 screen, UI 1 px from its box', spec: { width: 320, height: 240, format: 'GRAY8', shape: fan(140, 14, 76, 170, 5), seed: 4, uiGap: 1 } },
  { name: 'sector whose bottom is dark (brightness falls to 6% at full depth, grey level 4)', spec: { width: W, height: H, format: 'GRAY8', depthFalloff: 0.06, shape: fan(330, 30, 80, 380), seed: 5 } },
  { name: 'curvilinear: truncated top, apex above the frame', spec: { width: W, height: H, format: 'RGB8', shape: fan(320, -60, 66, 470, 0, 120), seed: 6 } },
  { name: 'sector cut off by the frame at the bottom', spec: { width: W, height: H, format: 'GRAY8', shape: fan(300, 50, 70, 520), seed: 7 } },
  { name: '1024x768 screen, bold text (2-px strokes), 84-degree sector', spec: { width: 1024, height: 768, format: 'GRAY8', textScale: 2, shape: fan(500, 70, 84, 620), seed: 8 } },
  { name: 'linear probe: a rectangle, GRAY8', spec: { width: W, height: H, format: 'GRAY8', shape: { kind: 'rectangle', x: 100, y: 60, width: 420, height: 300 }, seed: 9 } },
  { name: 'linear probe: a rectangle, RGB8, low gain, UI 2 px from it', spec: { width: W, height: H, format: 'RGB8', gain: 15, uiGap: 2, shape: { kind: 'rectangle', x: 150, y: 80, width: 300, height: 340 }, seed: 10 } },
  { name: 'a full-frame image without UI: the whole frame', spec: { width: 320, height: 240, format: 'GRAY8', ui: false, shape: { kind: 'rectangle', x: 0, y: 0, width: 320, height: 240 }, seed: 11 } },
];

for (const c of CASES) {
  t.test(c.name, async (t) => {
    for (const frames of [1, 4]) {
      const s = makeScreen({ ...c.spec, frames });
      const r = found(t, findSector(s.frames, c.spec.width, c.spec.height, c.spec.format));
      near(t, r.box, s.truth, TOL_PX, `${frames} frame${frames > 1 ? 's' : ''}`);
      t.equal(r.framesUsed, frames);
      t.equal(r.shape.kind, c.spec.shape.kind);
      t.ok(r.confidence >= 0.9 && r.confidence <= 1, `confidence ${r.confidence}`);
      const want = c.spec.shape;
      if (r.shape.kind === 'sector' && want.kind === 'sector') {
        t.ok(Math.hypot(r.shape.apex.x - want.apex.x, r.shape.apex.y - want.apex.y) <= TOL_APEX_PX, `apex ${JSON.stringify(r.shape.apex)}`);
        t.ok(Math.abs(r.shape.angleStart - want.angleStart) <= TOL_ANGLE_RAD, `angleStart ${r.shape.angleStart} vs ${want.angleStart}`);
        t.ok(Math.abs(r.shape.angleEnd - want.angleEnd) <= TOL_ANGLE_RAD, `angleEnd ${r.shape.angleEnd} vs ${want.angleEnd}`);
        // A fan cut off by the frame shows no arc: its radius is what the frame shows.
        if (want.apex.y + want.radius < c.spec.height) t.ok(Math.abs(r.shape.radius - want.radius) <= TOL_APEX_PX, `radius ${r.shape.radius} vs ${want.radius}`);
        t.ok(Math.abs(r.shape.innerRadius - (want.innerRadius ?? 0)) <= TOL_APEX_PX, `innerRadius ${r.shape.innerRadius}`);
      }
    }
  });
}

t.test('random screens: sectors of 60-100 degrees, rectangles, gains, positions, formats (seeded)', async (t) => {
  const rand = rng(2024);
  for (let i = 0; i < 24; i++) {
    const w = [320, 480, 640][i % 3];
    const h = Math.round(w * 0.75);
    const gain = [12, 40, 100][Math.floor(rand() * 3)];
    const shape = i % 4 === 3
      ? { kind: 'rectangle' as const, x: Math.round(w * (0.1 + 0.2 * rand())), y: Math.round(h * (0.1 + 0.05 * rand())), width: Math.round(w * (0.4 + 0.2 * rand())), height: Math.round(h * (0.4 + 0.3 * rand())) }
      : fan(w * (0.4 + 0.2 * rand()), h * (0.05 + 0.08 * rand()), 60 + 40 * rand(), h * (0.55 + 0.3 * rand()), (rand() - 0.5) * 10);
    const spec: ScreenSpec = { width: w, height: h, format: i % 2 ? 'RGB8' : 'GRAY8', gain, shape, seed: 100 + i, frames: 1 + (i % 3), uiGap: 1 + (i % 4) };
    const s = makeScreen(spec);
    const r = found(t, findSector(s.frames, w, h, spec.format));
    near(t, r.box, s.truth, TOL_PX, `screen ${i} (${w}x${h} ${spec.format}, gain ${gain}, ${shape.kind})`);
    t.equal(r.shape.kind, shape.kind, `screen ${i} kind`);
  }
});

t.test('the bundled sample cine (a full-frame fan) alone and pasted into a larger screen', async (t) => {
  const cine = await readDicom(await readFile(path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm')));
  // The tight box of the sample's non-zero pixels in frame 0, measured: x 0..255, y 1..209.
  const tight = { x: 0, y: 1, width: 256, height: 209 };
  const alone = found(t, findSector(cine.frames, 256, 256, 'GRAY8'));
  near(t, alone.box, tight, TOL_PX, 'alone, 16 frames');
  t.equal(alone.shape.kind, 'sector');
  const [sw, sh, ox, oy] = [480, 360, 150, 40];
  const screen = cine.frames.map((f) => {
    const o = new Uint8Array(sw * sh);
    for (let y = 0; y < 256; y++) o.set(f.subarray(y * 256, (y + 1) * 256), (oy + y) * sw + ox);
    return o;
  });
  for (const frames of [screen, screen.slice(0, 1)]) {
    const r = found(t, findSector(frames, sw, sh, 'GRAY8'));
    near(t, r.box, { ...tight, x: tight.x + ox, y: tight.y + oy }, TOL_PX, `on a ${sw}x${sh} screen, ${frames.length} frames`);
  }
});

t.test('a frozen cine (every frame the same) reads like one frame; more frames than maxFrames are spaced evenly', async (t) => {
  const s = makeScreen({ width: W, height: H, format: 'GRAY8', shape: fan(320, 40, 90, 380), seed: 12 });
  const one = findSector(s.frames[0], W, H, 'GRAY8');
  const frozen = findSector(Array.from({ length: 5 }, () => s.frames[0]), W, H, 'GRAY8');
  t.same({ ...frozen, framesUsed: 1 }, one);
  const many = makeScreen({ width: 320, height: 240, format: 'GRAY8', shape: fan(160, 10, 80, 200), seed: 13, frames: 40 });
  const r = found(t, findSector(many.frames, 320, 240, 'GRAY8'));
  t.equal(r.framesUsed, 32, 'default maxFrames');
  t.equal(found(t, findSector(many.frames, 320, 240, 'GRAY8', { maxFrames: 3 })).framesUsed, 3);
  near(t, r.box, many.truth, TOL_PX, '32 of 40 frames');
  t.same(findSector(many.frames, 320, 240, 'GRAY8'), r, 'deterministic');
});

t.test('RGB8, BGR8, RGBA8 and BGRA8 of one screen give one answer', async (t) => {
  const s = makeScreen({ width: 320, height: 240, format: 'RGB8', shape: fan(160, 12, 80, 200), seed: 14 });
  const rgb = s.frames[0];
  const n = 320 * 240;
  const bgr = new Uint8Array(n * 3);
  const rgba = new Uint8Array(n * 4);
  const bgra = new Uint8Array(n * 4);
  for (let p = 0; p < n; p++) {
    const [r, g, b] = [rgb[3 * p], rgb[3 * p + 1], rgb[3 * p + 2]];
    bgr.set([b, g, r], 3 * p);
    rgba.set([r, g, b, 255], 4 * p);
    bgra.set([b, g, r, 255], 4 * p);
  }
  const want = findSector(rgb, 320, 240, 'RGB8');
  near(t, found(t, want).box, s.truth, TOL_PX, 'RGB8');
  t.same(findSector(bgr, 320, 240, 'BGR8'), want);
  t.same(findSector(rgba, 320, 240, 'RGBA8'), want);
  t.same(findSector(bgra, 320, 240, 'BGRA8'), want);
});

t.test('coded not-found results: blank, flat, white noise, UI without an image', async (t) => {
  const n = 320 * 240;
  t.same(findSector(new Uint8Array(n), 320, 240, 'GRAY8'), {
    found: false, code: 'ERR_SONOEDGE_SECTOR_NOT_FOUND', reason: 'BLANK', framesUsed: 1,
    message: 'Expected an image region in the 320x240 frame but received nothing that differs from the background (grey level 0)',
  });
  const grey = findSector([new Uint8Array(n).fill(90), new Uint8Array(n).fill(90)], 320, 240, 'GRAY8');
  t.same(grey, {
    found: false, code: 'ERR_SONOEDGE_SECTOR_NOT_FOUND', reason: 'BLANK', framesUsed: 2,
    message: 'Expected an image region in the 320x240 frames but received nothing that differs from the background (grey level 90)',
  });
  const rand = rng(3);
  const noise = (len: number) => Uint8Array.from({ length: len }, () => Math.floor(rand() * 256));
  for (const [what, frames, format] of [
    ['one frame of uniform noise', [noise(n)], 'GRAY8'],
    ['eight frames of uniform noise', Array.from({ length: 8 }, () => noise(n)), 'GRAY8'],
    ['an RGB8 frame of noise', [noise(3 * n)], 'RGB8'],
  ] as const) {
    const r = findSector([...frames], 320, 240, format);
    t.equal(r.found, false, what);
    if (!r.found) {
      t.equal(r.reason, 'NO_TEXTURE', what);
      t.match(r.message, /^Expected an ultrasound image \(spatially correlated speckle, lag-1 correlation at least 0\.2\) but received a region of 76800 pixels with correlation -?0(\.0\d)?$/, what);
    }
  }
  // Noise in a box on a black screen: a region, but no speckle.
  const boxed = new Uint8Array(n);
  for (let y = 40; y < 200; y++) for (let x = 60; x < 260; x++) boxed[y * 320 + x] = Math.floor(rand() * 256);
  const nb = findSector(boxed, 320, 240, 'GRAY8');
  t.equal(nb.found === false && nb.reason, 'NO_TEXTURE');
  // The UI of a screen whose image is off: text, logo, colour bar, ECG, depth scale, calipers.
  const ui = makeScreen({ width: W, height: H, format: 'GRAY8', shape: { kind: 'rectangle', x: 320, y: 240, width: 0, height: 0 }, seed: 4 });
  const r = findSector(ui.frames, W, H, 'GRAY8');
  t.equal(r.found === false && r.reason, 'TOO_SMALL');
  t.match(r.found === false && r.message, /^Expected an image region of at least 6144 pixels \(2% of the 640x480 frame\) but received a largest region of \d+ pixels after removing text, lines and specks$/);
});

t.test('bad arguments: TypeError or RangeError with a code, naming what was expected and received', async (t) => {
  const f = new Uint8Array(16 * 16);
  const cases: Array<[() => unknown, ErrorConstructor, string, string]> = [
    [() => findSector(f, 0, 16, 'GRAY8'), RangeError, 'ERR_SONOEDGE_DIMENSION', 'Expected an integer in [1, 16384] for width but received 0 of type number'],
    [() => findSector(f, 16, 2.5, 'GRAY8'), RangeError, 'ERR_SONOEDGE_DIMENSION', 'Expected an integer in [1, 16384] for height but received 2.5 of type number'],
    [() => findSector(f, '16' as unknown as number, 16, 'GRAY8'), TypeError, 'ERR_SONOEDGE_ARG_TYPE', 'Expected an integer for width but received "16" of type string'],
    [() => findSector(f, 16, 16, 'YUYV' as 'GRAY8'), RangeError, 'ERR_SONOEDGE_PIXEL_FORMAT', 'Expected one of GRAY8, RGB8, BGR8, RGBA8, BGRA8 for format but received "YUYV" of type string'],
    [() => findSector([], 16, 16, 'GRAY8'), TypeError, 'ERR_SONOEDGE_ARG_TYPE', 'Expected a Uint8Array or a non-empty array of Uint8Arrays for frames but received array of length 0'],
    [() => findSector([f, new Float32Array(256) as unknown as Uint8Array], 16, 16, 'GRAY8'), TypeError, 'ERR_SONOEDGE_ARG_TYPE', 'Expected a Uint8Array for frames[1] but received Float32Array of length 256'],
    [() => findSector(f, 16, 16, 'RGB8'), RangeError, 'ERR_SONOEDGE_FRAME_TOO_SHORT', 'Expected at least 768 bytes (16x16 RGB8) for frames[0] but received Uint8Array of length 256'],
    [() => findSector(f, 16, 16, 'GRAY8', { maxFrame: 4 } as object), TypeError, 'ERR_SONOEDGE_UNKNOWN_OPTION', 'Unknown option options.maxFrame; did you mean options.maxFrames? (known: maxFrames, filterRadius, threshold)'],
    [() => findSector(f, 16, 16, 'GRAY8', { maxFrames: 0 }), RangeError, 'ERR_SONOEDGE_PLAN_OPTION', 'Expected an integer in [1, 1024] for options.maxFrames but received 0 of type number'],
    [() => findSector(f, 16, 16, 'GRAY8', { filterRadius: 1.5 }), RangeError, 'ERR_SONOEDGE_PLAN_OPTION', 'Expected an integer in [1, 32] for options.filterRadius but received 1.5 of type number'],
    [() => findSector(f, 16, 16, 'GRAY8', { threshold: '3' as unknown as number }), TypeError, 'ERR_SONOEDGE_ARG_TYPE', 'Expected a number for options.threshold but received "3" of type string'],
  ];
  for (const [fn, cls, code, message] of cases) t.throws(fn, Object.assign(new cls(message), { code }), message);
});

// pydicom's example files: real ultrasound captures with their UI. src/io/dicom.ts
// cannot read examples_ybr_color.dcm as it is (its ultrasound region, 84..595 x
// 31..414, is the 640x480 original's: the file was downscaled to 320x240 without
// it, and the reader refuses a region outside the frame), so both files are
// decoded by pydicom into raw RGB8 frames in a temporary folder.
const unavailable = pydicomUnavailable();
t.test('real captures from pydicom: an apical four-chamber cine and a lymph node (linear probe)', { skip: unavailable }, async (t) => {
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-sector-'));
  t.teardown(() => rm(tmp, { recursive: true, force: true }));

  // examples_ybr_color.dcm: 30 frames of 320x240, a phased-array fan with a dim
  // periphery (grey levels 2-3 against the UI's 1 and the image area's 0), text
  // at both top corners, a depth scale 2 px right of the fan, a toolbar below.
  // Box measured by eye on the 30-frame mean, rendered at 25x gain: the fan's
  // corners at x 42 and 296 (row 147), its top (the probe face) at y 22, its
  // arc's bottom at y 201 (column 170). Bound: every edge within 5 px, and the
  // box inside the file's own region (halved: 42..297 x 15..207) give or take 3 px.
  const ybr = await decodePydicomExample('examples_ybr_color.dcm', tmp);
  t.same([ybr.width, ybr.height, ybr.frames.length, ybr.region], [320, 240, 30, [84, 31, 595, 414]]);
  const eye = { x: 42, y: 22, width: 296 - 42 + 1, height: 201 - 22 + 1 };
  const [rx0, ry0, rx1, ry1] = ybr.region!.map((v) => v / 2);
  for (const frames of [ybr.frames, ybr.frames.slice(0, 8), ybr.frames.slice(0, 1)]) {
    const r = found(t, findSector(frames, 320, 240, 'RGB8'));
    near(t, r.box, eye, 5, `cine, ${frames.length} frames`);
    const [x0, y0, x1, y1] = edges(r.box);
    t.ok(x0 >= rx0 - 3 && y0 >= ry0 - 3 && x1 - 1 <= rx1 + 3 && y1 - 1 <= ry1 + 3, `inside the file's region: ${JSON.stringify(r.box)}`);
    t.equal(r.shape.kind, 'sector');
    if (r.shape.kind === 'sector') {
      // The fan is about 84 degrees wide, symmetric about x 169.
      t.ok(Math.abs(r.shape.angleEnd - r.shape.angleStart - 84 * deg) <= 3 * deg, `width ${(r.shape.angleEnd - r.shape.angleStart) / deg} degrees`);
      t.ok(Math.abs(r.shape.apex.x - 169) <= 3, `apex x ${r.shape.apex.x}`);
    }
  }

  // examples_rgb_color.dcm: one frame, a linear probe's rectangle with power
  // Doppler in two boxes, text blocks 2-4 px above it, colour bars and markers
  // overlapping its left and right edges, a label and a scale bar below. Box
  // measured by eye from the pixel rows: x 7..310, y 54..168. Bound: every edge within 3 px.
  const lymph = await decodePydicomExample('examples_rgb_color.dcm', tmp);
  t.same([lymph.width, lymph.height, lymph.frames.length, lymph.region], [320, 240, 1, undefined]);
  const r = found(t, findSector(lymph.frames, 320, 240, 'RGB8'));
  near(t, r.box, { x: 7, y: 54, width: 304, height: 115 }, 3, 'lymph node');
  t.equal(r.shape.kind, 'rectangle');
});
