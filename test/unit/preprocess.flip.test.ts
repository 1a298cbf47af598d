// A stream's flip (src/preprocess/flip.ts) on hand-written tensors, points, masks and guidance labels.
import t from 'tap';
import { checkFlip, flipGuidance, flipMask, flipPoints, flipPolygon, flipTensor, FLIPS } from '../../src/preprocess/flip.js';
import { Layout } from '../../src/preprocess/types.js';

// A 3 x 2 image (w 3, h 2), values row by row: 1 2 3 / 4 5 6.
const one = (flip: (typeof FLIPS)[number]): number[] => {
  const d = Float32Array.from([1, 2, 3, 4, 5, 6]);
  flipTensor(d, { outWidth: 3, outHeight: 2, channels: 1, layout: Layout.NCHW, batchSize: 1 }, flip);
  return Array.from(d);
};

t.test('one plane: each flip by hand', async (t) => {
  t.same(one('none'), [1, 2, 3, 4, 5, 6]);
  t.same(one('horizontal'), [3, 2, 1, 6, 5, 4]);
  t.same(one('vertical'), [4, 5, 6, 1, 2, 3]);
  t.same(one('both'), [6, 5, 4, 3, 2, 1]);
});

t.test('NCHW with two channels and a batch of two: every plane flipped on its own', async (t) => {
  // 2 images x 2 channels x (2 x 2): plane k holds 10k+1 .. 10k+4.
  const d = Float32Array.from([1, 2, 3, 4, 11, 12, 13, 14, 21, 22, 23, 24, 31, 32, 33, 34]);
  flipTensor(d, { outWidth: 2, outHeight: 2, channels: 2, layout: Layout.NCHW, batchSize: 2 }, 'horizontal');
  t.same(Array.from(d), [2, 1, 4, 3, 12, 11, 14, 13, 22, 21, 24, 23, 32, 31, 34, 33]);
  flipTensor(d, { outWidth: 2, outHeight: 2, channels: 2, layout: Layout.NCHW, batchSize: 2 }, 'vertical');
  t.same(Array.from(d), [4, 3, 2, 1, 14, 13, 12, 11, 24, 23, 22, 21, 34, 33, 32, 31]);
});

t.test('NHWC with three channels: pixels move, each keeps its channel order', async (t) => {
  // A 2 x 2 RGB image: pixel p holds (10p, 10p+1, 10p+2).
  const px = [0, 1, 2, 10, 11, 12, 20, 21, 22, 30, 31, 32];
  const run = (flip: (typeof FLIPS)[number]): number[] => {
    const d = Uint8Array.from(px);
    flipTensor(d, { outWidth: 2, outHeight: 2, channels: 3, layout: Layout.NHWC, batchSize: 1 }, flip);
    return Array.from(d);
  };
  t.same(run('horizontal'), [10, 11, 12, 0, 1, 2, 30, 31, 32, 20, 21, 22]);
  t.same(run('vertical'), [20, 21, 22, 30, 31, 32, 0, 1, 2, 10, 11, 12]);
  t.same(run('both'), [30, 31, 32, 20, 21, 22, 10, 11, 12, 0, 1, 2]);
});

t.test('each flip twice gives the tensor back; an odd size keeps its middle row and column', async (t) => {
  const n = 5 * 7 * 3;
  const src = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 100);
  for (const layout of [Layout.NCHW, Layout.NHWC]) {
    for (const flip of FLIPS) {
      const d = Float32Array.from(src);
      const shape = { outWidth: 5, outHeight: 7, channels: 3, layout, batchSize: 1 };
      flipTensor(d, shape, flip);
      flipTensor(d, shape, flip);
      t.same(Array.from(d), Array.from(src), `${flip}, layout ${layout}`);
    }
  }
  const mid = Float32Array.from({ length: 9 }, (_, i) => i); // 3 x 3
  flipTensor(mid, { outWidth: 3, outHeight: 3, channels: 1, layout: Layout.NCHW, batchSize: 1 }, 'horizontal');
  t.same([mid[1], mid[4], mid[7]], [1, 4, 7], 'the middle column stays');
});

t.test('points are pixel centres: x -> w - 1 - x, y -> h - 1 - y; masks as the tensors', async (t) => {
  t.same(flipPoints([0, 0, 2.5, 1], 112, 100, 'horizontal'), [111, 0, 108.5, 1]);
  t.same(flipPoints([0, 0, 2.5, 1], 112, 100, 'vertical'), [0, 99, 2.5, 98]);
  t.same(flipPoints([0, 0, 2.5, 1], 112, 100, 'both'), [111, 99, 108.5, 98]);
  t.same(flipPoints([0, 0, 2.5, 1], 112, 100, 'none'), [0, 0, 2.5, 1]);
  const m = Uint8Array.from([1, 0, 0, 1, 1, 0]); // 3 x 2
  t.same(Array.from(flipMask(m, 3, 2, 'horizontal')), [0, 0, 1, 0, 1, 1]);
  t.same(Array.from(flipMask(m, 3, 2, 'both')), [0, 1, 1, 0, 0, 1]);
  t.same(Array.from(m), [1, 0, 0, 1, 1, 0], 'the input mask is not changed');
});

t.test('an outline keeps its winding: one-axis flips reverse the vertex order, a 180-degree turn does not', async (t) => {
  // A triangle in a 4 x 2 image, clockwise on image axes (y down): (0,0) (3,0) (0,1).
  const tri = [0, 0, 3, 0, 0, 1];
  t.same(flipPolygon(tri, 4, 2, 'horizontal'), [3, 1, 0, 0, 3, 0]);
  t.same(flipPolygon(tri, 4, 2, 'vertical'), [0, 0, 3, 1, 0, 1]);
  t.same(flipPolygon(tri, 4, 2, 'both'), [3, 1, 0, 1, 3, 0]);
  t.same(flipPolygon(tri, 4, 2, 'none'), tri);
  const area = (p: number[]) => p.reduce((a, _, i) => (i % 2 ? a : a + p[i] * p[(i + 3) % p.length] - p[(i + 2) % p.length] * p[i + 1]), 0);
  t.equal(area(tri), 3);
  for (const flip of FLIPS) t.equal(area(flipPolygon(tri, 4, 2, flip)), 3, `${flip}: the same winding and area`);
  t.same(flipPoints(tri, 4, 2, 'horizontal'), [3, 0, 0, 0, 3, 1], 'flipPoints keeps the order (and so reverses the winding)');
});

t.test('fp16 bits, int8 and NHWC batches move as elements', async (t) => {
  const u16 = Uint16Array.from([0x3c00, 0x4000, 0xbc00, 0x0001]); // 2 x 2
  flipTensor(u16, { outWidth: 2, outHeight: 2, channels: 1, layout: Layout.NCHW, batchSize: 1 }, 'vertical');
  t.same(Array.from(u16), [0xbc00, 0x0001, 0x3c00, 0x4000]);
  const i8 = Int8Array.from([-128, 127, 0, -1]); // 4 x 1
  flipTensor(i8, { outWidth: 4, outHeight: 1, channels: 1, layout: Layout.NCHW, batchSize: 1 }, 'horizontal');
  t.same(Array.from(i8), [-1, 0, 127, -128]);
  // NHWC, 2 channels, 2 x 1 images, a batch of 2: pixel p of image b holds (100b + 10p, 100b + 10p + 1).
  const nhwc = Float32Array.from([0, 1, 10, 11, 100, 101, 110, 111]);
  flipTensor(nhwc, { outWidth: 2, outHeight: 1, channels: 2, layout: Layout.NHWC, batchSize: 2 }, 'horizontal');
  t.same(Array.from(nhwc), [10, 11, 0, 1, 110, 111, 100, 101]);
});

t.test('guidance: a mirror swaps the sides and the sense of a rotation, a 180-degree turn only the sides', async (t) => {
  const labels = ['hold', 'slide_left', 'slide_right', 'rotate_cw', 'rotate_ccw', 'tilt_to_apex', 'a_label_of_its_own'];
  t.same(labels.map((l) => flipGuidance(l, 'none')), labels);
  t.same(labels.map((l) => flipGuidance(l, 'horizontal')), ['hold', 'slide_right', 'slide_left', 'rotate_ccw', 'rotate_cw', 'tilt_to_apex', 'a_label_of_its_own']);
  t.same(labels.map((l) => flipGuidance(l, 'vertical')), ['hold', 'slide_left', 'slide_right', 'rotate_ccw', 'rotate_cw', 'tilt_to_apex', 'a_label_of_its_own']);
  t.same(labels.map((l) => flipGuidance(l, 'both')), ['hold', 'slide_right', 'slide_left', 'rotate_cw', 'rotate_ccw', 'tilt_to_apex', 'a_label_of_its_own']);
});

t.test('an unknown flip is refused with the code, the name and the allowed values', async (t) => {
  t.equal(checkFlip('vertical', 'geometry.flip'), 'vertical');
  t.throws(() => checkFlip('mirror', 'geometry.flip'), {
    name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION',
    message: 'Expected none, horizontal, vertical, both for geometry.flip but received "mirror" of type string',
  });
  t.throws(() => checkFlip(1, 'geometry.flip'), { code: 'ERR_SONOEDGE_PLAN_OPTION' });
});
