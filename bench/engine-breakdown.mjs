#!/usr/bin/env node
// Where one engine run's time goes (issue 16 part 3), from the engine's own
// monotonic timestamps and the caller's clock, per model and thread count:
//   total   run() called -> its promise's continuation runs (process.hrtime)
//   queue   run() -> the session thread starts the run (RunTimings.queueMs):
//           the hop there, including the session thread's wake-up; 0 inline
//   run     ONNX Runtime's Run (RunTimings.runMs), which includes waking the
//           sleeping intra-op pool threads when intraOpThreads > 1
//   rest    total - queue - run: the JS wrapper, the thread-safe function's
//           hop back (waking the event loop) and the promise's settlement
// and, per process, the share of runs that went inline, the process's CPU
// time over wall time (spinning pool threads show here) and the event-loop
// delay p99 over the timed loop (which awaits runs back to back).
// Each configuration runs in a fresh process, in turn, ROUNDS times.
//
// With --fps=N each run waits for a timer first (a frame every 1000/N ms, as a
// pipeline at that frame rate would), so that the loop delay is the one a
// paced caller sees rather than that of a loop awaiting runs back to back.
//
//   node bench/engine-breakdown.mjs [--iterations=N] [--fps=N] [--threads=1,2] [--models=SUBSTRING]
//        [--config='{"spinning":true}' ...]
//   (a child: node bench/engine-breakdown.mjs --case MODEL THREADS ITERATIONS CONFIG_JSON FPS)
import { spawnSync } from 'node:child_process';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundledModels, loadAverage, median } from './docs.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

if (args[0] === '--case') {
  const [, model, threadsArg, itersArg, configJson, fpsArg = '0'] = args;
  const frameMs = Number(fpsArg) > 0 ? 1000 / Number(fpsArg) : 0;
  const { Engine } = await import('../dist/engine/index.js');
  const { noise } = await import('../dist/frame/synthetic.js');
  const engine = await Engine.load(model, {
    intraOpThreads: Number(threadsArg), interOpThreads: 1, warmupRuns: 10, log: false, ...JSON.parse(configJson),
  });
  const input = engine.inputs[0];
  const dims = input.shape.map((d) => (typeof d === 'number' ? d : 1));
  const { outputs } = engine.allocate();
  const bound = engine.bind({ [input.name]: { data: noise(dims.reduce((a, d) => a * d, 1), 7), dims } }, outputs);
  for (let i = 0; i < 50; i++) await bound.run();
  const cols = { total: [], queue: [], run: [], rest: [] };
  let inline = 0;
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const cpu0 = process.cpuUsage();
  const t00 = process.hrtime.bigint();
  for (let i = 0; i < Number(itersArg); i++) {
    if (frameMs > 0) await new Promise((resolve) => setTimeout(resolve, frameMs));
    const t0 = process.hrtime.bigint();
    const t = await bound.run();
    const total = Number(process.hrtime.bigint() - t0) / 1e6;
    cols.total.push(total);
    cols.queue.push(t.queueMs);
    cols.run.push(t.runMs);
    cols.rest.push(total - t.queueMs - t.runMs);
    if (t.inline) inline++;
  }
  const wall = Number(process.hrtime.bigint() - t00) / 1e6;
  h.disable();
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`${JSON.stringify({
    ...Object.fromEntries(Object.entries(cols).map(([k, v]) => [k, median(v)])),
    inline: inline / cols.total.length,
    cpuPerWall: (cpu.user + cpu.system) / 1e3 / wall,
    loopP99: h.percentile(99) / 1e6,
  })}\n`);
  await engine.close();
  process.exit(0);
}

const iterations = Number((args.find((a) => a.startsWith('--iterations=')) ?? '--iterations=1000').split('=')[1]);
const configs = args.filter((a) => a.startsWith('--config=')).map((a) => a.slice('--config='.length));
if (configs.length === 0) configs.push('{}');
const fps = Number((args.find((a) => a.startsWith('--fps=')) ?? '--fps=0').split('=')[1]);
const threadList = (args.find((a) => a.startsWith('--threads=')) ?? '--threads=1,2').split('=')[1].split(',').map(Number);
const only = args.find((a) => a.startsWith('--models='))?.split('=')[1];
const ROUNDS = 3;
const models = [...bundledModels(), path.join(root, 'test', 'fixtures', 'engine', 'convnet.onnx'),
  path.join(root, 'test', 'fixtures', 'model-packages', 'valid-signed', 'model.fp32.onnx')];

process.stdout.write(`load average ${loadAverage()}; medians in ms over ${iterations} runs, the median of ${ROUNDS} processes per cell; ${
  fps > 0 ? `paced: a run every ${(1000 / fps).toFixed(1)} ms (${fps} fps)` : 'runs awaited back to back'}\n\n`);
process.stdout.write('| model | threads | config | total | queue (hop there) | run (ORT) | rest (hop back + promise) | inline share | process CPU / wall | loop delay p99 |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n');
for (const model of models.filter((m) => existsSync(m) && (!only || m.includes(only)))) {
  for (const threads of threadList) {
    const results = configs.map(() => []);
    for (let r = 0; r < ROUNDS; r++) {
      configs.forEach((config, c) => {
        const p = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--case', model, String(threads), String(iterations), config, String(fps)], { encoding: 'utf8' });
        if (p.status !== 0) throw new Error(p.stderr);
        results[c].push(JSON.parse(p.stdout.trim().split('\n').pop()));
      });
    }
    configs.forEach((config, c) => {
      const m = (k) => median(results[c].map((x) => x[k]));
      process.stdout.write(`| ${path.relative(root, model)} | ${threads} | \`${config}\` | ${m('total').toFixed(4)} | ${m('queue').toFixed(4)} | ${m('run').toFixed(4)} | ${m('rest').toFixed(4)} | ${m('inline').toFixed(2)} | ${m('cpuPerWall').toFixed(2)} | ${m('loopP99').toFixed(2)} |\n`);
    });
  }
}
