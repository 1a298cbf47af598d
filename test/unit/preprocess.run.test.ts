// Preprocessor.run / runAsync: argument checks with exact errors, async
// results identical to sync, concurrent async runs, frames in any container.
import t from 'tap';
import { Preprocessor } from '../../src/preprocess/index.js';
import { randomBytes } from '../../src/frame/synthetic.js';

const make = () => new Preprocessor({
  input: { width: 64, height: 48, format: 'GRAY8', stride: 72 },
  output: { width: 32, height: 32, batchSize: 2 },
  resize: 'area',
});

t.test('reports its geometry', async (t) => {
  const pre = make();
  t.equal(pre.requiredInputBytes, 72 * 47 + 64);
  t.equal(pre.outputLength, 2 * 32 * 32);
  t.equal(pre.dtype, 'float32');
  t.ok(['scalar', 'sse41', 'avx2', 'neon'].includes(pre.simd));
  t.ok(pre.createOutput() instanceof Float32Array);
});

t.test('frames in a Buffer, a TypedArray view with an offset, an ArrayBuffer and a DataView agree', async (t) => {
  const pre = make();
  const bytes = randomBytes(72 * 48 + 16, 5);
  const ref = pre.run(bytes.subarray(0, 72 * 48), pre.createOutput());
  const shifted = new Uint8Array(72 * 48 + 16);
  shifted.set(bytes.subarray(0, 72 * 48), 16);
  t.same(pre.run(shifted.subarray(16), pre.createOutput()), ref, 'view with byteOffset');
  t.same(pre.run(Buffer.from(bytes.subarray(0, 72 * 48)), pre.createOutput()), ref, 'Buffer');
  t.same(pre.run(bytes.slice(0, 72 * 48).buffer, pre.createOutput()), ref, 'ArrayBuffer');
  t.same(pre.run(new DataView(bytes.buffer, 0, 72 * 48), pre.createOutput()), ref, 'DataView');
});

t.test('run writes only its batch slot', async (t) => {
  const pre = make();
  const out = pre.createOutput().fill(-1);
  pre.run(randomBytes(72 * 48, 6), out, 1);
  t.ok(out.subarray(0, 1024).every((v) => v === -1), 'slot 0 untouched');
  t.ok(out.subarray(1024).every((v) => v >= 0 && v <= 1), 'slot 1 written');
});

t.test('bad run arguments throw exact errors', async (t) => {
  const pre = make();
  const frame = randomBytes(72 * 48, 7);
  t.throws(() => pre.run(frame.subarray(0, 100), pre.createOutput()), {
    name: 'RangeError', code: 'ERR_SONOEDGE_FRAME_TOO_SHORT',
    message: 'Expected frame of at least 3448 bytes for 64x48 with stride 72 but received 100 bytes',
  });
  t.throws(() => pre.run('frame' as any, pre.createOutput()), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ARG_TYPE',
    message: 'Expected Buffer, TypedArray or ArrayBuffer for frame but received "frame" of type string',
  });
  t.throws(() => pre.run(frame, new Float64Array(2048) as any), {
    name: 'TypeError', code: 'ERR_SONOEDGE_OUTPUT_TYPE',
    message: 'Expected Float32Array for dtype float32 for output but received Float64Array of length 2048',
  });
  t.throws(() => pre.run(frame, new Float32Array(2047)), {
    name: 'RangeError', code: 'ERR_SONOEDGE_OUTPUT_SIZE',
    message: 'Expected Float32Array of length 2048 for output but received Float32Array of length 2047',
  });
  t.throws(() => pre.run(frame, pre.createOutput(), 2), {
    name: 'RangeError', code: 'ERR_SONOEDGE_BATCH_INDEX',
    message: 'Expected integer between 0 and 1 for batchIndex but received 2 of type number',
  });
  await t.rejects(pre.runAsync(frame.subarray(0, 10), pre.createOutput()), {
    name: 'RangeError', code: 'ERR_SONOEDGE_FRAME_TOO_SHORT',
  });
});

t.test('runAsync equals run, also many at once on one plan', async (t) => {
  const pre = make();
  const frames = Array.from({ length: 16 }, (_, i) => randomBytes(72 * 48, 100 + i));
  const sync = frames.map((f) => pre.run(f, pre.createOutput()));
  const outs = await Promise.all(frames.map((f) => pre.runAsync(f, pre.createOutput())));
  outs.forEach((o, i) => t.same(o, sync[i], `frame ${i}`));
});

t.test('the native compiler is a second line of defence', async (t) => {
  // TypeScript rejects this first; the resolved object bypasses it to show
  // that the core still refuses to run an unsafe plan instead of crashing.
  const { native } = await import('../../src/native.js');
  const pre = make();
  const o = { ...pre.options, roi: { x: 60, y: 0, width: 64, height: 48 } };
  t.throws(() => new (native().NativePlan)(o), { name: 'RangeError', code: 'ERR_SONOEDGE_PLAN_OPTION' });
});
