// The frame a stream's models are warmed on before its CONFIGURE_STREAM reply:
// a synthetic apical-like picture (a dark cavity inside a bright wall, inside
// a sector on black), in the stream's own pixel format, stride and layout.
// Only its shape matters: a blank frame gives the segmentation model nothing
// to find, and the first real frame then ran the mask, contour and EF code
// cold (several milliseconds of JIT warm-up on the frame clock).
import { frameBytes, type ConfigureStream } from '../protocol/messages.js';

/** The warm-up picture's grey level at (x, y) of a width x height frame. */
function luma(x: number, y: number, width: number, height: number): number {
  if (Math.abs(Math.atan2(x - width / 2, y)) > 0.6) return 0;          // outside the sector
  const r = Math.hypot((x - 0.55 * width) / (0.13 * width), (y - 0.45 * height) / (0.28 * height));
  return r < 1 ? 15 : r < 1.4 ? 170 : 90;                               // cavity, wall, tissue
}

/** A frame of `config`'s geometry (exactly frameBytes(config) bytes) holding the warm-up picture. */
export function warmupFrame(config: Pick<ConfigureStream, 'width' | 'height' | 'format' | 'stride' | 'uvOffset'>): Uint8Array {
  const { width, height, format } = config;
  const bpp = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 }[format];
  const stride = config.stride ?? width * bpp;
  const out = new Uint8Array(frameBytes(config));
  if (format === 'NV12') out.fill(128, config.uvOffset ?? stride * height);   // neutral chroma
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const v = luma(x, y, width, height);
      const o = y * stride + x * bpp;
      switch (format) {
        case 'GRAY16': out[o] = 0; out[o + 1] = v; break;                // little-endian v << 8
        case 'RGBA8': case 'BGRA8': out[o] = out[o + 1] = out[o + 2] = v; out[o + 3] = 255; break;
        case 'RGB8': case 'BGR8': out[o] = out[o + 1] = out[o + 2] = v; break;
        case 'YUYV': out[o] = v; out[o + 1] = 128; break;                 // Y, then U or V (neutral)
        default: out[o] = v;                                             // GRAY8, NV12's Y plane
      }
    }
  }
  return out;
}
