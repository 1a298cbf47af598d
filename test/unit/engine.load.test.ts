// Engine.load: metadata, provider fallback and its report, session options
// (free dimensions, optimised-model file, deterministic mode, TensorRT cache
// key, the spinning policy as ONNX Runtime holds it, inlineRunMaxMs), model
// packages, and every bad load with its exact error.
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine, resolveEngineOptions, tensorrtCachePath, type EngineOptions } from '../../src/engine/index.js';
import { loadTrustStore, verifyModelPackage } from '../../src/model/package.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const conv = path.join(fixtures, 'model-packages', 'valid-signed', 'model.fp32.onnx');
const model = (name: string) => path.join(fixtures, 'engine', `${name}.onnx`);
const quiet: EngineOptions = { log: false, intraOpThreads: 1 };

t.test('reads the model inputs and outputs and runs on the CPU by default', async (t) => {
  const engine = await Engine.load(conv, quiet);
  t.teardown(() => engine.close());
  t.same(engine.inputs, [{ name: 'image', type: 'float32', shape: [1, 1, 112, 112] }]);
  t.same(engine.outputs, [{ name: 'logits', type: 'float32', shape: [1, 4, 112, 112] }]);
  t.equal(engine.provider, 'cpu');
  t.same(engine.providerReport, [{ provider: 'cpu', used: true, reason: '' }]);
  t.equal(engine.onnxruntimeVersion, '1.30.0');
  t.ok(engine.warmupMs >= 0);
  const types = await Engine.load(model('types'), quiet);
  t.teardown(() => types.close());
  t.same(types.inputs, [{ name: 'a', type: 'uint8', shape: [2, 3] }]);
  t.same(types.outputs.map((o) => o.type), ['float32', 'int32']);
  const dyn = await Engine.load(model('dynamic'), quiet);
  t.teardown(() => dyn.close());
  t.same(dyn.inputs[0].shape, ['N', 3, 8, 8]);
});

t.test('asked for tensorrt, cuda, cpu on a machine without them: runs on the CPU and says why', async (t) => {
  const lines: string[] = [];
  const engine = await Engine.load(conv, {
    ...quiet, log: (l) => lines.push(l), providers: ['tensorrt', 'cuda', 'cpu'],
    tensorrt: { fp16: true, workspaceSize: 1 << 30, builderOptimizationLevel: 3 },
    cuda: { deviceId: 0, arenaExtendStrategy: 'sameAsRequested', cudnnConvAlgoSearch: 'heuristic' },
    cpu: { arena: false },
  });
  t.teardown(() => engine.close());
  t.equal(engine.provider, 'cpu');
  t.same(engine.providerReport.map((r) => [r.provider, r.used]), [['tensorrt', false], ['cuda', false], ['cpu', true]]);
  for (const r of engine.providerReport.slice(0, 2)) {
    t.match(r.reason, /Failed to load library .*libonnxruntime_providers_shared\.so/, `${r.provider}: ONNX Runtime's reason`);
  }
  t.equal(lines.length, 3, 'one log line per provider');
  t.match(lines[0], /^sonoedge engine: model\.fp32\.onnx: tensorrt not used: .*Failed to load library/);
  t.equal(lines[2], 'sonoedge engine: model.fp32.onnx: cpu runs');
  const out = new Float32Array(4 * 112 * 112);
  await engine.bind({ image: new Float32Array(112 * 112).fill(1) }, { logits: out }).run();
  t.ok(out.some((v) => v !== 0), 'and it runs');
});

t.test('only GPU providers, none available: a load error naming each reason', async (t) => {
  await t.rejects(Engine.load(conv, { ...quiet, providers: ['cuda'] }), {
    name: 'Error', code: 'ERR_SONOEDGE_ENGINE_PROVIDER',
    message: /^None of the requested execution providers can run here \(cuda: .*Failed to load library/,
  });
});

t.test('a variant of a verified model package', async (t) => {
  const trustStore = await loadTrustStore(path.join(fixtures, 'model-packages', 'trust'));
  const pkg = await verifyModelPackage(path.join(fixtures, 'model-packages', 'valid-signed'), { trustStore });
  const engine = await Engine.load({ package: pkg, variant: 'int8' }, quiet);
  t.teardown(() => engine.close());
  t.equal(path.basename(engine.modelPath), 'model.int8.onnx');
  await t.rejects(Engine.load({ package: pkg, variant: 'fp16' }, quiet), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION',
    message: 'Expected one of fp32, int8 for variant but received "fp16" of type string',
  });
});

t.test('free dimension overrides fix a symbolic dimension', async (t) => {
  const engine = await Engine.load(model('dynamic'), { ...quiet, freeDimensions: { N: 2 } });
  t.teardown(() => engine.close());
  t.same(engine.inputs[0].shape, [2, 3, 8, 8]);
  const x = new Float32Array(2 * 3 * 64).map((_, i) => i - 100);
  const y = new Float32Array(2 * 3 * 64);
  await engine.bind({ x }, { y }).run();
  t.same(Array.from(y.subarray(98, 103)), [1, 1, 1, 2, 3]);
});

t.test('the optimised model is written where asked; deterministic mode gives identical runs', async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-engine-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'convnet.opt.onnx');
  const engine = await Engine.load(model('convnet'), { ...quiet, optimizedModelPath: file, deterministic: true, graphOptimization: 'extended' });
  t.teardown(() => engine.close());
  t.ok(existsSync(file), 'optimised model written');
  const reload = await Engine.load(file, { ...quiet, graphOptimization: 'disabled' });
  t.teardown(() => reload.close());
  const image = new Float32Array(112 * 112).map((_, i) => Math.sin(i));
  const a = new Float32Array(5), b = new Float32Array(5), c = new Float32Array(5);
  const bound = engine.bind({ image }, { logits: a });
  await bound.run();
  b.set(a);
  await bound.run();
  t.same(a, b, 'bit-identical run to run');
  await reload.bind({ image }, { logits: c }).run();
  for (let i = 0; i < 5; i++) t.ok(Math.abs(c[i] - a[i]) < 1e-5, 'the optimised file computes the same');
});

t.test('the TensorRT cache folder is keyed by model sha256, GPU and TensorRT version', async (t) => {
  t.equal(tensorrtCachePath('/var/cache/sonoedge', 'ab'.repeat(32), 'NVIDIA Jetson AGX Orin', '10.3.0'),
    `/var/cache/sonoedge/${'ab'.repeat(32)}/NVIDIA-Jetson-AGX-Orin/trt-10.3.0`);
  const r = resolveEngineOptions(conv, {
    providers: ['tensorrt', 'cpu'],
    tensorrt: { cacheDir: '/tmp/trt', gpu: 'NVIDIA H100 80GB HBM3', tensorrtVersion: '10.9.0', fp16: true, int8: true, int8CalibrationTable: 'calib.flatbuffers' },
  }, () => 'e89060c8a5ac6ae10d92dfe9449f495b84f24c79babb4cfe871da201be52ce10');
  const dir = '/tmp/trt/e89060c8a5ac6ae10d92dfe9449f495b84f24c79babb4cfe871da201be52ce10/NVIDIA-H100-80GB-HBM3/trt-10.9.0';
  t.equal(r.tensorrtCachePath, dir);
  t.same(r.providers[0].options, [
    ['device_id', '0'], ['trt_fp16_enable', '1'], ['trt_int8_enable', '1'], ['trt_int8_calibration_table_name', 'calib.flatbuffers'],
    ['trt_engine_cache_enable', '1'], ['trt_engine_cache_path', dir], ['trt_timing_cache_enable', '1'], ['trt_timing_cache_path', dir],
  ]);
  t.same(r.providers[1], { kind: 2, options: [], cpuArena: true });
});

t.test('pool threads sleep between runs by default (no spinning); the caller can turn spinning back on', async (t) => {
  const sha = () => '00'.repeat(32);
  t.same(resolveEngineOptions(conv, {}, sha).configEntries, [['session.intra_op.allow_spinning', '0'], ['session.inter_op.allow_spinning', '0']]);
  t.same(resolveEngineOptions(conv, { sessionConfig: { 'session.intra_op.allow_spinning': '1', 'session.use_env_allocators': '1' } }, sha).configEntries,
    [['session.inter_op.allow_spinning', '0'], ['session.intra_op.allow_spinning', '1'], ['session.use_env_allocators', '1']]);
  t.same(resolveEngineOptions(conv, { spinning: true }, sha).configEntries, [['session.intra_op.allow_spinning', '1'], ['session.inter_op.allow_spinning', '1']]);
  t.same(resolveEngineOptions(conv, { spinning: false }, sha).configEntries, [['session.intra_op.allow_spinning', '0'], ['session.inter_op.allow_spinning', '0']]);
  t.equal(resolveEngineOptions(conv, {}, sha).inlineRunMaxMs, 0.5, 'inline runs up to 0.5 ms by default');
  t.equal(resolveEngineOptions(conv, { inlineRunMaxMs: 0 }, sha).inlineRunMaxMs, 0);
  t.equal(resolveEngineOptions(conv, { inlineRunMaxMs: 2.5 }, sha).inlineRunMaxMs, 2.5);
});

t.test('the spinning policy reaches ONNX Runtime: the session config read back from the options the session was created from', async (t) => {
  const byDefault = await Engine.load(conv, quiet);
  t.teardown(() => byDefault.close());
  t.same(byDefault.sessionConfig, { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '0' });
  const spinning = await Engine.load(conv, { ...quiet, intraOpThreads: 2, spinning: true, sessionConfig: { 'session.intra_op.spin_duration_us': '200' } });
  t.teardown(() => spinning.close());
  t.same(spinning.sessionConfig, {
    'session.intra_op.allow_spinning': '1', 'session.inter_op.allow_spinning': '1', 'session.intra_op.spin_duration_us': '200',
  });
  const raw = await Engine.load(conv, { ...quiet, sessionConfig: { 'session.inter_op.allow_spinning': '1' } });
  t.teardown(() => raw.close());
  t.same(raw.sessionConfig, { 'session.intra_op.allow_spinning': '0', 'session.inter_op.allow_spinning': '1' });
});

t.test('spinning and inlineRunMaxMs: exact errors', async (t) => {
  await t.rejects(Engine.load(conv, { ...quiet, spinning: 'yes' as any }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Expected boolean for spinning but received "yes" of type string',
  });
  await t.rejects(Engine.load(conv, { ...quiet, spinning: true, sessionConfig: { 'session.inter_op.allow_spinning': '0' } }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_OPTION',
    message: 'Expected spinning or sessionConfig["session.inter_op.allow_spinning"] but received both',
  });
  await t.rejects(Engine.load(conv, { ...quiet, inlineRunMaxMs: -1 }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Expected number between 0 and 1000 for inlineRunMaxMs but received -1 of type number',
  });
  await t.rejects(Engine.load(conv, { ...quiet, inlineRunMaxMs: Infinity }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: /^Expected number between 0 and 1000 for inlineRunMaxMs but received Infinity/,
  });
  await t.rejects(Engine.load(conv, { ...quiet, inlineRunMaxMs: '1' as any }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Expected number between 0 and 1000 for inlineRunMaxMs but received "1" of type string',
  });
  await t.rejects(Engine.load(conv, { ...quiet, inlineRunMaxMS: 1 } as any), {
    name: 'TypeError', code: 'ERR_SONOEDGE_UNKNOWN_OPTION', message: /^Unknown option options\.inlineRunMaxMS; did you mean options\.inlineRunMaxMs\?/,
  });
});

t.test('bad loads: exact errors', async (t) => {
  await t.rejects(Engine.load('/nonexistent/model.onnx', quiet), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND',
    message: 'Expected an ONNX model file for model but received "/nonexistent/model.onnx", which does not exist',
  });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-engine-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // A folder exists: it is not "missing", it is not a model file.
  await t.rejects(Engine.load(dir, quiet), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND',
    message: `Expected an ONNX model file for model but received ${JSON.stringify(dir)}, which is a folder`,
  });
  const pkgDir = path.dirname(conv);
  await t.rejects(Engine.load(pkgDir, quiet), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND',
    message: `Expected an ONNX model file for model but received ${JSON.stringify(pkgDir)}, which is a model package folder (load a package as { package: await verifyModelPackage(dir, ...), variant })`,
  });
  const junk = path.join(dir, 'junk.onnx');
  writeFileSync(junk, 'this is not an ONNX model\n');
  await t.rejects(Engine.load(junk, quiet), {
    name: 'Error', code: 'ERR_SONOEDGE_ENGINE_MODEL',
    message: `ONNX Runtime could not load the model ${junk}: Load model from ${junk} failed:Protobuf parsing failed.`,
  });
  await t.rejects(Engine.load(42 as any, quiet), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ARG_TYPE', message: 'Expected model path or { package, variant } for model but received 42 of type number',
  });
  await t.rejects(Engine.load(conv, { ...quiet, providers: ['tensorrt', 'cuda', 'cpus' as any] }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION',
    message: 'Expected one of tensorrt, cuda, cpu for providers[2] but received "cpus" of type string; did you mean "cpu"?',
  });
  await t.rejects(Engine.load(conv, { ...quiet, intraOpThread: 2 } as any), {
    name: 'TypeError', code: 'ERR_SONOEDGE_UNKNOWN_OPTION', message: /^Unknown option options\.intraOpThread; did you mean options\.intraOpThreads\?/,
  });
  await t.rejects(Engine.load(conv, { ...quiet, providers: ['tensorrt', 'cpu'], tensorrt: { fp61: true } } as any), {
    name: 'TypeError', code: 'ERR_SONOEDGE_UNKNOWN_OPTION', message: /^Unknown option tensorrt\.fp61; did you mean tensorrt\.fp16\?/,
  });
  await t.rejects(Engine.load(conv, { ...quiet, cuda: { deviceId: 0 } }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Options for cuda given but cuda is not in providers (cpu)',
  });
  await t.rejects(Engine.load(conv, { ...quiet, providers: ['tensorrt', 'cpu'], tensorrt: { builderOptimizationLevel: 7 } }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Expected integer between 0 and 5 for tensorrt.builderOptimizationLevel but received 7 of type number',
  });
  await t.rejects(Engine.load(conv, { ...quiet, intraOpThreads: -1 }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Expected integer between 0 and 1024 for intraOpThreads but received -1 of type number',
  });
  await t.rejects(Engine.load(conv, { ...quiet, graphOptimization: 'full' as any }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: /^Expected one of disabled, basic, extended, layout, all for graphOptimization but received "full"/,
  });
  await t.rejects(Engine.load(conv, { ...quiet, libraryPath: path.join(dir, 'libonnxruntime.so.1') }), {
    name: 'Error', code: 'ERR_SONOEDGE_ENGINE_LIBRARY', message: /^libonnxruntime not found at /,
  });
  await t.rejects(Engine.load(conv, { ...quiet, libraryPath: junk }), {
    name: 'Error', code: 'ERR_SONOEDGE_ENGINE_LIBRARY', message: new RegExp(`^Could not load libonnxruntime from ${junk}: `),
  });
  await t.rejects(Engine.load(conv, { ...quiet, optimizedModelPath: '/nonexistent/dir/x.onnx' }), {
    name: 'RangeError', code: 'ERR_SONOEDGE_ENGINE_OPTION',
    message: 'Expected a path in an existing folder for optimizedModelPath but received "/nonexistent/dir/x.onnx"',
  });
  await t.rejects(Engine.load(conv, { ...quiet, sessionConfig: { 'session.x': 1 as any } }), {
    name: 'TypeError', code: 'ERR_SONOEDGE_ENGINE_OPTION', message: 'Expected string for sessionConfig.session.x but received 1 of type number',
  });
  // After all of that, a good load still works.
  const engine = await Engine.load(conv, quiet);
  await engine.close();
});
