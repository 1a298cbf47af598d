// Exercises the addon's native paths under ASan/LSan (scripts/addon-asan.sh):
// engine load/bind/run/close cycles (the hot-swap path), runs after close,
// a bad model, preprocessing sync and async, and a shared-memory ring mapped,
// read and closed, and engines left open at process exit (in a child).
// Prints "addon-asan-driver: done" at the end.
import { spawnSync } from 'node:child_process';
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

// Inline runs on the JavaScript thread (inlineRunMaxMs), mixed with queued ones, a failing inline run (its
// error thrown from native code), pool spinning on, and the session config read back from ONNX Runtime.
for (let i = 0; i < 10; i++) {
  const e = await Engine.load(path.join(root, 'test', 'fixtures', 'engine', 'gather.onnx'),
    { intraOpThreads: 2, warmupRuns: 0, spinning: true, inlineRunMaxMs: 1000, log: false });
  if (e.sessionConfig['session.intra_op.allow_spinning'] !== '1') throw new Error('spinning did not reach ONNX Runtime');
  const data = new Float32Array([10, 20, 30, 40]), index = new BigInt64Array([1n]), out = new Float32Array(1);
  const bound = e.bind({ data, index }, { out });
  await bound.run();  // no warm-up, so no expected time: queued; then short, so inline
  index[0] = 9n;
  await bound.run().catch(() => undefined);  // inline, fails: the error is thrown from native code
  index[0] = 1n;
  const queued = e.bind({ data, index: new BigInt64Array([2n]) }, { out: new Float32Array(1) });
  const kinds = (await Promise.all([bound.run(), queued.run(), bound.run()])).map((t) => t.inline);
  if (kinds.join() !== 'true,false,false' || out[0] !== 20) throw new Error(`inline, queued, queued behind: ${kinds.join()}`);
  await e.close();
  await bound.run().catch(() => undefined);
}

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

// Engines left open at exit, one with runs in flight: the environment's teardown stops their sessions before
// Node deletes their thread-safe functions (a second release of a deleted one was a use after free: SIGABRT).
// In a child process with leak detection off: objects still alive at exit are not leaks; memory errors count.
const atExit = `const { Engine } = await import(${JSON.stringify(path.join(root, 'dist', 'engine', 'index.js'))});
const open = [];
for (let i = 0; i < 2; i++) {
  const e = await Engine.load(${JSON.stringify(path.join(root, 'models', 'view_quality', 'model.fp32.onnx'))}, { intraOpThreads: 1, warmupRuns: 0, log: false });
  const { inputs, outputs } = e.allocate();
  open.push(e, e.bind(inputs, outputs));
}
void open[1].run();
void open[1].run();`;
const child = spawnSync(process.execPath, ['--input-type=module', '-e', atExit], {
  encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0' },
});
process.stdout.write(child.stdout + child.stderr);
if (child.status !== 0 || child.signal !== null) throw new Error(`Expected exit 0 with engines left open but received ${child.status ?? child.signal}`);
process.stdout.write('addon-asan-driver: done\n');
