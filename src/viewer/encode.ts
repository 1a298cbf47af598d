// Frame pixels to a JPEG for the live viewer. The copy is taken on the frame's
// own turn (its pixels are a socket buffer or a shared-memory slot that goes
// back once the frame has run): one memcpy of the image rows into a buffer the
// stream reuses. Everything else (channel order, alpha, the luma of YUV
// frames, the high byte of GRAY16: jpegPlan) and the encoding itself run in
// sharp (libvips) on the viewer's encoder thread (encoder.ts).
import sharp from 'sharp';
import type { ConfigureStream } from '../protocol/messages.js';

type Geometry = Pick<ConfigureStream, 'width' | 'height' | 'format' | 'stride'>;

/** Bytes per pixel as sent, and what sharp is told the copied rows are. */
const LAYOUT: Record<ConfigureStream['format'], { bpp: number; channels: 1 | 2 | 3 | 4 }> = {
  GRAY8: { bpp: 1, channels: 1 },
  GRAY16: { bpp: 2, channels: 2 }, // little-endian: channel 1 is the high byte
  RGB8: { bpp: 3, channels: 3 },
  BGR8: { bpp: 3, channels: 3 },
  RGBA8: { bpp: 4, channels: 4 },
  BGRA8: { bpp: 4, channels: 4 },
  YUYV: { bpp: 2, channels: 2 }, // Y U Y V: channel 0 is the luma of every pixel
  NV12: { bpp: 1, channels: 1 }, // the Y plane comes first
};

const SWAP_RB: [[number, number, number], [number, number, number], [number, number, number]] = [[0, 0, 1], [0, 1, 0], [1, 0, 0]];

/** Bytes the packed copy of a frame of this geometry takes. */
export function snapshotBytes(g: Geometry): number {
  return g.width * g.height * LAYOUT[g.format].bpp;
}

/**
 * Copies the image rows of `pixels` (stride honoured; the Y plane of NV12) into `into`, packed. `into` must hold
 * snapshotBytes(g); returns false, copying nothing, when `pixels` is shorter than the geometry says.
 */
export function snapshot(pixels: Uint8Array, g: Geometry, into: Uint8Array): boolean {
  const row = g.width * LAYOUT[g.format].bpp;
  const stride = g.stride ?? row;
  if (pixels.length < stride * (g.height - 1) + row || into.length < row * g.height) return false;
  if (stride === row) {
    into.set(pixels.subarray(0, row * g.height));
  } else {
    for (let y = 0; y < g.height; y++) into.set(pixels.subarray(y * stride, y * stride + row), y * row);
  }
  return true;
}

export interface EncodeOptions {
  /** JPEG quality 1..100. */
  quality: number;
}

/** The steps that make a displayable image of a packed snapshot: plain data, so the encoder thread can take it. */
export interface JpegPlan {
  /** Channels sharp is told the packed rows have. */
  channels: 1 | 2 | 3 | 4;
  /** Applied in order: sharp's extractChannel(n), removeAlpha(), recomb(matrix), toColourspace(space). */
  ops: (['extractChannel', number] | ['removeAlpha'] | ['recomb', number[][]] | ['toColourspace', string])[];
}

export function jpegPlan(format: ConfigureStream['format']): JpegPlan {
  const { channels } = LAYOUT[format];
  const ops: JpegPlan['ops'] = [];
  switch (format) {
    case 'GRAY16': ops.push(['extractChannel', 1]); break;
    case 'YUYV': ops.push(['extractChannel', 0]); break;
    case 'BGR8': ops.push(['recomb', SWAP_RB]); break;
    case 'RGBA8': ops.push(['removeAlpha']); break;
    case 'BGRA8': ops.push(['removeAlpha'], ['recomb', SWAP_RB]); break;
    default: break;
  }
  // A one-channel JPEG for gray frames (sharp would otherwise write three, and read a 2-channel raw as gray + alpha).
  if (channels !== 3 && channels !== 4) ops.push(['toColourspace', 'b-w']);
  return { channels, ops };
}

/**
 * The steps that make a baseline JPEG of packed width x height rows under `plan` (jpegPlan), written once: encodeJpeg
 * calls this function on its thread, and the viewer's encoder thread (encoder.ts) runs this same function from its
 * source text. So it stays self-contained: sharp, like everything else it uses, comes in as an argument.
 */
export async function encodePlanned(lib: typeof sharp, packed: Uint8Array, width: number, height: number, plan: JpegPlan, quality: number): Promise<Buffer> {
  let img = lib(packed, { raw: { width, height, channels: plan.channels } });
  for (const op of plan.ops) {
    if (op[0] === 'extractChannel') img = img.extractChannel(op[1] as 0 | 1 | 2 | 3);
    else if (op[0] === 'removeAlpha') img = img.removeAlpha();
    else if (op[0] === 'recomb') img = img.recomb(op[1] as [[number, number, number], [number, number, number], [number, number, number]]);
    else img = img.toColourspace(op[1]);
  }
  // Huffman optimisation costs about as much again as the encoding; off, for a live picture.
  return img.jpeg({ quality, optimiseCoding: false, chromaSubsampling: '4:2:0' }).toBuffer();
}

/**
 * A packed snapshot (snapshot()) as a baseline JPEG, gray or RGB, on this thread (sharp's call costs about 0.6 ms
 * of synchronous work at 1024x768: the viewer encodes on its own thread instead, encoder.ts, with the same steps).
 */
export function encodeJpeg(packed: Uint8Array, g: Geometry, o: EncodeOptions): Promise<Buffer> {
  return encodePlanned(sharp, packed, g.width, g.height, jpegPlan(g.format), o.quality);
}
