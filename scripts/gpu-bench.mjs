#!/usr/bin/env node
// `npm run bench:gpu`: the GPU benchmark in one prepared run (issue 16 part 5).
//
//   1. checks the GPU (nvidia-smi);
//   2. installs the GPU build of ONNX Runtime for the runtime when one is given
//      (--ort or SONOEDGE_GPU_ORT: the onnxruntime-gpu Python wheel, an
//      official onnxruntime-linux-x64-gpu archive, or a folder holding
//      libonnxruntime.so*): lays it out as an ORT_ROOT under build/gpu-bench/
//      and rebuilds the addon against it in build/gpu-bench/addon/ (the
//      checkout's own build/Release is not touched; the runs load the new addon
//      through SONOEDGE_ADDON);
//   3. runs `sonoedge doctor`;
//   4. runs `sonoedge bench` for the providers tensorrt, cuda and cpu and the
//      variants fp32, fp16 and int8 of every bundled package (a variant a
//      package lacks is a row that says so), plus fp32 with TensorRT's fp16
//      kernels;
//   5. starts every TensorRT configuration twice in fresh processes: the first
//      start builds the engine cache, the second must load it (the engine files'
//      names, sizes and mtimes unchanged, and the start time is reported);
//   5b. runs python onnxruntime on the same model files and providers (cuda, cpu) where
//      python3 imports an onnxruntime that has the provider (bench/ort_python.py: the
//      same session settings, a preallocated output), for the column "what a user would
//      pick instead";
//   6. writes the tables (markdown, ready for docs/BENCHMARKS.md), the raw
//      results and the doctor output into the output folder.
//
// Without a GPU it says so, still runs doctor and the CPU rows, marks the GPU
// rows "not run: no GPU" and exits 0 when everything else worked. Exit 1: a
// step failed (doctor, a bench process, a rebuilt TensorRT engine on the second
// start); exit 2: a usage mistake. Needs `npm install && npm run build` first.
// Nothing is downloaded: the machine may have no network. See docs/BENCHMARKS.md
// ("GPU") for what to stage on a GPU machine.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const work = path.join(root, 'build', 'gpu-bench');
const PROVIDERS = ['tensorrt', 'cuda', 'cpu'];
const VARIANTS = ['fp32', 'fp16', 'int8'];
const NOT_RUN_NO_GPU = 'not run: no GPU';
const USAGE = `usage: node scripts/gpu-bench.mjs [options]   (npm run bench:gpu -- [options])
  --ort PATH          GPU build of ONNX Runtime to install: an onnxruntime-gpu wheel (.whl), a release
                      archive (.tgz) or a folder with libonnxruntime.so* (default: $SONOEDGE_GPU_ORT;
                      none: the library the runtime already loads)
  --lib-path DIRS     more folders (':'-separated) for the CUDA, cuDNN and TensorRT libraries
  --out DIR           where the tables go (default: $OUT, else build/gpu-bench/out)
  --iterations N      timed iterations per configuration (default 200)
  --warmup N          untimed iterations first (default 20)
  --quick             5 iterations, 1 warm-up: a check that everything runs, not a measurement
  --nvidia-smi PATH   the nvidia-smi to ask (default: PATH, then /usr/local/nvidia/bin, /usr/bin)
  --jobs N            compiler jobs for the addon rebuild (default: the number of cores)
  --packages LIST     bundled packages to run, e.g. view_quality (default: every folder of models/ with a manifest)
  --timeout S         seconds each doctor or bench process may take before it is killed (default 300)
  --python PATH       the python whose onnxruntime is the comparison column (default python3; PYTHONPATH as set)
`;

class UsageError extends Error {}
const say = (line) => process.stdout.write(`gpu-bench: ${line}\n`);
let logText = '';
const log = (text) => { logText += text.endsWith('\n') ? text : `${text}\n`; };

function options() {
  let a;
  try {
    a = parseArgs({
      args: process.argv.slice(2), strict: true, allowPositionals: false, options: {
        ort: { type: 'string' }, 'lib-path': { type: 'string' }, out: { type: 'string' }, iterations: { type: 'string' },
        warmup: { type: 'string' }, quick: { type: 'boolean' }, 'nvidia-smi': { type: 'string' }, jobs: { type: 'string' }, timeout: { type: 'string' },
        packages: { type: 'string' }, python: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (err) {
    const flag = /'(-[^']*)'/.exec(err.message)?.[1];
    if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && flag) throw new UsageError(`unknown option ${flag}`);
    if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && flag) throw new UsageError(`option ${flag.split(' ')[0]} needs a value`);
    throw new UsageError(err.message.split('\n')[0]);
  }
  const int = (name, dflt, min) => {
    if (a[name] === undefined) return dflt;
    const v = Number(a[name]);
    if (!Number.isInteger(v) || v < min) throw new UsageError(`option --${name} expects an integer >= ${min} but received ${JSON.stringify(a[name])}`);
    return v;
  };
  if (a.quick && (a.iterations !== undefined || a.warmup !== undefined)) throw new UsageError('option --quick cannot be used with --iterations or --warmup');
  const ort = a.ort ?? (process.env.SONOEDGE_GPU_ORT || undefined);
  if (ort !== undefined && !existsSync(ort)) {
    throw new UsageError(`option --ort expects a wheel, a release archive or a folder with libonnxruntime.so* but ${JSON.stringify(ort)} does not exist`);
  }
  return {
    help: a.help === true,
    ort: ort === undefined ? undefined : path.resolve(ort),
    libPath: (a['lib-path'] ?? '').split(':').filter(Boolean).map((d) => path.resolve(d)),
    out: path.resolve(a.out ?? (process.env.OUT || path.join(work, 'out'))),
    iterations: a.quick ? 5 : int('iterations', 200, 1),
    warmup: a.quick ? 1 : int('warmup', 20, 0),
    nvidiaSmi: a['nvidia-smi'],
    jobs: int('jobs', os.cpus().length, 1),
    timeout: int('timeout', 300, 1),
    packages: a.packages === undefined ? undefined : a.packages.split(',').map((x) => x.trim()).filter(Boolean),
    python: a.python ?? 'python3',
  };
}

// ---- the GPU ----

function findNvidiaSmi(given) {
  if (given !== undefined) return given;
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/nvidia/bin', '/usr/bin'];
  for (const d of dirs.filter(Boolean)) {
    try {
      accessSync(path.join(d, 'nvidia-smi'), constants.X_OK);
      return path.join(d, 'nvidia-smi');
    } catch {
      // not here
    }
  }
  return undefined;
}

/** { gpu: 'name, driver, memory, compute capability' } or { none: why }. */
function checkGpu(given) {
  const smi = findNvidiaSmi(given);
  if (smi === undefined) return { none: 'nvidia-smi not found (PATH, /usr/local/nvidia/bin, /usr/bin)' };
  if (!existsSync(smi)) return { none: `${smi} not found` };
  const r = spawnSync(smi, ['--query-gpu=name,driver_version,memory.total,compute_cap', '--format=csv,noheader'], { encoding: 'utf8', timeout: 20_000 });
  log(`$ ${smi} --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader\n${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.error) return { none: `${smi} could not run: ${r.error.message}` };
  if (r.status !== 0) return { none: `${smi} failed (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n')[0]}` };
  const gpus = r.stdout.trim().split('\n').filter(Boolean);
  if (gpus.length === 0) return { none: `${smi} lists no GPU` };
  return { gpu: gpus[0].split(',').map((s) => s.trim()).join(', '), count: gpus.length };
}

// ---- ONNX Runtime: stage an ORT_ROOT and rebuild the addon against it ----

const ORT_LIB = /^libonnxruntime\.so(\.\d+)*$/;

/** The folder holding libonnxruntime.so* among the places a wheel, release archive, NuGet package or ORT_ROOT keep it. */
function findLibDir(dir) {
  const candidates = [path.join(dir, 'lib'), dir, path.join(dir, 'onnxruntime', 'capi'), path.join(dir, 'capi'),
    path.join(dir, 'runtimes', 'linux-x64', 'native')];
  for (const top of existsSync(dir) ? readdirSync(dir) : []) candidates.push(path.join(dir, top, 'lib')); // onnxruntime-linux-x64-gpu-1.x.y/lib
  return candidates.find((d) => existsSync(d) && statSync(d).isDirectory() && readdirSync(d).some((f) => ORT_LIB.test(f)));
}

function findIncludeDir(dir) {
  const candidates = [path.join(dir, 'include'), path.join(dir, 'include', 'onnxruntime'), path.join(dir, 'build', 'native', 'include')];
  for (const top of existsSync(dir) ? readdirSync(dir) : []) candidates.push(path.join(dir, top, 'include'));
  return candidates.find((d) => existsSync(path.join(d, 'onnxruntime_c_api.h')));
}

function run(cmd, args, opts = {}) {
  log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 2 ** 20, ...opts });
  log(`${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `${r.error.message}\n` : ''}(exit ${r.status ?? r.signal})`);
  return r;
}

/** Unpacks the wheel's or archive's ONNX Runtime libraries (and headers, where it has them) into `dest`. */
function unpack(file, dest) {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  if (file.endsWith('.whl') || file.endsWith('.zip') || file.endsWith('.nupkg')) {
    const py = 'import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\n' +
      'for n in z.namelist():\n    b = n.rsplit("/", 1)[-1]\n' +
      '    if b.startswith("libonnxruntime") or n.endswith(".h") or b == "VERSION_NUMBER": z.extract(n, sys.argv[2])\n';
    let r = run('python3', ['-c', py, file, dest]);
    if (r.status !== 0) r = run('unzip', ['-q', '-o', file, '*libonnxruntime*', '*.h', '-d', dest]);
    if (r.status !== 0) throw new Error(`could not unpack ${file} (neither python3's zipfile nor unzip worked; see the log)`);
  } else if (/\.(tgz|tar\.gz|tar)$/.test(file)) {
    const r = run('tar', ['-xf', file, '-C', dest]);
    if (r.status !== 0) throw new Error(`could not unpack ${file} with tar (see the log)`);
  } else {
    throw new Error(`${file} is not a .whl, .zip, .nupkg, .tgz or .tar.gz`);
  }
  return dest;
}

/** ORT_ROOT = build/gpu-bench/ort-root: lib/ links to the given build's libraries, include/ its headers or the ones the addon already uses. */
function stageOrtRoot(source) {
  const src = statSync(source).isDirectory() ? source : unpack(source, path.join(work, 'ort-unpacked'));
  const libDir = findLibDir(src);
  if (!libDir) throw new Error(`no libonnxruntime.so* in ${source} (looked in lib/, the top folder, onnxruntime/capi/ and runtimes/linux-x64/native/)`);
  const ortRoot = path.join(work, 'ort-root');
  rmSync(ortRoot, { recursive: true, force: true });
  mkdirSync(path.join(ortRoot, 'lib'), { recursive: true });
  const libs = readdirSync(libDir).filter((f) => /^lib.*\.so(\.\d+)*$/.test(f) && !f.startsWith('onnxruntime_pybind11'));
  for (const f of libs) symlinkSync(path.join(libDir, f), path.join(ortRoot, 'lib', f));
  const versioned = libs.map((f) => /^libonnxruntime\.so\.(\d+\.\d+\.\d+)$/.exec(f)).find(Boolean);
  const versionFile = [path.join(src, 'VERSION_NUMBER'), path.join(libDir, 'VERSION_NUMBER')].find(existsSync);
  const version = versioned?.[1] ?? (versionFile ? readFileSync(versionFile, 'utf8').trim() : undefined);
  if (!version) throw new Error(`cannot tell the ONNX Runtime version in ${libDir}: no libonnxruntime.so.X.Y.Z and no VERSION_NUMBER`);
  writeFileSync(path.join(ortRoot, 'VERSION_NUMBER'), `${version}\n`);
  // The runtime and ORT itself look for these names next to each other.
  const have = new Set(libs);
  const real = versioned ? versioned.input : libs.find((f) => ORT_LIB.test(f));
  for (const alias of [`libonnxruntime.so.${version.split('.')[0]}`, 'libonnxruntime.so']) {
    if (!have.has(alias)) symlinkSync(path.join(libDir, real), path.join(ortRoot, 'lib', alias));
  }
  const inc = findIncludeDir(src) ?? (existsSync(path.join(root, 'build', 'ort-headers', 'onnxruntime_c_api.h')) ? path.join(root, 'build', 'ort-headers') : undefined);
  if (!inc) throw new Error(`${source} has no onnxruntime_c_api.h and build/ort-headers/ is empty: run npm install here first (it fetches the headers)`);
  mkdirSync(path.join(ortRoot, 'include'));
  for (const h of readdirSync(inc).filter((f) => f.endsWith('.h') && f !== 'sonoedge_ort_config.h')) copyFileSync(path.join(inc, h), path.join(ortRoot, 'include', h));
  const providers = libs.map((f) => /^libonnxruntime_providers_(\w+)\.so$/.exec(f)?.[1]).filter((p) => p && p !== 'shared');
  return { ortRoot, version, providers, headers: inc === path.join(root, 'build', 'ort-headers') ? 'build/ort-headers (the headers npm install fetched)' : inc };
}

/** The node-gyp headers folder: npm's setting, else the running Node's own prefix when it ships include/node. */
function nodedir() {
  if (process.env.npm_config_nodedir) return process.env.npm_config_nodedir;
  for (const prefix of [path.resolve(process.execPath, '..', '..'), '/usr']) {
    if (existsSync(path.join(prefix, 'include', 'node', 'node_api.h'))) return prefix;
  }
  return undefined;
}

/** Builds the addon against ORT_ROOT in build/gpu-bench/addon/ (a scratch tree linking native/ and node_modules/). */
function rebuildAddon(ortRoot, jobs) {
  const dir = path.join(work, 'addon');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  copyFileSync(path.join(root, 'binding.gyp'), path.join(dir, 'binding.gyp'));
  for (const s of ['fetch-ort-headers.mjs', 'gyp-sources.mjs']) copyFileSync(path.join(root, 'scripts', s), path.join(dir, 'scripts', s));
  for (const l of ['native', 'node_modules']) symlinkSync(path.join(root, l), path.join(dir, l));
  const env = { ...process.env, ORT_ROOT: ortRoot };
  const t0 = performance.now();
  let r = run(process.execPath, [path.join(dir, 'scripts', 'fetch-ort-headers.mjs'), '--force'], { cwd: dir, env });
  if (r.status !== 0) {
    const why = (r.stderr || '').split('\n').filter((l) => l.trim() && !l.startsWith('fetch-ort-headers: trying')).find((l) => !/^\s*$/.test(l)) ?? '';
    throw new Error(`fetch-ort-headers refused ORT_ROOT=${ortRoot}: ${why.replace(/^fetch-ort-headers: /, '')} (see gpu-bench.log)`);
  }
  const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  const nd = nodedir();
  r = run(process.execPath, [gyp, 'configure', 'build', `--jobs=${jobs}`, ...(nd ? [`--nodedir=${nd}`] : [])], { cwd: dir, env });
  const addon = path.join(dir, 'build', 'Release', 'sonoedge.node');
  if (r.status !== 0 || !existsSync(addon)) throw new Error(`node-gyp could not build the addon in ${dir} (see gpu-bench.log)`);
  const api = /ORT_API_VERSION\s+(\d+)/.exec(readFileSync(path.join(dir, 'build', 'ort-headers', 'onnxruntime_c_api.h'), 'utf8'))?.[1];
  return { addon, api, seconds: (performance.now() - t0) / 1000 };
}

/** CUDA, cuDNN and TensorRT libraries installed as Python packages (nvidia-*, tensorrt-*-libs), and the usual system folders. */
function gpuLibraryDirs(extra) {
  const dirs = [...extra];
  const r = spawnSync('python3', ['-c', 'import sys; print("\\n".join(p for p in sys.path if p))'], { encoding: 'utf8' });
  for (const sp of r.status === 0 ? r.stdout.trim().split('\n') : []) {
    const nv = path.join(sp, 'nvidia');
    if (existsSync(nv)) {
      for (const pkg of readdirSync(nv)) {
        for (const d of [path.join(nv, pkg, 'lib'), path.join(nv, pkg, 'lib64')]) if (existsSync(d)) dirs.push(d);
      }
    }
    for (const t of ['tensorrt_libs', 'tensorrt_lib', 'tensorrt']) {
      const d = path.join(sp, t);
      if (existsSync(d) && readdirSync(d).some((f) => f.startsWith('libnvinfer'))) dirs.push(d);
    }
  }
  for (const d of ['/usr/local/cuda/lib64', '/usr/local/cuda/targets/x86_64-linux/lib', '/usr/local/tensorrt/lib', '/usr/local/nvidia/lib64']) {
    if (existsSync(d)) dirs.push(d);
  }
  return [...new Set(dirs)];
}

// ---- runs of the CLI ----

/** One CLI process; killed after `timeoutS` (a TensorRT build that never ends must not eat the device's time). */
function sonoedge(args, env, timeoutS) {
  const r = run(process.execPath, [cli, ...args], { cwd: root, env, timeout: timeoutS * 1000, killSignal: 'SIGKILL' });
  if (r.error?.code === 'ETIMEDOUT' || (r.status === null && r.signal === 'SIGKILL')) r.stderr = `${r.stderr ?? ''}\ntimed out after ${timeoutS} s`;
  return r;
}

/** Engine and timing cache files under `dir`: relative path -> size and mtime. */
function snapshot(dir) {
  const files = new Map();
  const walk = (d) => {
    for (const e of existsSync(d) ? readdirSync(d, { withFileTypes: true }) : []) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) {
        const st = statSync(p);
        files.set(path.relative(dir, p), { size: st.size, mtimeMs: st.mtimeMs });
      }
    }
  };
  walk(dir);
  return files;
}
const isEngine = (f) => /\.(engine|profile)$/.test(f) || /_ctx\.onnx$/.test(f);

/** Manifest variants per bundled package (folders of models/ with a manifest.json). */
function bundledPackages() {
  const models = path.join(root, 'models');
  return readdirSync(models, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(models, d.name, 'manifest.json')))
    .map((d) => {
      const variants = JSON.parse(readFileSync(path.join(models, d.name, 'manifest.json'), 'utf8')).variants;
      return { name: d.name, dir: path.join(models, d.name), variants: Object.keys(variants), files: Object.fromEntries(Object.entries(variants).map(([v, x]) => [v, path.join(models, d.name, x.file)])) };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
}

// ---- tables ----

/** ONNX Runtime's "file.cc:123 ... [ONNXRuntimeError] : 1 : FAIL : message" to the message (as doctor does). */
const shortReason = (reason) => reason.replace(/^.*?\[ONNXRuntimeError\] : \d+ : \w+ : /s, '').replace(/ with error: \S+?: /, ': ').trim();
/** Table cell text: one line, no column separator. */
const cell = (s) => String(s).replace(/\s+/g, ' ').replace(/\|/g, '\\|').trim();
const f1 = (v) => (v === undefined ? '-' : v.toFixed(1));
const f3 = (v) => (v === undefined ? '-' : v.toFixed(3));

/** python onnxruntime's run median for the table: "0.123 (cuda)", or why there is none. */
function pythonCell(py) {
  if (py === undefined) return '-';
  if (py.none) return cell(py.none);
  const ran = py.providers[0].replace(/ExecutionProvider$/, '').toLowerCase();
  return `${f3(py.median)} (${ran})`;
}

function latencyRow(pkg, variant, requested, c, note, py) {
  if (c === undefined) return `| ${pkg} | ${variant} | ${requested} | ${cell(note)} | - | - | - | - | - | ${pythonCell(py)} | - |`;
  const ran = `${c.provider}${c.provider !== c.requestedProvider ? ' (fallback)' : ''}`;
  const e = c.stages.endToEnd;
  const ortRun = c.stages.inferenceRun.median;
  const ratio = py?.median !== undefined && ortRun !== undefined ? (ortRun / py.median).toFixed(2) : '-';
  return `| ${pkg} | ${variant} | ${requested} | ${ran} | ${f1(c.startMs)} | ${f3(e.median)} | ${f3(e.p99)} | ${f3(ortRun)} | ${f1(c.throughput)} | ${pythonCell(py)} | ${ratio} |`;
}

function renderTables(s) {
  const lines = [
    '<!-- bench:gpu:begin -->',
    `Machine: ${s.machine}. GPU: ${s.gpu.gpu ?? `none, ${s.gpu.none}`}. ONNX Runtime ${s.onnxruntime}. Date: ${s.date}.`,
    `Command: \`${s.command}\`. Input 1024x768 GRAY8 (synthetic frame), warm-up ${s.warmup}, ${s.iterations} iterations per configuration, ` +
      'intra-op threads ONNX Runtime default. Times in ms, percentiles nearest-rank; start = model load to first-frame ready ' +
      '(TensorRT rows: the second start, from the engine cache). End-to-end: preprocessing from the 1024x768 frame, the run and ' +
      'the output back in JavaScript; ORT run: the session run alone, input and output in host memory.',
    `What a user would pick instead: ${s.python}. Its column is the median of ${5 * s.iterations} runs after 10 warm-up ` +
      '(bench/ort_python.py: the same model file, input and output in host memory, a preallocated output through IOBinding), ' +
      'with the provider its session ran on; the ratio is sonoedge\'s ORT run median over it. Spinning: sonoedge\'s ' +
      'default (pool threads sleep between runs, `spinning: false`); python with ONNX Runtime\'s default, pool threads spin ' +
      '(`allow_spinning` 1, set explicitly).',
    '',
    '| package | variant | requested | ran on | start ms | end-to-end median ms | end-to-end p99 ms | ORT run median ms | inferences/s | python onnxruntime run median ms | ORT run / python |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...s.latency,
    '',
    'TensorRT engine cache: each configuration started twice in fresh processes on an empty cache; the second start must load the engines the first built.',
    '',
    '| package | variant | first start ms | second start ms | engine files (first / second start) | cache |',
    '| --- | --- | --- | --- | --- | --- |',
    ...s.cache,
  ];
  if (s.notes.length > 0) lines.push('', 'Fallbacks (a row that ran on another provider than the one requested):', '', ...s.notes.map((n) => `- ${cell(n)}`));
  lines.push('<!-- bench:gpu:end -->');
  return `${lines.join('\n')}\n`;
}

// ---- main ----

async function main() {
  const o = options();
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const bundled = bundledPackages();
  const unknown = (o.packages ?? []).filter((n) => !bundled.some((p) => p.name === n));
  if (unknown.length > 0) throw new UsageError(`option --packages: no bundled package ${unknown.map((n) => JSON.stringify(n)).join(', ')} (bundled: ${bundled.map((p) => p.name).join(', ')})`);
  const packages = o.packages === undefined ? bundled : bundled.filter((p) => o.packages.includes(p.name));
  if (!existsSync(cli)) throw new Error(`${path.relative(root, cli)} is missing: run npm install && npm run build first`);
  const started = performance.now();
  mkdirSync(o.out, { recursive: true });
  mkdirSync(work, { recursive: true });
  say(`out: ${o.out}`);
  let failed = false;

  // 1. The GPU.
  const gpu = checkGpu(o.nvidiaSmi);
  if (gpu.gpu) say(`gpu: ${gpu.gpu}${gpu.count > 1 ? ` (and ${gpu.count - 1} more; device 0 is used)` : ''}`);
  else say(`no GPU: ${gpu.none}; the GPU rows are marked "${NOT_RUN_NO_GPU}"`);

  // 2. ONNX Runtime.
  const env = { ...process.env };
  delete env.SONOEDGE_ADDON;
  let onnxruntime = 'onnxruntime-node\'s library';
  if (o.ort !== undefined) {
    const staged = stageOrtRoot(o.ort);
    say(`onnxruntime: ${staged.version} from ${o.ort}, providers in it: ${staged.providers.join(', ') || 'none besides cpu'}; ORT_ROOT=${staged.ortRoot} (headers: ${staged.headers})`);
    const built = rebuildAddon(staged.ortRoot, o.jobs);
    say(`addon: rebuilt against ORT_ROOT (ORT_API_VERSION ${built.api}) in ${built.seconds.toFixed(0)} s: ${built.addon}`);
    env.ORT_ROOT = staged.ortRoot;
    env.SONOEDGE_ADDON = built.addon;
    onnxruntime = `from ${path.basename(o.ort)}, rebuilt addon`;
  } else if (process.env.ORT_ROOT) {
    say(`onnxruntime: ORT_ROOT=${process.env.ORT_ROOT} as set (no --ort given: the addon in build/ is used as built)`);
    onnxruntime = `from ORT_ROOT=${process.env.ORT_ROOT}`;
  } else if (gpu.gpu) {
    say('onnxruntime: no GPU build given (--ort or SONOEDGE_GPU_ORT): onnxruntime-node\'s library runs, and tensorrt and cuda fall back to cpu unless its GPU provider libraries are installed beside it');
  } else {
    say('onnxruntime: onnxruntime-node\'s library (no --ort given; nothing to install without a GPU)');
  }
  const libDirs = gpu.gpu || o.libPath.length > 0 ? gpuLibraryDirs(o.libPath) : [];
  if (libDirs.length > 0) {
    env.LD_LIBRARY_PATH = [...libDirs, ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean)].join(':');
    say(`library path: ${libDirs.join(':')}`);
  }

  // python onnxruntime, the comparison: whichever one --python imports (PYTHONPATH as set).
  const pyProbe = run(o.python, ['-c', 'import json, onnxruntime as o; print(json.dumps([o.__version__, o.get_available_providers()]))'], { env });
  let python = { note: `not available (${o.python} does not import onnxruntime)`, providers: [] };
  if (pyProbe.status === 0) {
    const [version, eps] = JSON.parse(pyProbe.stdout.trim().split('\n').pop());
    const providers = ['tensorrt', 'cuda', 'cpu'].filter((p) => eps.includes(`${p === 'cpu' ? 'CPU' : p === 'cuda' ? 'CUDA' : 'Tensorrt'}ExecutionProvider`));
    python = { note: `python onnxruntime ${version} (providers ${providers.join(', ')})`, providers };
  }
  say(`python: ${python.note}`);
  const pyOut = path.join(work, 'python-out');
  mkdirSync(pyOut, { recursive: true });
  const pyRuns = [];
  /** bench/ort_python.py on one model file and provider: its JSON line, or { none: why } where it did not run. */
  const pythonBench = (pkg, variant, provider, file) => {
    if (!python.providers.includes(provider)) return { none: python.providers.length ? `no ${provider} provider in python's onnxruntime` : 'python onnxruntime not available' };
    if (provider !== 'cpu' && !gpu.gpu) return { none: NOT_RUN_NO_GPU };
    const r = run(o.python, [path.join(root, 'bench', 'ort_python.py'), file, '0', String(o.iterations), pyOut, provider], { env, timeout: o.timeout * 1000, killSignal: 'SIGKILL' });
    if (r.status !== 0) {
      say(`python ${pkg} ${variant} ${provider}: FAILED (exit ${r.status ?? r.signal}): ${(r.stderr || '').trim().split('\n').slice(-1)[0] ?? ''}`);
      return { none: 'python run failed (see gpu-bench.log)' };
    }
    const res = JSON.parse(r.stdout.trim().split('\n').pop());
    pyRuns.push({ package: pkg, variant, provider, ...res });
    return res;
  };

  // 3. doctor.
  const doc = sonoedge(['doctor'], env, o.timeout);
  writeFileSync(path.join(o.out, 'doctor.txt'), `${doc.stdout ?? ''}${doc.stderr ?? ''}`);
  const count = (st) => (doc.stdout ?? '').split('\n').filter((l) => l.startsWith(`${st} `)).length;
  say(`doctor: exit ${doc.status} (${count('ok')} ok, ${count('warn')} warn, ${count('fail')} fail); doctor.txt`);
  for (const l of (doc.stdout ?? '').split('\n').filter((x) => /^(ok|warn|fail)\s+(provider|gpu|tensorrt|onnxruntime)\b/.test(x))) say(`  ${l}`);
  if (doc.status !== 0) failed = true;

  // 4. Variants.
  for (const p of packages) {
    const missing = VARIANTS.filter((v) => !p.variants.includes(v));
    say(`variants: ${p.name} has ${VARIANTS.filter((v) => p.variants.includes(v)).join(', ')}${missing.length ? ` (no ${missing.join(', ')})` : ''}`);
  }

  // 5. The runs.
  const common = ['--iterations', String(o.iterations), '--warmup', String(o.warmup), '--json'];
  const results = [];
  const bench = (label, args, reported = false) => {
    const r = sonoedge(['bench', ...args, ...common], env, o.timeout);
    if (r.status !== 0) {
      failed = true;
      say(`bench ${label}: FAILED (exit ${r.status}): ${(r.stderr || '').trim().split('\n').slice(-1)[0] ?? ''}`);
      return [];
    }
    const report = JSON.parse(r.stdout);
    results.push({ label, args, report, inTable: reported || !args.includes('tensorrt') });
    return report.configurations;
  };
  const latency = [];
  const cache = [];
  const notes = [];
  // Per run, so that two runs never clear each other's cache; removed at the end (gpu-bench.json keeps the file lists).
  const cacheRoot = path.join(work, `trt-cache-${process.pid}`);
  process.once('exit', () => rmSync(cacheRoot, { recursive: true, force: true }));  // also when a step throws
  const cacheChecks = [];
  let trtFellBack = false;
  for (const p of packages) {
    const have = VARIANTS.filter((v) => p.variants.includes(v));
    const rel = path.relative(root, p.dir);
    // cuda and cpu: one process; without a GPU cpu alone.
    const providers = gpu.gpu ? ['cuda', 'cpu'] : ['cpu'];
    const configs = have.length ? bench(`${p.name} ${providers.join(',')}`, [rel, '--providers', providers.join(','), '--variants', have.join(',')]) : [];
    const py = new Map();
    for (const v of have) for (const prov of ['cuda', 'cpu']) py.set(`${v} ${prov}`, pythonBench(p.name, v, prov, p.files[v]));
    // tensorrt: fp32, fp32 with fp16 kernels, int8; each started twice.
    const trt = new Map();
    const modes = [...(have.includes('fp32') ? [['fp32', 'fp32', false], ['fp32 + TensorRT fp16', 'fp32', true]] : []),
      ...(have.includes('fp16') ? [['fp16', 'fp16', false]] : []), ...(have.includes('int8') ? [['int8', 'int8', false]] : [])];
    for (const [label, variant, fp16] of modes) {
      if (!gpu.gpu) {
        cache.push(`| ${p.name} | ${label} | ${NOT_RUN_NO_GPU} | - | - | - |`);
        continue;
      }
      const dir = path.join(cacheRoot, `${p.name}-${label.replace(/[^a-z0-9]+/gi, '-')}`);
      rmSync(dir, { recursive: true, force: true });
      const args = [rel, '--providers', 'tensorrt', '--variants', variant, '--tensorrt-cache', dir, ...(fp16 ? ['--tensorrt-fp16'] : [])];
      const first = bench(`${p.name} ${label} tensorrt (first start)`, args)[0];
      const s1 = snapshot(dir);
      const second = bench(`${p.name} ${label} tensorrt (second start)`, args, true)[0];
      const s2 = snapshot(dir);
      trt.set(label, second);
      const e1 = [...s1.keys()].filter(isEngine);
      const e2 = [...s2.keys()].filter(isEngine);
      let verdict;
      if (!first || !second) verdict = 'not measured: bench failed';
      else if (first.provider !== 'tensorrt') {
        verdict = `not checked: tensorrt did not run (ran on ${first.provider}; see the fallbacks)`;
        trtFellBack = true;
      }
      else if (e1.length === 0) {
        verdict = 'FAILED: the first start wrote no engine file';
        failed = true;
      } else {
        const changed = e2.filter((f) => !s1.has(f) || s1.get(f).mtimeMs !== s2.get(f).mtimeMs || s1.get(f).size !== s2.get(f).size);
        const gone = e1.filter((f) => !s2.has(f));
        if (changed.length === 0 && gone.length === 0) verdict = `reused: no engine file written on the second start (${(second.startMs / first.startMs).toFixed(3)}x the first start's time)`;
        else {
          verdict = `REBUILT on the second start: ${[...changed, ...gone].join(', ')}`;
          failed = true;
        }
      }
      const files = (snap) => Object.fromEntries([...snap].map(([f, st]) => [f, { bytes: st.size, mtime: new Date(st.mtimeMs).toISOString() }]));
      cacheChecks.push({ package: p.name, variant: label, firstStartMs: first?.startMs, secondStartMs: second?.startMs, afterFirst: files(s1), afterSecond: files(s2), verdict });
      say(`tensorrt ${p.name} ${label}: first start ${f1(first?.startMs)} ms, second ${f1(second?.startMs)} ms; cache ${verdict}`);
      cache.push(`| ${p.name} | ${label} | ${f1(first?.startMs)} | ${f1(second?.startMs)} | ${e1.length} / ${e2.length} | ${cell(verdict)} |`);
    }
    // The latency rows, in a fixed order: variant, then tensorrt, cuda, cpu.
    for (const variant of VARIANTS) {
      const labels = variant === 'fp32' ? ['fp32', 'fp32 + TensorRT fp16'] : [variant];
      for (const label of labels) {
        for (const provider of PROVIDERS) {
          if (label !== variant && provider !== 'tensorrt') continue;
          const pyr = label === variant ? py.get(`${variant} ${provider}`) : undefined;
          if (!have.includes(variant)) {
            latency.push(latencyRow(p.name, label, provider, undefined, `not run: no ${variant} variant in the package (it has ${p.variants.join(', ')})`));
          } else if (provider !== 'cpu' && !gpu.gpu) {
            latency.push(latencyRow(p.name, label, provider, undefined, NOT_RUN_NO_GPU, pyr));
          } else if (provider === 'tensorrt') {
            latency.push(latencyRow(p.name, label, provider, trt.get(label), 'not run: bench failed'));
          } else {
            latency.push(latencyRow(p.name, label, provider, configs.find((c) => c.variant === variant && c.requestedProvider === provider), 'not run: bench failed', pyr));
          }
        }
      }
    }
  }
  // One line per distinct reason, naming the rows it explains.
  const reasons = new Map();
  for (const { report, args, inTable } of results.filter((x) => x.inTable)) {
    for (const c of report.configurations.filter((x) => x.fallbackReason !== undefined)) {
      const key = `${c.requestedProvider} requested, ran on ${c.provider}: ${shortReason(c.fallbackReason)}`;
      reasons.set(key, [...(reasons.get(key) ?? []), `${c.package} ${c.variant}${args.includes('--tensorrt-fp16') ? ' + TensorRT fp16' : ''}`]);
    }
  }
  for (const [reason, rows] of reasons) notes.push(`${reason} (${rows.join(', ')})`);

  // 6. The tables.
  const m = results[0]?.report.machine;
  const command = `npm run bench:gpu -- ${process.argv.slice(2).join(' ')}`.trim();
  const summary = {
    machine: m ? `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node.js ${m.node}` : `${os.cpus()[0]?.model.trim()}, ${os.cpus().length} cores`,
    gpu, onnxruntime: `${results[0]?.report.onnxruntime ?? '?'} (${onnxruntime})`, date: new Date().toISOString(), command, python: python.note,
    iterations: o.iterations, warmup: o.warmup, latency, cache, notes,
  };
  const md = renderTables(summary);
  writeFileSync(path.join(o.out, 'gpu-bench.md'), md);
  writeFileSync(path.join(o.out, 'gpu-bench.json'), `${JSON.stringify({ tool: 'scripts/gpu-bench.mjs', ...summary, cacheChecks, runs: results, python: pyRuns }, null, 2)}\n`);
  rmSync(cacheRoot, { recursive: true, force: true });
  writeFileSync(path.join(o.out, 'gpu-bench.log'), logText);
  process.stdout.write(`\n${md}\n`);
  const secs = ((performance.now() - started) / 1000).toFixed(0);
  if (failed) say(`FAILED after ${secs} s; see ${path.join(o.out, 'gpu-bench.log')}`);
  else if (gpu.gpu && trtFellBack) say(`done in ${secs} s, but tensorrt did not run (see the fallbacks): the engine cache was not checked; tables in ${path.join(o.out, 'gpu-bench.md')}`);
  else if (!gpu.gpu) say(`done in ${secs} s without a GPU: doctor and the CPU rows ran; the GPU rows are marked "${NOT_RUN_NO_GPU}"`);
  else say(`done in ${secs} s; tables in ${path.join(o.out, 'gpu-bench.md')}`);
  return failed ? 1 : 0;
}

try {
  process.exitCode = await main();
} catch (err) {
  if (err instanceof UsageError) {
    process.stderr.write(`gpu-bench: ${err.message}\n${USAGE}`);
    process.exitCode = 2;
  } else {
    process.stderr.write(`gpu-bench: ${err.message}\n`);
    if (logText) {
      try {
        const out = path.join(work, 'gpu-bench.log');
        mkdirSync(work, { recursive: true });
        writeFileSync(out, logText);
        process.stderr.write(`gpu-bench: log in ${out}\n`);
      } catch {
        // nowhere to write it
      }
    }
    process.exitCode = 1;
  }
}
