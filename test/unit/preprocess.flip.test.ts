// A stream's flip (src/preprocess/flip.ts) on hand-written tensors, points, masks and guidance labels.
import t from 'tap';
import { checkFlip, flipGuidance, flipMask, flipPoints, flipTensor, FLIPS } from '../../src/preprocess/flip.js';
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
