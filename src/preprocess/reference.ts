// A plain TypeScript implementation of docs/PREPROCESSING.md, pixel by pixel.
// It is the oracle of the native kernels in tests and a baseline in the
// benchmark, so it follows the definition literally and stays simple: float32
// steps of the definition go through Math.fround, interpolation weights and
// sums are float64 (the native float32 sums agree within the documented
// tolerance).

import { ChannelOrder, DType, Layout, PixelFormat, ResizeMode, YuvMatrix, YuvRange } from './types.js';
import type { OutputArray, ResolvedPlanOptions } from './types.js';
import { contentGeometry, type ContentGeometry } from './geometry.js';

const f32 = Math.fround;

/**
 * YUV to RGB coefficients (docs/PREPROCESSING.md section 2), as float32:
 * [R from e, G from d, G from e, B from d] per matrix (BT.601, BT.709), full
 * range then limited range (the full-range ones times 255/224).
 */
const YUV_TO_RGB: ReadonlyArray<ReadonlyArray<readonly [number, number, number, number]>> = [
  [[1.402, 0.344136, 0.714136, 1.772], [1.596027, 0.391762, 0.812968, 2.017232]],
  [[1.5748, 0.187324, 0.468124, 1.8556], [1.792741, 0.213249, 0.532909, 2.112402]],
].map((m) => m.map((k) => [f32(k[0]!), f32(k[1]!), f32(k[2]!), f32(k[3]!)] as const));

// float32 arithmetic: a product or sum of two float32 values is exact in
// float64, so rounding it once gives the float32 result.
function mul(a: number, b: number): number {
  return f32(a * b);
}
function add(a: number, b: number): number {
  return f32(a + b);
}
function sub(a: number, b: number): number {
  return f32(a - b);
}
function clamp255(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Bytes per pixel of a format (NV12: 1, the Y plane). */
export function bytesPerPixel(format: number): number {
  switch (format) {
    case PixelFormat.GRAY8:
    case PixelFormat.NV12:
      return 1;
    case PixelFormat.GRAY16:
    case PixelFormat.YUYV:
      return 2;
    case PixelFormat.RGB8:
    case PixelFormat.BGR8:
      return 3;
    case PixelFormat.RGBA8:
    case PixelFormat.BGRA8:
      return 4;
    default:
      throw new RangeError(`Expected a PixelFormat value for format but received ${format}`);
  }
}

/** Minimum input size in bytes for the declared geometry (section 1). */
export function requiredInputBytes(opts: ResolvedPlanOptions): number {
  if (opts.format === PixelFormat.NV12) {
    return opts.uvOffset + opts.stride * (opts.height / 2 - 1) + opts.width;
  }
  return opts.stride * (opts.height - 1) + opts.width * bytesPerPixel(opts.format);
}

/** The number a binary16 bit pattern stands for. */
export function float16BitsToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/** binary16 bits of a number, round to nearest even, overflow to infinity. */
export function numberToFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  if (a >= 65520) return sign | 0x7c00; // 65520 is the tie with infinity: rounds to it
  let exponent = -14; // the exponent of the smallest normal; subnormals share its spacing
  while (exponent < 15 && a >= 2 ** (exponent + 1)) exponent += 1;
  const step = 2 ** (exponent - 10); // spacing of binary16 values near a
  const q = a / step; // exact: step is a power of two
  let units = Math.floor(q);
  const rest = q - units;
  if (rest > 0.5 || (rest === 0.5 && units % 2 === 1)) units += 1;
  // units counts steps: for normals 1024..2048 (2048 carries into the next
  // exponent), for subnormals 0..1024.
  if (a < 2 ** -14) return sign | units; // subnormal (1024 is the smallest normal, 0x0400)
  return sign | (((exponent + 15) << 10) + (units - 1024));
}

// Section 2: the source values of frame pixel (x, y): [g] or [R, G, B].
function sourceValues(o: ResolvedPlanOptions, p: Uint8Array, x: number, y: number): number[] {
  const row = y * o.stride;
  const three = o.channels === 3;
  let R: number;
  let G: number;
  let B: number;
  switch (o.format) {
    case PixelFormat.GRAY8: {
      const g = p[row + x]!;
      return [g, g, g];
    }
    case PixelFormat.GRAY16: {
      const g = p[row + 2 * x]! + 256 * p[row + 2 * x + 1]!;
      return [g, g, g];
    }
    case PixelFormat.RGB8:
    case PixelFormat.RGBA8: {
      const o0 = row + bytesPerPixel(o.format) * x;
      R = p[o0]!;
      G = p[o0 + 1]!;
      B = p[o0 + 2]!;
      break;
    }
    case PixelFormat.BGR8:
    case PixelFormat.BGRA8: {
      const o0 = row + bytesPerPixel(o.format) * x;
      B = p[o0]!;
      G = p[o0 + 1]!;
      R = p[o0 + 2]!;
      break;
    }
    case PixelFormat.YUYV:
    case PixelFormat.NV12: {
      let Y: number;
      let U: number;
      let V: number;
      if (o.format === PixelFormat.YUYV) {
        Y = p[row + 2 * x]!;
        U = p[row + 4 * Math.floor(x / 2) + 1]!;
        V = p[row + 4 * Math.floor(x / 2) + 3]!;
      } else {
        Y = p[row + x]!;
        const uv = o.uvOffset + Math.floor(y / 2) * o.stride + 2 * Math.floor(x / 2);
        U = p[uv]!;
        V = p[uv + 1]!;
      }
      const full = o.yuvRange === YuvRange.full;
      if (!three) {
        return [full ? Y : clamp255(mul(sub(Y, 16), f32(255 / 219)))];
      }
      const d = sub(U, 128);
      const e = sub(V, 128);
      const [kr, kgd, kge, kb] = YUV_TO_RGB[o.yuvMatrix === YuvMatrix.bt709 ? 1 : 0]![full ? 0 : 1]!;
      if (full) {
        return [
          clamp255(add(Y, mul(kr, e))),
          clamp255(sub(sub(Y, mul(kgd, d)), mul(kge, e))),
          clamp255(add(Y, mul(kb, d))),
        ];
      }
      const yy = mul(f32(1.164383), sub(Y, 16));
      return [
        clamp255(add(yy, mul(kr, e))),
        clamp255(sub(sub(yy, mul(kgd, d)), mul(kge, e))),
        clamp255(add(yy, mul(kb, d))),
      ];
    }
    default:
      throw new RangeError(`Expected a PixelFormat value for format but received ${o.format}`);
  }
  if (!three) {
    return [add(add(mul(f32(0.299), R), mul(f32(0.587), G)), mul(f32(0.114), B))];
  }
  return [R, G, B];
}

// Section 4, one axis: the (source index, weight) pairs of content pixel i,
// for n source samples and m content pixels.
function axisTaps(mode: number, n: number, m: number, i: number): Array<[number, number]> {
  const s = n / m;
  if (mode === ResizeMode.nearest) {
    return [[Math.min(Math.floor((i + 0.5) * s), n - 1), 1]];
  }
  if (mode === ResizeMode.bilinear) {
    const f = Math.min(Math.max((i + 0.5) * s - 0.5, 0), n - 1);
    const k0 = Math.floor(f);
    const k1 = Math.min(k0 + 1, n - 1);
    const w = f - k0;
    return [
      [k0, 1 - w],
      [k1, w],
    ];
  }
  if (mode === ResizeMode.area) {
    const a = i * s;
    const b = (i + 1) * s;
    const taps: Array<[number, number]> = [];
    for (let k = Math.floor(a); k < Math.min(Math.ceil(b), n); k++) {
      const overlap = Math.min(k + 1, b) - Math.max(k, a);
      if (overlap > 0) taps.push([k, overlap / s]);
    }
    return taps;
  }
  throw new RangeError(`Expected a ResizeMode value for resize but received ${mode}`);
}

// Section 5: the source value plane `plane` at content pixel (i, j) of a
// scan-converted plan, or null outside the sector.
function scanConverted(
  o: ResolvedPlanOptions,
  g: ContentGeometry,
  src: Uint8Array,
  i: number,
  j: number,
  plane: number,
): number | null {
  const s = o.sector;
  const x = g.xmin + ((i + 0.5) * g.aw) / g.cw;
  const z = g.zmin + ((j + 0.5) * g.ah) / g.ch;
  const r = Math.sqrt(x * x + z * z);
  const theta = Math.atan2(x, z);
  if (r < s.depthStart || r > s.depthEnd || theta < s.angleStart || theta > s.angleEnd) {
    return null;
  }
  const fk = ((theta - s.angleStart) / (s.angleEnd - s.angleStart)) * (g.rw - 1);
  const fl = ((r - s.depthStart) / (s.depthEnd - s.depthStart)) * (g.rh - 1);
  const v = (k: number, l: number): number =>
    sourceValues(o, src, o.roi.x + k, o.roi.y + l)[plane]!;
  if (o.resize === ResizeMode.nearest) {
    return v(Math.floor(fk + 0.5), Math.floor(fl + 0.5));
  }
  const k0 = Math.floor(fk);
  const l0 = Math.floor(fl);
  const k1 = Math.min(k0 + 1, g.rw - 1);
  const l1 = Math.min(l0 + 1, g.rh - 1);
  const wx = fk - k0;
  const wy = fl - l0;
  return (
    (1 - wy) * ((1 - wx) * v(k0, l0) + wx * v(k1, l0)) + wy * ((1 - wx) * v(k0, l1) + wx * v(k1, l1))
  );
}

// Section 6: the value an output element holds.
function convert(dtype: number, out: number): number {
  switch (dtype) {
    case DType.float32:
      return out;
    case DType.float16:
      return numberToFloat16Bits(out);
    case DType.uint8:
      return Math.min(255, Math.max(0, Math.floor(out + 0.5)));
    case DType.int8:
      return Math.min(127, Math.max(-128, Math.floor(out + 0.5)));
    default:
      throw new RangeError(`Expected a DType value for dtype but received ${dtype}`);
  }
}

/**
 * Preprocesses one frame into batch slot `batchIndex` of `out`, exactly as
 * docs/PREPROCESSING.md defines it. `out` holds batchSize*C*H*W elements of the
 * plan's dtype (float16 as binary16 bits in a Uint16Array).
 */
export function preprocessReference(
  opts: ResolvedPlanOptions,
  src: Uint8Array,
  out: OutputArray,
  batchIndex: number,
): void {
  const o = opts;
  const C = o.channels;
  const W = o.outWidth;
  const H = o.outHeight;
  const need = requiredInputBytes(o);
  if (src.length < need) {
    throw new RangeError(`Expected input of at least ${need} bytes but received ${src.length} bytes`);
  }
  if (out.length !== o.batchSize * C * H * W) {
    throw new RangeError(
      `Expected output of ${o.batchSize * C * H * W} elements but received ${out.length} elements`,
    );
  }
  if (!Number.isInteger(batchIndex) || batchIndex < 0 || batchIndex >= o.batchSize) {
    throw new RangeError(
      `Expected integer between 0 and ${o.batchSize - 1} for batchIndex but received ${batchIndex}`,
    );
  }
  const g = contentGeometry(o);
  const base = batchIndex * C * H * W;
  for (let c = 0; c < C; c++) {
    // Gray formats yield [g, g, g]; one output channel reads plane 0.
    const plane = C === 1 ? 0 : o.channelOrder === ChannelOrder.bgr ? 2 - c : c;
    const alpha = f32(o.alpha[c]!);
    const beta = f32(o.beta[c]!);
    const pad = add(mul(f32(o.padValue), alpha), beta);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const index =
          o.layout === Layout.NCHW ? base + (c * H + y) * W + x : base + (y * W + x) * C + c;
        const i = x - g.ox;
        const j = y - g.oy;
        let value: number | null = null;
        if (i >= 0 && j >= 0 && i < g.cw && j < g.ch) {
          if (o.scanConvert) {
            value = scanConverted(o, g, src, i, j, plane);
          } else {
            value = 0;
            for (const [l, wy] of axisTaps(o.resize, g.rh, g.ch, j)) {
              for (const [k, wx] of axisTaps(o.resize, g.rw, g.cw, i)) {
                value += sourceValues(o, src, o.roi.x + k, o.roi.y + l)[plane]! * wx * wy;
              }
            }
          }
        }
        const mapped = value === null ? pad : add(mul(f32(value), alpha), beta);
        out[index] = convert(o.dtype, mapped);
      }
    }
  }
}
