// The live viewer's pictures (src/viewer/encode.ts): the packed copy honours
// the stride and takes NV12's Y plane; every socket pixel format becomes a
// JPEG that shows the frame (decoded again here with sharp: the centres of
// flat blocks within JPEG's error, channel order and the luma/high byte right),
// and the viewer's encoder thread makes the same bytes and gives the buffer back.
import t from 'tap';
import sharp from 'sharp';
import type { ConfigureStream } from '../../src/protocol/messages.js';
import { encodeJpeg, snapshot, snapshotBytes } from '../../src/viewer/encode.js';
import { JpegEncoder } from '../../src/viewer/encoder.js';

const W = 32;
const H = 16;
/** Four flat 16x8 blocks: RGB per block. */
const BLOCKS: [number, number, number][] = [[200, 40, 40], [40, 200, 40], [40, 40, 200], [128, 128, 128]];
const blockOf = (x: number, y: number) => (y < 8 ? 0 : 2) + (x < 16 ? 0 : 1);
const gray = ([r, g, b]: [number, number, number]) => Math.round(0.299 * r + 0.587 * g + 0.114 * b);

/** A frame of `format` with `pad` bytes after each row. */
function frame(format: ConfigureStream['format'], pad = 0): { bytes: Uint8Array; stride: number } {
  const bpp = { GRAY8: 1, GRAY16: 2, RGB8: 3, BGR8: 3, RGBA8: 4, BGRA8: 4, YUYV: 2, NV12: 1 }[format];
  const stride = W * bpp + pad;
  const rows = format === 'NV12' ? H + H / 2 : H;
  const out = new Uint8Array(stride * rows).fill(0xee);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const c = BLOCKS[blockOf(x, y)];
      const g = gray(c);
      const o = y * stride + x * bpp;
      switch (format) {
        case 'GRAY8': case 'NV12': out[o] = g; break;
        case 'GRAY16': out[o] = 0x5a; out[o + 1] = g; break; // little-endian: the high byte shows
        case 'RGB8': out.set(c, o); break;
        case 'BGR8': out.set([c[2], c[1], c[0]], o); break;
        case 'RGBA8': out.set([...c, 255], o); break;
        case 'BGRA8': out.set([c[2], c[1], c[0], 255], o); break;
        case 'YUYV': out[o] = g; out[o + 1] = 128; break;
      }
    }
  }
  return { bytes: out, stride };
}

t.test('every pixel format, packed and with a stride, encodes to a JPEG of the frame', async (t) => {
  const encoder = new JpegEncoder();
  t.teardown(() => encoder.close());
  for (const format of ['GRAY8', 'GRAY16', 'RGB8', 'BGR8', 'RGBA8', 'BGRA8', 'YUYV', 'NV12'] as const) {
    for (const pad of [0, 8]) {
      const { bytes, stride } = frame(format, pad);
      const g = { width: W, height: H, format, ...(pad ? { stride } : {}) };
      const packed = new Uint8Array(snapshotBytes(g));
      t.ok(snapshot(bytes, g, packed), `${format} pad ${pad}: copied`);
      const jpeg = await encodeJpeg(packed, g, { quality: 100 });
      const copy = packed.slice();
      const threaded = await encoder.encode(copy.buffer, copy.length, g, 100);
      t.ok(threaded.jpeg.equals(jpeg), `${format}: the encoder thread makes the same JPEG`);
      t.ok(Buffer.from(threaded.buffer).equals(Buffer.from(packed)), 'and gives the snapshot buffer back intact');
      t.same([...jpeg.subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
      const colour = ['RGB8', 'BGR8', 'RGBA8', 'BGRA8'].includes(format);
      const meta = await sharp(jpeg).metadata();
      t.same([meta.width, meta.height, meta.channels], [W, H, colour ? 3 : 1], `${format}: ${colour ? 'RGB' : 'one gray channel'}, the frame's size`);
      const { data, info } = await (colour ? sharp(jpeg) : sharp(jpeg).toColourspace('b-w')).raw().toBuffer({ resolveWithObject: true });
      for (const [bx, by] of [[8, 4], [24, 4], [8, 12], [24, 12]]) {
        const want = BLOCKS[blockOf(bx, by)];
        const o = (by * W + bx) * info.channels;
        const got = colour ? [data[o], data[o + 1], data[o + 2]] : [data[o]];
        const exp = colour ? want : [gray(want)];
        t.ok(got.every((v, i) => Math.abs(v - exp[i]) <= 6), `${format} pad ${pad} block at ${bx},${by}: ${got} ~ ${exp}`);
      }
    }
  }
});

t.test('the encoder thread: a failure is an error, a closed encoder fails what is pending and starts again', async (t) => {
  const encoder = new JpegEncoder();
  t.teardown(() => encoder.close());
  const g = { width: W, height: H, format: 'GRAY8' as const };
  // Fewer bytes than the geometry needs: sharp refuses them; the buffer comes back with the error.
  await t.rejects(encoder.encode(new ArrayBuffer(10), 10, g, 70), { message: /^Expected a JPEG from the encoder but it failed: / });
  const pending = t.rejects(encoder.encode(new ArrayBuffer(W * H), W * H, g, 70), { message: 'the encoder was closed' });
  await encoder.close();
  await pending;
  const again = await encoder.encode(new ArrayBuffer(W * H), W * H, g, 70);
  t.same([...again.jpeg.subarray(0, 2)], [0xff, 0xd8], 'a new thread after close');
});

t.test('a frame shorter than its geometry is not copied', async (t) => {
  const g = { width: W, height: H, format: 'GRAY8' as const };
  const into = new Uint8Array(snapshotBytes(g)).fill(7);
  t.equal(snapshot(new Uint8Array(W * H - 1), g, into), false);
  t.ok(into.every((v) => v === 7), 'nothing written');
});
