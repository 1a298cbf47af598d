#!/usr/bin/env node
// `npm run bench:engine`: the native engine against what a user would pick
// instead, measured in one run on this machine, same model, input and threads:
//   python     python onnxruntime (same version as the library the engine loads,
//              in build/bench-engine-venv, created on first run), IOBinding to a
//              preallocated output: its fastest path (bench/ort_python.py)
//   ort-node   onnxruntime-node's JS API, in the same process as the engine
//              (bench/engine-case.mjs), alternating rounds
// Event-loop delay p99 (perf_hooks.monitorEventLoopDelay) is sampled while each
// Node.js tool infers. Correctness is checked while measuring: the three
// outputs must agree within 1e-5. Each model runs in fresh processes. Every
// row states each tool's spinning policy: python and onnxruntime-node with
// ONNX Runtime's default for this build (pool threads spin), set explicitly;
// sonoedge with its defaults (pool threads sleep, short runs inline), or
// --engine-options. The load average is printed at the start and the end.
// Every tool runs with ONNX Runtime's telemetry off (ORT_DISABLE_TELEMETRY=1, as
// the engine sets it), unless the environment says otherwise.
//
//   npm run bench:engine                    table, writes build/bench/engine.json
//   npm run bench:engine -- --write-docs    also rewrites the table in docs/BENCHMARKS.md
//   npm run bench:engine -- --iterations=N  runs per round (5 rounds), default 200
//   npm run bench:engine -- --engine-options='{"spinning":true}'   sonoedge's options
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bundledModels, loadAverage, machineLine, writeDocsBlock } from './docs.mjs';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'build', 'bench');
const args = process.argv.slice(2);
const iterations = Number((args.find((a) => a.startsWith('--iterations=')) ?? '--iterations=200').split('=')[1]);
const engineOptions = (args.find((a) => a.startsWith('--engine-options=')) ?? '--engine-options={}').slice('--engine-options='.length);
const THREADS = [1, 2];
const loadAtStart = loadAverage();
const ortVersion = JSON.parse(readFileSync(path.join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;

// Bundled model packages when they exist, and the generated test models.
const MODELS = [
  ...bundledModels(),
  path.join(root, 'test', 'fixtures', 'engine', 'convnet.onnx'),
  path.join(root, 'test', 'fixtures', 'model-packages', 'valid-signed', 'model.fp32.onnx'),
];

let pythonNote = '';
function python() {
  const venv = path.join(root, 'build', 'bench-engine-venv');
  const py = path.join(venv, 'bin', 'python');
  const stamp = path.join(venv, '.sonoedge-ort');
  if (existsSync(py) && existsSync(stamp)) {
    pythonNote = readFileSync(stamp, 'utf8').trim();
    return py;
  }
  process.stderr.write(`creating build/bench-engine-venv (numpy, onnxruntime ${ortVersion})\n`);
  let r = spawnSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  if (r.status !== 0) return undefined;
  const pip = path.join(venv, 'bin', 'pip');
  r = spawnSync(pip, ['install', '-q', '--disable-pip-version-check', `onnxruntime==${ortVersion}`, 'numpy==2.2.6'], { stdio: 'inherit' });
  if (r.status !== 0) {
    // Not served: the nearest the registry has, said so in the table.
    r = spawnSync(pip, ['install', '-q', '--disable-pip-version-check', `onnxruntime~=${ortVersion.split('.').slice(0, 2).join('.')}.0`, 'numpy'], { stdio: 'inherit' });
    if (r.status !== 0) r = spawnSync(pip, ['install', '-q', '--disable-pip-version-check', 'onnxruntime', 'numpy'], { stdio: 'inherit' });
    if (r.status !== 0) return undefined;
  }
  const v = spawnSync(py, ['-c', 'import onnxruntime; print(onnxruntime.__version__)'], { encoding: 'utf8' }).stdout.trim();
  pythonNote = v === ortVersion ? `onnxruntime ${v}` : `onnxruntime ${v} (${ortVersion} not served)`;
  writeFileSync(stamp, pythonNote);
  return py;
}

function run(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 16 << 20, env: { ...process.env, OMP_NUM_THREADS: '1', ORT_DISABLE_TELEMETRY: process.env.ORT_DISABLE_TELEMETRY ?? '1' } });
  if (r.status !== 0) {
    process.stderr.write(`${cmd} ${argv.join(' ')} failed:\n${r.stderr}\n`);
    return undefined;
  }
  return JSON.parse(r.stdout.trim().split('\n').pop());
}

function maxDiff(a, b) {
  const f32 = (file) => {
    const buf = readFileSync(file);  // small files share a pooled ArrayBuffer: copy out the exact bytes
    return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  };
  const x = f32(a), y = f32(b);
  if (x.length !== y.length) return Infinity;
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

mkdirSync(outDir, { recursive: true });
const py = python();
const rows = [];
for (const model of MODELS.filter((m) => existsSync(m))) {
  for (const threads of THREADS) {
    process.stderr.write(`${path.basename(model)} threads=${threads}\n`);
    const node = run(process.execPath, [path.join(root, 'bench', 'engine-case.mjs'), model, String(threads), String(iterations), outDir, engineOptions]);
    const pyr = py ? run(py, [path.join(root, 'bench', 'ort_python.py'), model, String(threads), String(iterations), outDir]) : undefined;
    const name = path.basename(model, '.onnx');
    const bin = (tool) => path.join(outDir, `${tool}.${name}.bin`);
    rows.push({
      model: path.relative(root, model), threads, node, python: pyr,
      diffOrtNode: node ? maxDiff(bin('sonoedge'), bin('ort-node')) : undefined,
      diffPython: node && pyr ? maxDiff(bin('sonoedge'), bin('python')) : undefined,
    });
  }
}

const machine = machineLine();
const ms = (v) => (v === undefined ? 'n/a' : v.toFixed(3));
const verdict = (ok) => (ok ? 'met' : 'missed');
// Targets (issue 16): sonoedge/python <= 1.05, sonoedge/ort-node <= 1.0, and sonoedge's loop delay p99
// within 1 ms of the idle loop's in the same process.
const header = '| model | threads | spinning: sonoedge / python / ort-node | sonoedge median / p99 ms | python median / p99 ms | ort-node median / p99 ms | sonoedge / python | sonoedge / ort-node | loop delay p99 ms sonoedge / ort-node / idle loop | max abs diff vs python, ort-node |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
const policy = (s, threads) => {
  if (!s) return 'n/a';
  const pool = threads === 1 ? 'no pool threads' : s.spinning ? 'pool spins' : 'pool sleeps';
  return `${pool}, ${Math.round(s.inlineShare * 100)}% inline (<= ${s.inlineRunMaxMs} ms)`;
};
const lines = rows.map((r) => {
  const s = r.node?.sonoedge, o = r.node?.['ort-node'], p = r.python;
  const rp = s && p ? s.median / p.median : undefined;
  const ro = s && o ? s.median / o.median : undefined;
  const idle = r.node?.idle?.loopDelayP99;
  const others = r.threads === 1 ? 'no pool threads' : 'pool spins';
  return `| ${r.model} | ${r.threads} | ${policy(s, r.threads)} / ${p ? others : 'n/a'} / ${o ? others : 'n/a'} | ${ms(s?.median)} / ${ms(s?.p99)} | ${ms(p?.median)} / ${ms(p?.p99)} | ${ms(o?.median)} / ${ms(o?.p99)} | ${rp?.toFixed(3) ?? 'n/a'} (${rp === undefined ? 'n/a' : verdict(rp <= 1.05)}) | ${ro?.toFixed(3) ?? 'n/a'} (${ro === undefined ? 'n/a' : verdict(ro <= 1)}) | ${ms(s?.loopDelayP99)} (${s ? verdict(s.loopDelayP99 <= idle + 1) : 'n/a'}) / ${ms(o?.loopDelayP99)} / ${ms(idle)} | ${r.diffPython?.toExponential(1) ?? 'n/a'}, ${r.diffOrtNode?.toExponential(1) ?? 'n/a'} |`;
});
const table = `${header}\n${lines.join('\n')}`;
const loadAtEnd = loadAverage();
const json = { machine, python: pythonNote, date: new Date().toISOString(), command: `npm run bench:engine${args.length ? ` -- ${args.join(' ')}` : ''}`, loadAtStart, loadAtEnd, rows };
writeFileSync(path.join(outDir, 'engine.json'), `${JSON.stringify(json, null, 2)}\n`);
const intro = `Machine: ${machine}. Date: ${json.date.slice(0, 10)}. Command: \`${json.command}\`.\n` +
  `Load average (1, 5, 15 min): ${loadAtStart} at the start, ${loadAtEnd} at the end.\n` +
  `Library: libonnxruntime ${rows[0]?.node?.onnxruntime ?? '?'} (onnxruntime-node's), CPU provider. Python: ${pythonNote || 'not available'}.\n` +
  `Per run, ${5 * iterations} runs per tool in 5 alternating rounds; targets (issue 16): sonoedge/python <= 1.05, sonoedge/ort-node <= 1.0, ` +
  'sonoedge\'s loop delay p99 within 1 ms of the idle loop\'s. Spinning: python and onnxruntime-node with ONNX Runtime\'s default ' +
  'for this build (`allow_spinning` 1, set explicitly); at 1 thread there are no pool threads to spin. "inline": the share of ' +
  'sonoedge\'s runs that ran on the JavaScript thread (`inlineRunMaxMs`), the rest went through its session thread.';
process.stdout.write(`${intro}\n\n${table}\n`);

const bad = rows.filter((r) => !(r.diffOrtNode <= 1e-5) || (r.diffPython !== undefined && !(r.diffPython <= 1e-5)));
if (bad.length > 0) {
  process.stderr.write(`outputs disagree beyond 1e-5 in ${bad.length} cases\n`);
  process.exitCode = 1;
}

if (args.includes('--write-docs')) {
  writeDocsBlock('engine', `${intro}\n\n${table}`,
    "## Inference engine\n\nThe native engine (src/engine/) against python onnxruntime and onnxruntime-node's JS API; see bench/engine.mjs.");
}
