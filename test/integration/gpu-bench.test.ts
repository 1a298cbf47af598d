// scripts/gpu-bench.mjs (`npm run bench:gpu`), run as a real process in its
// CPU-only mode: nvidia-smi pointed at a path that does not exist, so the run
// is the same on a machine with a GPU. It must say there is no GPU, still run
// doctor and the CPU rows (a few iterations: --quick), mark every GPU row
// "not run: no GPU", say which variants a package lacks instead of failing,
// write the tables and exit 0. Then the GPU branch with a stand-in nvidia-smi
// (a GPU is the one thing that cannot run here) and ONNX Runtime without its
// GPU providers: every GPU row names the provider that ran and why, and the
// engine cache is reported unchecked, not reused. The GPU path itself needs a
// GPU (see docs/BENCHMARKS.md, "GPU").
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = path.join(root, 'scripts', 'gpu-bench.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-gpu-bench-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const env = { ...process.env };
for (const k of ['ORT_ROOT', 'SONOEDGE_GPU_ORT', 'SONOEDGE_ADDON', 'OUT']) delete env[k];
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', cwd: root, env });

const VARIANTS = ['fp32', 'fp16', 'int8'];
const PROVIDERS = ['tensorrt', 'cuda', 'cpu'];
const NO_GPU = 'not run: no GPU';
const packages = readdirSync(path.join(root, 'models'), { withFileTypes: true })
  .filter((d) => d.isDirectory() && readdirSync(path.join(root, 'models', d.name)).includes('manifest.json'))
  .map((d) => ({ name: d.name, variants: Object.keys(JSON.parse(readFileSync(path.join(root, 'models', d.name, 'manifest.json'), 'utf8')).variants) }))
  .sort((a, b) => a.name.localeCompare(b.name));
const cells = (line: string) => line.slice(2, -2).split(' | ');

t.test('no GPU: says so, runs doctor and the CPU rows, marks the GPU rows, exit 0', async (t) => {
  const out = path.join(tmp, 'out');
  const smi = path.join(tmp, 'absent', 'nvidia-smi');
  const py = path.join(tmp, 'absent', 'python3');
  const r = run('--quick', '--nvidia-smi', smi, '--python', py, '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  const steps = lines.filter((l) => l.startsWith('gpu-bench: ') && !l.startsWith('gpu-bench:   '));
  const done = steps.pop();
  t.same(steps, [
    `gpu-bench: out: ${out}`,
    `gpu-bench: no GPU: ${smi} not found; the GPU rows are marked "not run: no GPU"`,
    'gpu-bench: onnxruntime: onnxruntime-node\'s library (no --ort given; nothing to install without a GPU)',
    `gpu-bench: python: not available (${py} does not import onnxruntime)`,
    steps[4],
    ...packages.map((p) => {
      const missing = VARIANTS.filter((v) => !p.variants.includes(v));
      return `gpu-bench: variants: ${p.name} has ${VARIANTS.filter((v) => p.variants.includes(v)).join(', ')}${missing.length ? ` (no ${missing.join(', ')})` : ''}`;
    }),
  ]);
  t.match(steps[4], /^gpu-bench: doctor: exit 0 \(\d+ ok, \d+ warn, 0 fail\); doctor\.txt$/);
  t.match(done, /^gpu-bench: done in \d+ s without a GPU: doctor and the CPU rows ran; the GPU rows are marked "not run: no GPU"$/);
  // doctor's provider lines are passed on: tensorrt and cuda are warnings here, cpu runs.
  t.match(r.stdout, /\ngpu-bench: {3}warn +provider tensorrt +not available/);
  t.match(r.stdout, /\ngpu-bench: {3}warn +provider cuda +not available/);
  t.match(r.stdout, /\ngpu-bench: {3}ok +provider cpu +available \(runs the models\)\n/);

  t.same(readdirSync(out).sort(), ['doctor.txt', 'gpu-bench.json', 'gpu-bench.log', 'gpu-bench.md']);
  const md = readFileSync(path.join(out, 'gpu-bench.md'), 'utf8');
  t.ok(r.stdout.includes(`\n${md}\n`), 'the tables printed are the file written');
  t.match(md, /^<!-- bench:gpu:begin -->\nMachine: .+\. GPU: none, .+ not found\. ONNX Runtime \d+\.\d+\.\d+ \(onnxruntime-node's library\)\. Date: \d{4}-/);
  t.match(md, /Command: `npm run bench:gpu -- --quick --nvidia-smi \S+ --python \S+ --out \S+`\. Input 1024x768 GRAY8 \(synthetic frame\), warm-up 1, 5 iterations per configuration/);
  t.match(md, /\n<!-- bench:gpu:end -->\n$/);
  t.match(md, /Spinning: sonoedge's default \(pool threads sleep between runs, `spinning: false`\); python with ONNX Runtime's default, pool threads spin \(`allow_spinning` 1, set explicitly\)\.\n/);
  t.match(readFileSync(path.join(out, 'doctor.txt'), 'utf8'), /^ok {4}platform /);

  // The latency table: per package, per variant, tensorrt, cuda, cpu (fp32 also with TensorRT's fp16 kernels).
  const rows = md.split('\n').filter((l) => l.startsWith('| '));
  const latencyHeader = '| package | variant | requested | ran on | start ms | end-to-end median ms | end-to-end p99 ms | ORT run median ms | inferences/s | python onnxruntime run median ms | ORT run / python |';
  const cacheHeader = '| package | variant | first start ms | second start ms | engine files (first / second start) | cache |';
  const li = rows.indexOf(latencyHeader);
  const ci = rows.indexOf(cacheHeader);
  t.ok(li === 0 && ci > li, 'both tables, latency first');
  const latency = rows.slice(li + 2, ci).map(cells);
  const expected: string[][] = [];
  for (const p of packages) {
    for (const v of VARIANTS) {
      for (const label of v === 'fp32' ? ['fp32', 'fp32 + TensorRT fp16'] : [v]) {
        for (const prov of label === v ? PROVIDERS : ['tensorrt']) {
          const ran = !p.variants.includes(v) ? `not run: no ${v} variant in the package (it has ${p.variants.join(', ')})`
            : prov === 'cpu' ? 'cpu' : NO_GPU;
          expected.push([p.name, label, prov, ran]);
        }
      }
    }
  }
  t.same(latency.map((c) => c.slice(0, 4)), expected, 'rows: package, variant, requested, ran on');
  for (const c of latency) {
    t.equal(c.length, 11, c.join(' | '));
    // The python column: that python is not there; tensorrt, TensorRT fp16 and absent variants have none.
    const pyCell = c[2] === 'tensorrt' || c[3].startsWith('not run: no ') && !c[3].endsWith('GPU') ? '-' : 'python onnxruntime not available';
    t.same(c.slice(9), [pyCell, '-'], `${c.slice(0, 4).join(' ')}: python column`);
    if (c[3] === 'cpu') {
      t.match(c[4], /^\d+\.\d$/, 'start ms');
      for (const x of c.slice(5, 8)) t.match(x, /^\d+\.\d{3}$/);
      t.match(c[8], /^\d+\.\d$/, 'inferences/s');
      t.ok(Number(c[5]) <= Number(c[6]), 'median <= p99');
    } else {
      t.same(c.slice(4, 9), ['-', '-', '-', '-', '-'], `${c.slice(0, 4).join(' ')}: no numbers`);
    }
  }
  // The cache table: every TensorRT configuration, none run.
  const cacheRows = rows.slice(ci + 2).map(cells);
  t.same(cacheRows, packages.flatMap((p) => [
    ...(p.variants.includes('fp32') ? [[p.name, 'fp32'], [p.name, 'fp32 + TensorRT fp16']] : []),
    ...['fp16', 'int8'].filter((v) => p.variants.includes(v)).map((v) => [p.name, v]),
  ].map((k) => [...k, NO_GPU, '-', '-', '-'])));

  const json = JSON.parse(readFileSync(path.join(out, 'gpu-bench.json'), 'utf8'));
  t.equal(json.tool, 'scripts/gpu-bench.mjs');
  t.same(json.runs.map((x: { label: string }) => x.label), packages.map((p) => `${p.name} cpu`));
  for (const x of json.runs) {
    for (const c of x.report.configurations) {
      t.equal(c.provider, 'cpu');
      t.equal(c.iterations, 5);
    }
  }
});

t.test('a GPU that ONNX Runtime cannot use: fallback rows with the reason, the cache not checked, exit 0', async (t) => {
  const bin = path.join(tmp, 'bin');
  mkdirSync(bin);
  const smi = path.join(bin, 'nvidia-smi');
  writeFileSync(smi, '#!/bin/sh\necho "NVIDIA Stand-in, 1.0, 1024 MiB, 9.0"\n');
  chmodSync(smi, 0o755);
  const out = path.join(tmp, 'out-gpu');
  // The comparison column with a real python onnxruntime where the training venv has one (CPU build only).
  const venvPython = path.join(root, 'training', '.venv', 'bin', 'python');
  const py = existsSync(venvPython) && spawnSync(venvPython, ['-c', 'import onnxruntime'], { env }).status === 0 ? venvPython : path.join(tmp, 'absent', 'python3');
  const r = run('--quick', '--nvidia-smi', smi, '--python', py, '--packages', 'view_quality', '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /^gpu-bench: out: .+\ngpu-bench: gpu: NVIDIA Stand-in, 1\.0, 1024 MiB, 9\.0\ngpu-bench: onnxruntime: no GPU build given \(--ort or SONOEDGE_GPU_ORT\)/);
  const pkg = packages.find((p) => p.name === 'view_quality')!;
  const modes = [...(pkg.variants.includes('fp32') ? ['fp32', 'fp32 + TensorRT fp16'] : []), ...['fp16', 'int8'].filter((v) => pkg.variants.includes(v))];
  for (const m of modes) {
    t.match(r.stdout, new RegExp(`\\ngpu-bench: tensorrt view_quality ${m.replace(/\+/g, '\\+')}: first start \\d+\\.\\d ms, second \\d+\\.\\d ms; cache not checked: tensorrt did not run \\(ran on cpu; see the fallbacks\\)\\n`));
  }
  t.match(r.stdout, /\ngpu-bench: done in \d+ s, but tensorrt did not run \(see the fallbacks\): the engine cache was not checked; tables in /);
  const md = readFileSync(path.join(out, 'gpu-bench.md'), 'utf8');
  const rows = md.split('\n').filter((l) => l.startsWith('| view_quality ')).map(cells);
  const ran = rows.filter((c) => c.length === 11 && !c[3].startsWith('not run'));
  t.ok(ran.length > 0);
  for (const c of ran) t.equal(c[3], c[2] === 'cpu' ? 'cpu' : 'cpu (fallback)', `${c[1]} ${c[2]}`);
  for (const c of ran.filter((x) => x[1] === x[1].split(' ')[0])) {
    if (py !== venvPython) t.same(c.slice(9), [c[2] === 'tensorrt' ? '-' : 'python onnxruntime not available', '-'], `${c[1]} ${c[2]}: no python`);
    else if (c[2] === 'cpu') {
      t.match(c[9], /^\d+\.\d{3} \(cpu\)$/, `${c[1]} cpu: python's run median and its provider`);
      // The ratio is of the unrounded medians: from the printed (3-decimal) cells it agrees within 0.02.
      t.ok(Math.abs(Number(c[10]) - Number(c[7]) / Number(c[9].split(' ')[0])) <= 0.02, `the ratio is sonoedge's ORT run over python's: ${c.slice(7, 11).join(' | ')}`);
    } else t.same(c.slice(9), [c[2] === 'cuda' ? 'no cuda provider in python\'s onnxruntime' : '-', '-'], `${c[1]} ${c[2]}: python has no GPU provider`);
  }
  t.match(r.stdout, py === venvPython ? /\ngpu-bench: python: python onnxruntime \d+\.\d+\.\d+ \(providers cpu\)\n/ : /\ngpu-bench: python: not available \(/);
  t.same(rows.filter((c) => c.length === 6).map((c) => [c[1], c[4], c[5]]),
    modes.map((m) => [m, '0 / 0', 'not checked: tensorrt did not run (ran on cpu; see the fallbacks)']));
  const json = JSON.parse(readFileSync(path.join(out, 'gpu-bench.json'), 'utf8'));
  t.same(json.cacheChecks.map((c: { variant: string; afterFirst: object; afterSecond: object }) => [c.variant, c.afterFirst, c.afterSecond]),
    modes.map((m) => [m, {}, {}]), 'no engine file written where tensorrt did not run');
  t.notOk(readdirSync(path.join(root, 'build', 'gpu-bench')).some((f) => f.startsWith('trt-cache-') && f.endsWith(`-${r.pid}`)), 'the run\'s cache folder is removed');
  t.match(md, /\nFallbacks \(a row that ran on another provider than the one requested\):\n\n- cuda requested, ran on cpu: .+ \(view_quality fp32/);
  t.match(md, /\n- tensorrt requested, ran on cpu: .+ \(view_quality fp32, view_quality fp32 \+ TensorRT fp16/);
});

t.test('usage mistakes: a line, the usage, exit 2', async (t) => {
  const cases: [string[], string][] = [
    [['--ort', path.join(tmp, 'no-such.whl')], `gpu-bench: option --ort expects a wheel, a release archive or a folder with libonnxruntime.so* but ${JSON.stringify(path.join(tmp, 'no-such.whl'))} does not exist\n`],
    [['--iterations', '0'], 'gpu-bench: option --iterations expects an integer >= 1 but received "0"\n'],
    [['--quick', '--warmup', '3'], 'gpu-bench: option --quick cannot be used with --iterations or --warmup\n'],
    [['--provider', 'cuda'], 'gpu-bench: unknown option --provider\n'],
    [['--out'], 'gpu-bench: option --out needs a value\n'],
    [['--packages', 'view_qualty'], 'gpu-bench: option --packages: no bundled package "view_qualty" (bundled: lv_segmentation, view_quality)\n'],
  ];
  for (const [args, line] of cases) {
    const r = run(...args);
    t.equal(r.status, 2, args.join(' '));
    t.equal(r.stderr.split('\n')[0] + '\n', line);
    t.match(r.stderr, /\nusage: node scripts\/gpu-bench\.mjs \[options\]/);
    t.equal(r.stdout, '');
  }
});
