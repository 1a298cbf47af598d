// Synthetic full-screen ultrasound frames for the sector finder's tests: a
// speckled fan (or a linear probe's rectangle) of known geometry drawn into a
// larger screen with what a scanner's display puts around it (text blocks, a
// logo, a colour bar, an ECG trace, a depth scale) and inside it (calipers and
// a dotted measurement line). Deterministic for a seed.

export interface FanSpec {
  kind: 'sector';
  apex: { x: number; y: number };
  /** Radians from the downward vertical, positive to image right. */
  angleStart: number;
  angleEnd: number;
  radius: number;
  innerRadius?: number;
}
export interface RectSpec { kind: 'rectangle'; x: number; y: number; width: number; height: number }

export interface ScreenSpec {
  width: number;
  height: number;
  format: 'GRAY8' | 'RGB8';
  shape: FanSpec | RectSpec;
  frames?: number;
  seed?: number;
  /** Mean speckle brightness of average tissue (grey levels); default 70. */
  gain?: number;
  /** Brightness at the deepest point relative to the shallowest (time-gain falloff); default 1. */
  depthFalloff?: number;
  /** Draw UI around (text, logo, colour bar, ECG, depth scale) and calipers inside; default true. */
  ui?: boolean;
  /** Background grey level of the screen; default 0. */
  background?: number;
  /** Stroke width of the text glyphs; default 1. */
  textScale?: number;
  /** Least distance in pixels between the UI around the image and the image's box (text, logo, colour bar, depth scale); default 4. */
  uiGap?: number;
  /** Calipers and a dotted line inside the image; default true (with `ui`). */
  calipers?: boolean;
}

export interface Screen {
  frames: Uint8Array[];
  /** The tight box of the image pixels drawn (before any UI). */
  truth: { x: number; y: number; width: number; height: number };
}

export function rng(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Whether pixel centre (x, y) lies in the image shape. */
export function insideShape(s: FanSpec | RectSpec, x: number, y: number): boolean {
  if (s.kind === 'rectangle') return x >= s.x && x < s.x + s.width && y >= s.y && y < s.y + s.height;
  const dx = x - s.apex.x;
  const dy = y - s.apex.y;
  const d = Math.hypot(dx, dy);
  if (d > s.radius || d < (s.innerRadius ?? 0)) return false;
  const th = Math.atan2(dx, dy);
  return th >= s.angleStart && th <= s.angleEnd;
}

interface Blob { x: number; y: number; rx: number; ry: number; level: number }

export function makeScreen(spec: ScreenSpec): Screen {
  const { width: w, height: h, format, shape } = spec;
  const count = spec.frames ?? 1;
  const rand = rng(spec.seed ?? 1);
  const gauss = (): number => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const gain = spec.gain ?? 70;
  const falloff = spec.depthFalloff ?? 1;
  const ch = format === 'RGB8' ? 3 : 1;
  const bgLevel = spec.background ?? 0;

  // The image pixels, the truth box, and a depth coordinate 0..1 for the falloff.
  const inside = new Uint8Array(w * h);
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (!insideShape(shape, x, y)) continue;
      inside[y * w + x] = 1;
      x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
    }
  }
  const depth = (x: number, y: number): number => (shape.kind === 'rectangle'
    ? (y - shape.y) / shape.height
    : Math.hypot(x - shape.apex.x, y - shape.apex.y) / shape.radius);

  // Tissue: reflectivity 1 with a few dark chambers and bright walls inside the image box.
  const blobs: Blob[] = [];
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  for (let i = 0; i < 3; i++) blobs.push({ x: x0 + bw * (0.3 + 0.4 * rand()), y: y0 + bh * (0.3 + 0.4 * rand()), rx: bw * 0.08, ry: bh * 0.12, level: 0.06 });
  for (let i = 0; i < 2; i++) blobs.push({ x: x0 + bw * rand(), y: y0 + bh * rand(), rx: bw * 0.1, ry: bh * 0.03, level: 2.2 });
  const reflect = new Float32Array(w * h);
  for (let p = 0; p < w * h; p++) {
    if (!inside[p]) continue;
    const x = p % w;
    const y = (p - x) / w;
    let v = 1;
    for (const b of blobs) if (((x - b.x) / b.rx) ** 2 + ((y - b.y) / b.ry) ** 2 <= 1) v = b.level;
    reflect[p] = v * (1 + (falloff - 1) * Math.min(1, depth(x, y)));
  }

  const frames: Uint8Array[] = [];
  for (let f = 0; f < count; f++) {
    // Speckle: a complex Gaussian field smoothed by a 3x3 box (grains of a few pixels), its magnitude.
    const re = new Float32Array(w * h);
    const im = new Float32Array(w * h);
    for (let p = 0; p < w * h; p++) if (inside[p]) { re[p] = gauss(); im[p] = gauss(); }
    const sre = box3(re, w, h);
    const sim = box3(im, w, h);
    const frame = new Uint8Array(w * h * ch).fill(bgLevel);
    // Rayleigh magnitude of the smoothed field has mean sqrt(pi/2) * sigma, sigma = 1/3 for a 3x3 mean of unit Gaussians.
    const norm = 1 / (Math.sqrt(Math.PI / 2) / 3);
    for (let p = 0; p < w * h; p++) {
      if (!inside[p]) continue;
      const v = Math.min(255, Math.max(1, Math.round(gain * reflect[p] * norm * Math.hypot(sre[p], sim[p]))));
      for (let c = 0; c < ch; c++) frame[p * ch + c] = v;
    }
    frames.push(frame);
  }
  if (spec.ui ?? true) drawUi(frames, spec, { x: x0, y: y0, width: bw, height: bh }, rng((spec.seed ?? 1) + 1000));
  return { frames, truth: { x: x0, y: y0, width: bw, height: bh } };
}

function box3(a: Float32Array, w: number, h: number): Float32Array {
  const out = new Float32Array(w * h);
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const p = y * w + x;
      out[p] = (a[p - w - 1] + a[p - w] + a[p - w + 1] + a[p - 1] + a[p] + a[p + 1] + a[p + w - 1] + a[p + w] + a[p + w + 1]) / 9;
    }
  }
  return out;
}

type Rgb = [number, number, number];

/** Draws a screen's UI into `frames` (of `spec`'s size and format) around and inside the image box `img`, as makeScreen does. */
export function drawScreenUi(frames: Uint8Array[], spec: Omit<ScreenSpec, 'shape'>, img: { x: number; y: number; width: number; height: number }): void {
  drawUi(frames, spec, img, rng((spec.seed ?? 1) + 1000));
}

/** UI that every frame shows unchanged (it is static on a real screen), kept clear of the image's box by `uiGap` px. */
function drawUi(frames: Uint8Array[], spec: Omit<ScreenSpec, 'shape'>, img: { x: number; y: number; width: number; height: number }, rand: () => number): void {
  const { width: w, height: h, format } = spec;
  const ch = format === 'RGB8' ? 3 : 1;
  const put = (x: number, y: number, c: Rgb): void => {
    x = Math.round(x); y = Math.round(y);
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    for (const f of frames) {
      if (ch === 1) f[y * w + x] = Math.round(0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]);
      else { f[(y * w + x) * 3] = c[0]; f[(y * w + x) * 3 + 1] = c[1]; f[(y * w + x) * 3 + 2] = c[2]; }
    }
  };
  const gap = spec.uiGap ?? 4;
  const clearOfImage = (x: number, y: number, bw: number, bh: number): boolean =>
    x + bw + gap <= img.x || x >= img.x + img.width + gap || y + bh + gap <= img.y || y >= img.y + img.height + gap;
  const white: Rgb = [235, 235, 235];
  const s = spec.textScale ?? 1;

  // Text: glyphs of seven-segment strokes in 6x9 cells (scaled), lines of up to 12 characters.
  const text = (x: number, y: number, lines: number, chars: number, colour: Rgb): void => {
    const cw = 6 * s, chh = 10 * s;
    for (let l = 0; l < lines; l++) {
      for (let k = 0; k < chars; k++) {
        const gx = x + k * cw;
        const gy = y + l * chh;
        const segs = [[0, 0, 4, 0], [0, 3, 4, 3], [0, 7, 4, 7], [0, 0, 0, 3], [4, 0, 4, 3], [0, 3, 0, 7], [4, 3, 4, 7]];
        for (const [sx0, sy0, sx1, sy1] of segs) {
          if (rand() < 0.45) continue;
          for (let t = 0; t <= 1; t += 0.1) {
            const px = gx + s * (sx0 + (sx1 - sx0) * t);
            const py = gy + s * (sy0 + (sy1 - sy0) * t);
            for (let a = 0; a < s; a++) for (let b = 0; b < s; b++) put(px + a, py + b, colour);
          }
        }
      }
    }
  };
  const blocks: Array<[number, number, number, number]> = [[4, 4, 3, 10], [w - 4 - 10 * 6 * s, 4, 4, 10], [4, h - 4 - 2 * 10 * s, 2, 12]];
  for (const [x, y, lines, chars] of blocks) {
    if (clearOfImage(x, y, chars * 6 * s, lines * 10 * s)) text(x, y, lines, chars, format === 'RGB8' ? [240, 220, 60] : white);
  }

  // A logo: a filled disc with a ring, top centre-left.
  const lx = Math.round(w * 0.3), ly = 10, lr = 6;
  if (clearOfImage(lx - lr, ly - lr, 2 * lr, 2 * lr)) {
    for (let y = -lr; y <= lr; y++) for (let x = -lr; x <= lr; x++) if (x * x + y * y <= lr * lr) put(lx + x, ly + y, [60, 140, 230]);
  }

  // A colour bar: a vertical gradient, right of the image (or at the screen's right edge).
  const barW = 8, barH = Math.min(100, Math.round(h * 0.4));
  const bx = Math.min(w - barW - 4, img.x + img.width + gap + 8);
  const by = Math.round(h * 0.3);
  if (clearOfImage(bx, by, barW, barH)) {
    for (let y = 0; y < barH; y++) {
      const v = 255 * (1 - y / (barH - 1));
      const c: Rgb = format === 'RGB8' ? [Math.min(255, 2 * v), Math.max(0, 2 * v - 255), 40] : [v, v, v];
      for (let x = 0; x < barW; x++) put(bx + x, by + y, c);
    }
  }

  // A depth scale: dots every 10 px, `gap` px right of the image box.
  const dx = img.x + img.width - 1 + gap;
  for (let y = img.y; y < img.y + img.height; y += 10) put(dx, y, white);

  // An ECG trace below the image (a baseline with QRS spikes), 1 px wide.
  const ey = Math.min(h - 12, img.y + img.height + 14);
  if (ey > img.y + img.height + 6) {
    let prev = ey;
    for (let x = Math.round(w * 0.1); x < w * 0.9; x++) {
      const phase = (x % 60) / 60;
      const yv = ey - (phase > 0.45 && phase < 0.5 ? 8 * Math.sin((phase - 0.45) / 0.05 * Math.PI) : 1.5 * Math.sin(phase * 2 * Math.PI));
      for (let y = Math.min(prev, yv); y <= Math.max(prev, yv); y++) put(x, y, [80, 230, 80]);
      prev = yv;
    }
  }

  // Calipers inside the image: two crosses and a dotted line between them.
  if (spec.calipers === false) return;
  const c0 = { x: img.x + img.width * 0.4, y: img.y + img.height * 0.5 };
  const c1 = { x: img.x + img.width * 0.6, y: img.y + img.height * 0.75 };
  for (const c of [c0, c1]) for (let k = -4; k <= 4; k++) { put(c.x + k, c.y, [250, 250, 100]); put(c.x, c.y + k, [250, 250, 100]); }
  for (let t = 0; t <= 1; t += 0.04) put(c0.x + (c1.x - c0.x) * t, c0.y + (c1.y - c0.y) * t, [250, 250, 100]);
}
