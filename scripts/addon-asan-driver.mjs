// Exercises the addon's native paths under ASan/LSan (scripts/addon-asan.sh):
// engine load/bind/run/close cycles (the hot-swap path), runs after close,
// a bad model, preprocessing sync and async, and a shared-memory ring mapped,
// read and closed. Prints "addon-asan-driver: done" at the end.
import { ftruncateSync, openSync, closeSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { Engine } = await import(path.join(root, 'dist', 'engine', 'index.js'));
const { Preprocessor } = await import(path.join(root, 'dist', 'preprocess', 'index.js'));
const { syntheticSectorFrame } = await import(path.join(root, 'dist', 'frame', 'synthetic.js'));

for (const model of ['view_quality', 'lv_segmentation']) {
  for (let i = 0; i < 25; i++) {
    const e = await Engine.load(path.join(root, 'models', model, 'model.fp32.onnx'), { intraOpThreads: 1, warmupRuns: 1, log: false });
    const input = e.inputs[0];
    const dims = input.shape.map((d) => (typeof d === 'number' ? d : 1));
    const { outputs } = e.allocate();
    const bound = e.bind({ [input.name]: { data: new Float32Array(dims.reduce((a, d) => a * d, 1)).fill(0.5), dims } }, outputs);
    await Promise.all([bound.run(), bound.run()]);
    await e.close();
    await e.close();
    await bound.run().catch(() => undefined);
  }
}
await Engine.load(path.join(root, 'package.json'), { log: false }).catch(() => undefined);

const frame = syntheticSectorFrame(1024, 768, 3);
const pre = new Preprocessor({ input: { width: 1024, height: 768, format: 'GRAY8' }, output: { width: 256, height: 256, dtype: 'float32', layout: 'NCHW' }, resize: 'area' });
const out = pre.createOutput();
for (let i = 0; i < 20; i++) {
  pre.run(frame, out);
  await pre.runAsync(frame, out);
}
try { pre.run(frame.subarray(0, 100), out); } catch { /* a short frame is refused */ }

// A shared-memory ring: made here as firmware would, mapped by the addon, read in place, closed.
const { ShmRing } = await import(path.join(root, 'dist', 'transport', 'shm-ring.js'));
const { encodeRingHeader, ringBytes } = await import(path.join(root, 'dist', 'protocol', 'ring.js'));
const ring = { name: `/sonoedge-asan-${process.pid}`, slots: 2, slotBytes: 4096 };
const fd = openSync(`/dev/shm${ring.name}`, 'w+', 0o600);
ftruncateSync(fd, ringBytes(ring.slots, ring.slotBytes));
writeSync(fd, encodeRingHeader(ring), 0, 4096, 0);
closeSync(fd);
try {
  const r = ShmRing.open(ring, 4096, {});
  let sum = 0;
  for (let s = 0; s < ring.slots; s++) {
    for (const v of r.hold(s, 0)) sum += v;
    r.release(s);
  }
  r.close();
  if (sum !== 0) throw new Error(`Expected zeroed slots but received a sum of ${sum}`);
} finally {
  rmSync(`/dev/shm${ring.name}`, { force: true });
}

for (let k = 0; k < 5; k++) {
  await new Promise((r) => setImmediate(r));
  globalThis.gc?.();
  await new Promise((r) => setTimeout(r, 20));
}
process.stdout.write('addon-asan-driver: done\n');
