// Bound runs: parity with onnxruntime-node's JS API within 1e-5, outputs
// written in place, bad bindings with exact errors, an error inside a run that
// leaves the engine usable (on the session thread and inline), many concurrent
// runs, inline runs (inlineRunMaxMs: when a run goes inline, when its promise
// settles, call order kept behind a queued run), the event loop left free
// during a long run, and close().
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Engine, type TypedArray } from '../../src/engine/index.js';
import { noise } from '../../src/frame/synthetic.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const model = (name: string) => path.join(fixtures, 'engine', `${name}.onnx`);
const conv = path.join(fixtures, 'model-packages', 'valid-signed', 'model.fp32.onnx');
const conv8 = path.join(fixtures, 'model-packages', 'valid-signed', 'model.int8.onnx');
const quiet = { log: false as const, intraOpThreads: 1 };

/** Deterministic pseudo-random values in [-1, 1). */
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

t.test('parity with onnxruntime-node on the same inputs, within 1e-5', async (t) => {
  for (const file of [conv, conv8, model('convnet'), model('dynamic')]) {
    const engine = await Engine.load(file, quiet);
    const ref = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, executionProviders: ['cpu'] });
    const dims = engine.inputs[0].shape.map((d) => (typeof d === 'number' ? d : 2));
    const n = dims.reduce((a, d) => a * d, 1);
    const x = noise(n, 7);
    const { outputs } = engine.allocate({ N: 2 });
    await engine.bind({ [engine.inputs[0].name]: { data: x, dims } }, outputs).run();
    const got = await ref.run({ [engine.inputs[0].name]: new ort.Tensor('float32', x, dims) });
    for (const o of engine.outputs) {
      const expected = got[o.name].data as Float32Array;
      t.equal(outputs[o.name].length, expected.length, `${path.basename(file)} ${o.name} length`);
      const d = maxAbsDiff(outputs[o.name] as Float32Array, expected);
      t.ok(d <= 1e-5, `${path.basename(file)} ${o.name}: max |diff| ${d} <= 1e-5`);
    }
    await ref.release();
    await engine.close();
  }
});

t.test('integer inputs and outputs of several types', async (t) => {
  const engine = await Engine.load(model('types'), quiet);
  t.teardown(() => engine.close());
  const a = new Uint8Array([0, 1, 2, 3, 254, 255]);
  const f = new Float32Array(6), i = new Int32Array(6);
  await engine.bind({ a }, { f, i }).run();
  t.same(Array.from(f), [0, 0.5, 1, 1.5, 127, 127.5]);
  t.same(Array.from(i), [0, 1, 2, 3, 254, 255]);
  const onlyI = new Int32Array(6);
  await engine.bind({ a }, { i: onlyI }).run();
  t.same(onlyI, i, 'a subset of the outputs');
});

t.test('the input array is the input tensor and the output array the output tensor: no copies', async (t) => {
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 1 } });
  t.teardown(() => engine.close());
  const x = new Float32Array(3 * 64), y = new Float32Array(3 * 64);
  const bound = engine.bind({ x }, { y });
  for (const v of [-5, 0, 2.5]) {
    x.fill(v);  // written after bind: the next run sees it
    const timings = await bound.run();
    t.ok(y.every((e) => e === Math.max(v, 0) + 1), `run sees x = ${v}`);
    t.ok(timings.queueMs >= 0 && timings.runMs > 0, 'monotonic timings');
  }
});

t.test('bad bindings: exact errors, and the engine still runs', async (t) => {
  const engine = await Engine.load(conv, quiet);
  t.teardown(() => engine.close());
  const image = new Float32Array(112 * 112), logits = new Float32Array(4 * 112 * 112);
  t.throws(() => engine.bind({ image: new Float64Array(112 * 112) as any }, { logits }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_TENSOR_TYPE',
    message: 'Expected Float32Array (float32) for inputs.image but received Float64Array of length 12544',
  });
  t.throws(() => engine.bind({ image: new Float32Array(100) }, { logits }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_TENSOR_SIZE',
    message: 'Expected Float32Array of length 12544 (1x1x112x112) for inputs.image but received Float32Array of length 100',
  });
  t.throws(() => engine.bind({ image }, { logits: new Float32Array(5) }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_TENSOR_SIZE',
    message: 'Expected Float32Array of length 50176 (1x4x112x112) for outputs.logits but received Float32Array of length 5',
  });
  t.throws(() => engine.bind({ image, imag: image } as any, { logits }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_BIND', message: 'Unknown input "imag" (the model\'s: image)',
  });
  t.throws(() => engine.bind({}, { logits }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_BIND',
    message: 'Expected a typed array for inputs.image but received undefined (every input must be bound)',
  });
  t.throws(() => engine.bind({ image }, {}), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_BIND', message: 'Expected at least one output (the model\'s: logits) but received none',
  });
  t.throws(() => engine.bind({ image: { data: image, dims: [1, 112, 112, 1] } }, { logits }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_TENSOR_SHAPE',
    message: 'Expected dims matching 1x1x112x112 for inputs.image.dims but received array of length 4',
  });
  t.throws(() => engine.bind({ image: 'pixels' as any }, { logits }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_TENSOR_TYPE',
    message: 'Expected Float32Array (float32) for inputs.image but received "pixels" of type string',
  });
  const dyn = await Engine.load(model('dynamic'), quiet);
  t.teardown(() => dyn.close());
  t.throws(() => dyn.bind({ x: new Float32Array(100) }, { y: new Float32Array(100) }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_TENSOR_SHAPE',
    message: 'Expected { data, dims } for inputs.x (shape Nx3x8x8 has free dimensions that cannot be inferred from a length) but received Float32Array of length 100',
  });
  await engine.bind({ image: image.fill(1) }, { logits }).run();
  t.ok(logits.some((v) => v !== 0), 'runs after the bad bindings');
});

for (const [how, options] of [['on the session thread', { warmupRuns: 0, inlineRunMaxMs: 0 }], ['inline', { inlineRunMaxMs: 1000 }]] as const) {
  t.test(`an error inside a run (${how}) rejects that run with a typed error; the engine stays usable`, async (t) => {
    const engine = await Engine.load(model('gather'), { ...quiet, ...options });
    t.teardown(() => engine.close());
    const data = new Float32Array([10, 20, 30, 40]), index = new BigInt64Array([9n]), out = new Float32Array(1);
    const bound = engine.bind({ data, index }, { out });
    await t.rejects(bound.run(), {
      name: 'Error', code: 'ERR_SONOEDGE_ENGINE_RUN',
      message: "Non-zero status code returned while running Gather node. Name:'' Status Message: indices element out of data bounds, idx=9 must be within the inclusive range [-4,3]",
    });
    index[0] = 2n;
    t.equal((await bound.run()).inline, how === 'inline');
    t.equal(out[0], 30);
    // Interleaved: bad, good, bad, good, each settles on its own.
    const results = await Promise.allSettled([9n, 1n, -9n, 3n].map(async (i) => {
      const idx = new BigInt64Array([i]), o = new Float32Array(1);
      await engine.bind({ data, index: idx }, { out: o }).run();
      return o[0];
    }));
    t.same(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    t.same(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value), [20, 40]);
  });
}

t.test('many concurrent runs on several bindings all settle with the right results', async (t) => {
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 1 }, inlineRunMaxMs: 0 });
  t.teardown(() => engine.close());
  const runs = Array.from({ length: 16 }, (_, k) => {
    const x = new Float32Array(192).fill(k), y = new Float32Array(192);
    return { k, y, bound: engine.bind({ x }, { y }) };
  });
  const all = await Promise.all(runs.flatMap((r) => Array.from({ length: 25 }, () => r.bound.run())));
  t.equal(all.length, 400);
  t.ok(all.every((x) => !x.inline), 'inlineRunMaxMs 0: every run on the session thread');
  for (const r of runs) t.ok(r.y.every((v) => v === r.k + 1), `binding ${r.k}`);
  t.ok(all.some((x) => x.queueMs > 0), 'later runs waited in the queue');
});

t.test('a short run runs inline: done when run() returns, settled at once while the loop has had its turn', async (t) => {
  // 1000 ms: inline whatever the machine's load makes of this model's time.
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 1 }, inlineRunMaxMs: 1000 });
  t.teardown(() => engine.close());
  const x = new Float32Array(192).fill(2), y = new Float32Array(192);
  const bound = engine.bind({ x }, { y });
  const order: string[] = [];
  setImmediate(() => order.push('earlier setImmediate'));
  const run = bound.run();
  t.ok(y.every((v) => v === 3), 'the outputs are written before run() returns');
  const timings = await run.then((r) => {
    order.push('run settled');
    return r;
  });
  t.same(order, ['run settled'], 'well within the budget: settled without waiting for the event loop');
  t.same({ inline: timings.inline, queueMs: timings.queueMs }, { inline: true, queueMs: 0 });
  t.ok(timings.runMs > 0);
  // Back to back, in call order, each sees its own input.
  const seen = await Promise.all([5, -1, 7].map((v) => {
    x.fill(v);
    const r = bound.run();
    const out = y[0];
    return r.then((tm) => [out, tm.inline]);
  }));
  t.same(seen, [[6, true], [1, true], [8, true]]);
});

t.test('inline runs awaited back to back wait for a turn of the event loop once their time since the last turn passes inlineRunMaxMs', async (t) => {
  const max = 0.05;
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 64 }, inlineRunMaxMs: max });
  t.teardown(() => engine.close());
  const bound = engine.bind({ x: new Float32Array(64 * 192) }, { y: new Float32Array(64 * 192) });
  await new Promise<void>((resolve) => setImmediate(resolve));
  // The rule, replayed from the reported run times: a run expected (the binding's previous run) within the budget
  // goes inline; it settles at once while the inline time since the last turn plus its expected time is within the
  // budget, else after a turn of the loop, which makes the budget whole again, as a queued run's completion does.
  let sinceTurn = 0, expected = engine.warmupMs / engine.options.warmupRuns, inline = 0, waited = 0;
  for (let i = 0; i < 300; i++) {
    let turned = false;
    setImmediate(() => { turned = true; });
    const r = await bound.run();
    if (r.inline !== expected <= max) t.fail(`run ${i}: expected ${expected} ms against ${max} ms, yet inline ${r.inline}`);
    if (!r.inline) {
      sinceTurn = 0;
    } else {
      inline++;
      const over = sinceTurn + expected > max;
      if (turned !== over) t.fail(`run ${i}: ${sinceTurn} + ${expected} ms since the last turn, yet it ${turned ? 'waited' : 'did not wait'} for the event loop`);
      sinceTurn = over ? 0 : sinceTurn + r.runMs;
      if (over) waited++;
    }
    expected = r.runMs;
  }
  t.ok(inline > 0, `${inline} of 300 runs inline, ${waited} of them waited for a turn of the event loop`);
});

t.test('runs started in one turn share the inline budget: the rest are queued, and all settle in call order', async (t) => {
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 64 }, inlineRunMaxMs: 1000 });
  t.teardown(() => engine.close());
  const xs = Array.from({ length: 8 }, (_, i) => new Float32Array(64 * 192).fill(i));
  const ys = xs.map(() => new Float32Array(64 * 192));
  const bound = xs.map((x, i) => engine.bind({ x }, { y: ys[i] }));
  const expected: number[] = [];
  for (const b of bound) expected.push((await b.run()).runMs);  // each binding's expected time: its previous run
  const max = 2.5 * [...expected].sort((a, b) => a - b)[4];
  const budgeted = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 64 }, inlineRunMaxMs: max });
  t.teardown(() => budgeted.close());
  const runs = xs.map((x, i) => budgeted.bind({ x }, { y: ys[i] }));
  for (const [i, b] of runs.entries()) expected[i] = (await b.run()).runMs;
  await new Promise<void>((resolve) => setImmediate(resolve));
  const order: number[] = [];
  const res = await Promise.all(runs.map((b, i) => b.run().then((r) => { order.push(i); return r; })));
  // Replayed: in call order, inline while the budget is open; the first run past it still inline (it settles after
  // a turn), and every later one in the turn queued; once one is queued the session thread is busy and every later
  // run queues behind it. Promises settle in call order all the same.
  let since = 0, closed = false, busy = false;
  const want = res.map((r, i) => {
    const inline = !busy && !closed && expected[i] <= max;
    if (inline) {
      if (since + expected[i] > max) closed = true;
      since += r.runMs;
    } else busy = true;
    return inline;
  });
  t.same(res.map((r) => r.inline), want, `budget ${max.toFixed(3)} ms, expected ${expected.map((e) => e.toFixed(3)).join(', ')} ms`);
  t.ok(want.includes(false), 'the budget ran out within the turn');
  t.same(order, [0, 1, 2, 3, 4, 5, 6, 7]);
  t.same(ys.map((y) => y[0]), xs.map((x) => x[0] + 1));
});

t.test('inlineRunMaxMs 0 never runs inline; a run is queued, not inline, while the session thread is busy', async (t) => {
  const never = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 1 }, inlineRunMaxMs: 0 });
  t.teardown(() => never.close());
  const x = new Float32Array(192).fill(1), y = new Float32Array(192);
  const b = never.bind({ x }, { y });
  for (let i = 0; i < 3; i++) t.equal((await b.run()).inline, false);
  t.equal(y[0], 2);
  // warmupRuns 0: a binding's first run has no expected time and goes to the session thread.
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 1 }, warmupRuns: 0, inlineRunMaxMs: 1000 });
  t.teardown(() => engine.close());
  const xa = new Float32Array(192).fill(10), ya = new Float32Array(192);
  const xb = new Float32Array(192).fill(20), yb = new Float32Array(192);
  const a = engine.bind({ x: xa }, { y: ya });
  t.equal((await a.run()).inline, false, 'first run: no expected time yet');
  t.equal((await a.run()).inline, true, 'then short: inline');
  const bBound = engine.bind({ x: xb }, { y: yb });
  const first = bBound.run();  // queued on the session thread
  const second = a.run();      // short, but the session thread is busy: queued behind, in call order
  t.equal(ya[0], 11);
  const [tb, ta] = await Promise.all([first, second]);
  t.same([tb.inline, ta.inline], [false, false]);
  t.same([ya[0], yb[0]], [11, 21]);
  t.equal((await a.run()).inline, true, 'idle again: inline');
});

t.test('the event loop stays free while a long run is in flight', async (t) => {
  const engine = await Engine.load(model('slow'), { ...quiet, warmupRuns: 0 });
  t.teardown(() => engine.close());
  const x = new Float32Array(1024 * 256).fill(0.01), y = new Float32Array(1024 * 256);
  let ticks = 0;
  let settled = false;
  const run = engine.bind({ x }, { y }).run().then((r) => {
    settled = true;
    return r;
  });
  // Each tick yields to the event loop; they run while the model runs.
  while (!settled) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!settled) ticks++;
  }
  const timings = await run;
  t.ok(ticks > 0, `${ticks} setImmediate callbacks ran during a ${timings.runMs.toFixed(0)} ms run`);
  t.ok(y.some((v) => v !== 0));
});

t.test('close lets queued runs finish, then runs and binds are refused', async (t) => {
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 1 } });
  const x = new Float32Array(192).fill(3), y = new Float32Array(192);
  const bound = engine.bind({ x }, { y });
  const pending = [bound.run(), bound.run()];
  await engine.close();
  await Promise.all(pending);
  t.equal(y[0], 4, 'queued runs completed');
  await t.rejects(bound.run(), { name: 'Error', code: 'ERR_SONOEDGE_ENGINE_CLOSED', message: 'The engine is closed' });
  t.throws(() => engine.bind({ x }, { y }), { code: 'ERR_SONOEDGE_ENGINE_CLOSED' });
  await engine.close();  // idempotent
  t.ok(engine.closed);
});

// Arrays handed to allocate() are usable as they are.
t.test('allocate gives arrays of the right type and size', async (t) => {
  const engine = await Engine.load(model('types'), quiet);
  t.teardown(() => engine.close());
  const { inputs, outputs } = engine.allocate();
  t.ok(inputs.a instanceof Uint8Array && inputs.a.length === 6);
  t.ok(outputs.f instanceof Float32Array && (outputs.i as TypedArray) instanceof Int32Array);
});
