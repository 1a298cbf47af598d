#!/usr/bin/env node
// One process of `npm run bench:engine`: the sonoedge engine and
// onnxruntime-node's JS API on the same model, input and thread settings,
// alternating in rounds, with perf_hooks.monitorEventLoopDelay sampling the
// event loop while each infers. Prints one JSON line; writes each tool's
// first output to <outDir>/<tool>.<model>.bin for the correctness check.
// Spinning policy: sonoedge with its defaults (pool threads sleep; short runs
// inline) unless ENGINE_OPTIONS_JSON overrides them; onnxruntime-node with
// ONNX Runtime's default for this build, pool threads spinning, set explicitly.
//   node bench/engine-case.mjs MODEL THREADS ITERATIONS OUT_DIR [ENGINE_OPTIONS_JSON]
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import * as ort from 'onnxruntime-node';
import { Engine } from '../dist/engine/index.js';
import { noise } from '../dist/frame/synthetic.js';

const [modelPath, threadsArg, itersArg, outDir, engineOptions = '{}'] = process.argv.slice(2);
const threads = Number(threadsArg);
const iterations = Number(itersArg);
const ROUNDS = 5;

/** The same deterministic input as bench/ort_python.py. */
const engine = await Engine.load(modelPath, { intraOpThreads: threads, interOpThreads: 1, warmupRuns: 10, log: false, ...JSON.parse(engineOptions) });
const input = engine.inputs[0];
const dims = input.shape.map((d) => (typeof d === 'number' ? d : 1));
const x = noise(dims.reduce((a, d) => a * d, 1), 7);
const { outputs } = engine.allocate();
const bound = engine.bind({ [input.name]: { data: x, dims } }, outputs);
const outName = engine.outputs[0].name;

const session = await ort.InferenceSession.create(modelPath, {
  intraOpNumThreads: threads, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all',
  extra: { session: { intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '1' } } },
});
const feeds = { [input.name]: new ort.Tensor('float32', x, dims) };
for (let i = 0; i < 10; i++) await session.run(feeds);

const times = { sonoedge: [], 'ort-node': [] };
let inlineRuns = 0;
const delay = { sonoedge: [], 'ort-node': [] };
let ortOut;
async function block(tool) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  for (let i = 0; i < iterations; i++) {
    const t0 = performance.now();
    if (tool === 'sonoedge') {
      if ((await bound.run()).inline) inlineRuns++;
    } else {
      const r = await session.run(feeds);
      ortOut ??= r[outName].data;
    }
    times[tool].push(performance.now() - t0);
  }
  h.disable();
  delay[tool].push(h.percentile(99) / 1e6);
}
// The floor: the same histogram over an idle event loop (nothing running) for as long as a sonoedge block took.
async function idle(ms) {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  await new Promise((r) => setTimeout(r, ms));
  h.disable();
  delay.idle.push(h.percentile(99) / 1e6);
}
delay.idle = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now();
  await block('sonoedge');
  await idle(performance.now() - t0);
  await block('ort-node');
}
const name = path.basename(modelPath, '.onnx');
writeFileSync(path.join(outDir, `sonoedge.${name}.bin`), Buffer.from(outputs[outName].buffer));
writeFileSync(path.join(outDir, `ort-node.${name}.bin`), Buffer.from(ortOut.buffer, ortOut.byteOffset, ortOut.byteLength));
// Not src/util/stats.ts's nearest-rank: the sample at index floor(p*n) (the upper middle for the
// median). The tables in docs/BENCHMARKS.md were computed this way; switch only with a rerun.
const stats = (a) => {
  const s = [...a].sort((p, q) => p - q);
  return { median: s[Math.floor(s.length / 2)], p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))], n: s.length };
};
process.stdout.write(`${JSON.stringify({
  model: name, threads, provider: engine.provider, onnxruntime: engine.onnxruntimeVersion,
  sonoedge: {
    ...stats(times.sonoedge), loopDelayP99: Math.max(...delay.sonoedge), inlineShare: inlineRuns / times.sonoedge.length,
    spinning: engine.sessionConfig['session.intra_op.allow_spinning'] === '1', inlineRunMaxMs: engine.options.inlineRunMaxMs,
  },
  'ort-node': { ...stats(times['ort-node']), loopDelayP99: Math.max(...delay['ort-node']) },
  idle: { loopDelayP99: Math.max(...delay.idle) },
})}\n`);
await session.release();
await engine.close();
