// `sonoedge bench`: latency of model packages on this machine, measured the way
// the runtime runs them (ModelRunner: native preprocessing into the engine's
// bound input, then the bound run), one frame at a time like MLPerf's
// SingleStream scenario. Each requested execution provider is its own
// configuration, asked for alone with CPU as the fallback; the report names the
// provider that actually ran, so a CPU number never sits under a GPU label.
// `sonoedge bench --compare a.json b.json` prints b/a ratios of two runs.
import cliProgress from 'cli-progress';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MAX_THREADS, PROVIDERS, type ProviderName } from '../engine/options.js';
import type { RunTimings } from '../engine/index.js';
import type { ErrorCode } from '../errors.js';
import { randomBytes, syntheticSectorFrame } from '../frame/synthetic.js';
import { loadTrustStore, bundledPaths, MODELS_DIR, verifyModelPackage, type VerifiedPackage } from '../model/package.js';
import { ModelRunner, type StreamGeometry } from '../pipeline/index.js';
import { MAX_DIMENSION, type InputGeometry } from '../preprocess/options.js';
import { PixelFormat, type PixelFormatName } from '../preprocess/types.js';
import { closest } from '../util/options.js';
import { PERCENTILE_METHOD, summarize, type Summary } from '../util/stats.js';
import { commandHelp, listFlag, numberFlag, parseCommandArgs, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { checkOutputFolder, writeFiles } from './output.js';

const spec: CommandSpec = {
  name: 'bench',
  summary: 'latency of model packages on this machine: preprocessing, inference, end to end, per provider and variant',
  usage: '[options] [PACKAGE...]  |  --compare A.json B.json',
  positionals: [0, Infinity],
  flags: {
    providers: { type: 'string', value: 'LIST', help: `providers to benchmark, each alone with cpu as fallback (${PROVIDERS.join(',')}; default cpu)` },
    variants: { type: 'string', value: 'LIST', help: 'package variants, e.g. fp32,int8 (default fp32)' },
    input: { type: 'string', value: 'WxH:FORMAT', help: 'frame geometry and pixel format fed to preprocessing (default 1024x768:GRAY8)' },
    warmup: { type: 'string', value: 'N', help: 'untimed iterations first (default 20)' },
    iterations: { type: 'string', value: 'N', help: 'timed iterations per configuration (default 200)' },
    duration: { type: 'string', value: 'SECONDS', help: 'time each configuration for this long instead of --iterations' },
    threads: { type: 'string', value: 'N', help: 'intra-op threads (default 0: ONNX Runtime picks, one per core)' },
    'tensorrt-cache': { type: 'string', value: 'DIR', help: 'TensorRT engine and timing cache root: the first start builds the engines, later starts load them (needs tensorrt in --providers)' },
    'tensorrt-fp16': { type: 'boolean', help: 'let TensorRT run float32 variants with fp16 kernels (needs tensorrt in --providers)' },
    trust: { type: 'string', value: 'DIR', help: 'trust store for package signatures (default models/trust)' },
    out: { type: 'string', value: 'DIR', help: 'write bench.json, bench.md and per configuration histogram and CDF SVGs' },
    json: { type: 'boolean', help: 'print JSON instead of the markdown tables' },
    compare: { type: 'boolean', help: 'compare two bench.json files: b/a ratios of median and p99' },
  },
};

/** Stages measured per iteration, in table order. */
export const STAGES = ['preprocess', 'inferenceRun', 'inferenceWall', 'endToEnd'] as const;
type Stage = (typeof STAGES)[number];
const STAGE_LABELS: Record<Stage, string> = {
  preprocess: 'preprocess',
  inferenceRun: 'inference (ORT run)',
  inferenceWall: 'inference (awaited)',
  endToEnd: 'end to end',
};

interface Machine { cpu: string; cores: number; memoryGiB: number; platform: string; node: string }

export interface BenchConfiguration {
  package: string;
  packageName: string;
  packageVersion: string;
  variant: string;
  requestedProvider: ProviderName;
  /** The provider that ran; differs from requestedProvider when that one was not available. */
  provider: ProviderName;
  /** ONNX Runtime's reason the requested provider did not run; absent when it ran. */
  fallbackReason?: string;
  /** Intra-op threads asked for; 0 = ONNX Runtime's default. */
  threads: number;
  /**
   * Milliseconds from asking for the model to a runner ready for frames: session creation (a TensorRT
   * engine build or cache load included) and the engine's warm-up run; not counted in the stages.
   */
  startMs: number;
  /** TensorRT's engine cache folder for this configuration; only when --tensorrt-cache was given and tensorrt ran. */
  tensorrtCachePath?: string;
  /** TensorRT was allowed fp16 kernels (--tensorrt-fp16); only when given and tensorrt was requested. */
  tensorrtFp16?: true;
  iterations: number;
  elapsedMs: number;
  /** Inferences (whole iterations) per second over the timed phase. */
  throughput: number;
  onnxruntime: string;
  machine: Machine;
  date: string;
  stages: Record<Stage, Summary>;
}

export interface BenchReport {
  tool: 'sonoedge bench';
  format: 1;
  date: string;
  machine: Machine;
  onnxruntime: string;
  percentiles: string;
  units: 'ms';
  settings: { input: InputGeometry; warmup: number; iterations?: number; durationS?: number; threads: number; tensorrtCache?: string; tensorrtFp16?: true };
  configurations: BenchConfiguration[];
}

/** A bench.json that --compare cannot read. */
export class BenchFileError extends Error {
  readonly code = 'ERR_SONOEDGE_BENCH_FILE' satisfies ErrorCode;
  constructor(message: string) {
    super(message);
    this.name = 'BenchFileError';
  }
}

export async function bench(args: string[]): Promise<number> {
  const a = parseCommandArgs(spec, args);
  if (a.help) {
    process.stdout.write(commandHelp(spec));
    return 0;
  }
  if (a.values.compare === true) return compare(a.positionals, a.values.json === true);
  if (a.values.iterations !== undefined && a.values.duration !== undefined) {
    throw new UsageError('options --iterations and --duration cannot be used together');
  }
  const providers = [...new Set(listFlag(a.values, 'providers', ['cpu'], PROVIDERS))] as ProviderName[];
  const variants = [...new Set(listFlag(a.values, 'variants', ['fp32']))];
  const input = parseInput(a.values.input);
  const warmup = numberFlag(a.values, 'warmup', 20, { min: 0, integer: true });
  const durationS = a.values.duration === undefined ? undefined : numberFlag(a.values, 'duration', 0, { min: 0.001 });
  const iterations = durationS === undefined ? numberFlag(a.values, 'iterations', 200, { min: 1, integer: true }) : undefined;
  const threads = numberFlag(a.values, 'threads', 0, { min: 0, max: MAX_THREADS, integer: true });
  const tensorrtCache = typeof a.values['tensorrt-cache'] === 'string' ? path.resolve(a.values['tensorrt-cache']) : undefined;
  const tensorrtFp16 = a.values['tensorrt-fp16'] === true;
  for (const [flag, given] of [['--tensorrt-cache', tensorrtCache !== undefined], ['--tensorrt-fp16', tensorrtFp16]] as const) {
    if (given && !providers.includes('tensorrt')) throw new UsageError(`option ${flag} needs tensorrt in --providers (received ${providers.join(',')})`);
  }

  // Before any work: an --out folder that cannot be written is a usage error, not a failure after the run.
  if (typeof a.values.out === 'string') await checkOutputFolder('out', a.values.out);
  const dirs = a.positionals.length > 0 ? a.positionals : bundledPackages();
  const trustStore = await loadTrustStore(typeof a.values.trust === 'string' ? a.values.trust : bundledPaths().trust);
  const packages: VerifiedPackage[] = [];
  for (const dir of dirs) {
    const pkg = await verifyModelPackage(dir, { trustStore });
    const have = Object.keys(pkg.manifest.variants);
    for (const v of variants) {
      if (!have.includes(v)) {
        const hint = closest(v, have);
        throw new UsageError(`option --variants: package ${path.basename(pkg.dir)} has no variant ${JSON.stringify(v)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''} (available: ${have.join(', ')})`);
      }
    }
    packages.push(pkg);
  }

  const plan = packages.flatMap((pkg) => variants.flatMap((variant) => providers.map((provider) => ({ pkg, variant, provider }))));
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ format: '{config} [{bar}] {percentage}% | {done} iterations', hideCursor: true, clearOnComplete: true, stream: process.stderr },
      cliProgress.Presets.shades_classic)
    : undefined;
  const frames = new Map<number, Uint8Array>();
  const configurations: BenchConfiguration[] = [];
  const samples: Record<Stage, Float64Array>[] = [];
  const machine = machineInfo();
  try {
    for (const { pkg, variant, provider } of plan) {
      const r = await measure(pkg, variant, provider, { input, warmup, iterations, durationS, threads, tensorrtCache, tensorrtFp16, machine, frames, bar });
      configurations.push(r.config);
      samples.push(r.samples);
    }
  } finally {
    bar?.stop();
  }
  const report: BenchReport = {
    tool: 'sonoedge bench', format: 1, date: new Date().toISOString(), machine,
    onnxruntime: configurations[0]?.onnxruntime ?? 'unknown', percentiles: PERCENTILE_METHOD, units: 'ms',
    settings: {
      input, warmup, ...(iterations === undefined ? { durationS } : { iterations }), threads,
      ...(tensorrtCache === undefined ? {} : { tensorrtCache }), ...(tensorrtFp16 ? { tensorrtFp16: true as const } : {}),
    },
    configurations,
  };
  const markdown = renderMarkdown(report);
  if (typeof a.values.out === 'string') await writeOut(a.values.out, report, markdown, samples);
  process.stdout.write(a.values.json === true ? `${JSON.stringify(report, null, 2)}\n` : markdown);
  return 0;
}

/** `WxH[:FORMAT]`, e.g. 1024x768:GRAY8. */
function parseInput(raw: ParsedArgs['values'][string]): InputGeometry {
  if (raw === undefined) return { width: 1024, height: 768, format: 'GRAY8' };
  const m = /^(\d+)x(\d+)(?::(\w+))?$/.exec(String(raw));
  const w = m ? Number(m[1]) : 0;
  const h = m ? Number(m[2]) : 0;
  if (!m || w < 1 || h < 1 || w > MAX_DIMENSION || h > MAX_DIMENSION) {
    throw new UsageError(`option --input expects WIDTHxHEIGHT[:FORMAT] with sizes 1 to ${MAX_DIMENSION} (e.g. 1024x768:GRAY8) but received ${JSON.stringify(raw)}`);
  }
  const known = Object.keys(PixelFormat);
  const format = m[3] ?? 'GRAY8';
  if (!known.includes(format)) {
    const hint = closest(format, known);
    throw new UsageError(`option --input: unknown pixel format ${JSON.stringify(format)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''} (known: ${known.join(', ')})`);
  }
  return { width: w, height: h, format: format as PixelFormatName };
}

/** Package folders under models/ (those with a manifest.json), sorted. */
function bundledPackages(): string[] {
  return readdirSync(MODELS_DIR, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(path.join(MODELS_DIR, d.name, 'manifest.json')))
    .map((d) => path.join(MODELS_DIR, d.name)).sort();
}

function machineInfo(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown CPU', cores: cpus.length, memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    platform: `${process.platform}-${process.arch}`, node: process.version,
  };
}

/**
 * The image sector's bounding box in syntheticSectorFrame's geometry (apex at
 * the top centre, 8 rows down, +-45 degrees, radius 0.95 * height), clamped to
 * the frame: what scanner firmware would send as the sector ROI.
 */
function sectorRoi(width: number, height: number): StreamGeometry['sectorRoi'] {
  const r = height * 0.95;
  const x0 = Math.max(0, Math.floor(width / 2 - r * Math.SQRT1_2));
  const x1 = Math.min(width, Math.ceil(width / 2 + r * Math.SQRT1_2));
  const y0 = Math.min(8, height - 1);
  const y1 = Math.min(height, Math.ceil(8 + r));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

interface MeasureOptions {
  input: InputGeometry; warmup: number; iterations?: number; durationS?: number; threads: number; machine: Machine;
  tensorrtCache?: string; tensorrtFp16: boolean; frames: Map<number, Uint8Array>; bar?: cliProgress.SingleBar;
}

async function measure(pkg: VerifiedPackage, variant: string, requested: ProviderName, o: MeasureOptions):
  Promise<{ config: BenchConfiguration; samples: Record<Stage, Float64Array> }> {
  const geometry: StreamGeometry = { input: o.input, pixelSpacingMm: 0.3, sectorRoi: sectorRoi(o.input.width, o.input.height) };
  const trt = requested === 'tensorrt' && (o.tensorrtCache !== undefined || o.tensorrtFp16)
    ? { tensorrt: { ...(o.tensorrtCache === undefined ? {} : { cacheDir: o.tensorrtCache }), ...(o.tensorrtFp16 ? { fp16: true } : {}) } }
    : {};
  const startedAt = performance.now();
  const runner = await ModelRunner.create(pkg, variant, geometry, {
    providers: requested === 'cpu' ? ['cpu'] : [requested, 'cpu'], intraOpThreads: o.threads, log: false, ...trt,
  });
  const startMs = performance.now() - startedAt;
  try {
    // One synthetic frame per size: a speckled sector for GRAY8, seeded noise for other formats.
    const bytes = runner.preprocessor.requiredInputBytes;
    let frame = o.frames.get(bytes);
    if (frame === undefined) {
      frame = o.input.format === 'GRAY8' && bytes === o.input.width * o.input.height
        ? syntheticSectorFrame(o.input.width, o.input.height, 7) : randomBytes(bytes, 7);
      o.frames.set(bytes, frame);
    }
    // The production path, with our own stage timer: ModelRunner.infer calls
    // `<task>.preprocess` (synchronous) then `<task>.engine` (the awaited bound run); a view package with
    // postprocessing.quality.full_gain runs `<task>.full_gain` between them (a second run, counted in endToEnd only).
    let pre = 0, wall = 0, run = 0;
    const stage = async (name: string, fn: () => unknown): Promise<unknown> => {
      const t0 = performance.now();
      let r = fn();
      if (r instanceof Promise) r = await r;
      const dt = performance.now() - t0;
      if (name.endsWith('.preprocess')) pre = dt;
      else if (name.endsWith('.engine')) { wall = dt; run = (r as RunTimings).runMs; }
      return r;
    };
    for (let i = 0; i < o.warmup; i++) await runner.infer(frame, stage);

    const label = `${path.basename(pkg.dir)} ${variant} ${runner.engine.provider}`;
    const cap = o.iterations ?? Infinity;
    const deadline = o.durationS === undefined ? Infinity : o.durationS * 1000;
    const grow = o.iterations ?? 1024;
    let cols: Record<Stage, Float64Array> = { preprocess: new Float64Array(grow), inferenceRun: new Float64Array(grow), inferenceWall: new Float64Array(grow), endToEnd: new Float64Array(grow) };
    o.bar?.start(100, 0, { config: label, done: 0 });
    let n = 0;
    const start = performance.now();
    while (n < cap && performance.now() - start < deadline) {
      const t0 = performance.now();
      await runner.infer(frame, stage);
      const e2e = performance.now() - t0;
      if (n === cols.endToEnd.length) cols = Object.fromEntries(STAGES.map((s) => [s, grown(cols[s])])) as typeof cols;
      cols.preprocess[n] = pre;
      cols.inferenceRun[n] = run;
      cols.inferenceWall[n] = wall;
      cols.endToEnd[n] = e2e;
      n++;
      if (o.bar) o.bar.update(Math.min(100, Math.floor(100 * Math.max(n / cap, (performance.now() - start) / deadline))), { done: n });
    }
    const elapsedMs = performance.now() - start;
    o.bar?.stop();
    const samples = Object.fromEntries(STAGES.map((s) => [s, cols[s].subarray(0, n)])) as Record<Stage, Float64Array>;
    const outcome = runner.engine.providerReport.find((r) => r.provider === requested);
    const config: BenchConfiguration = {
      package: path.basename(pkg.dir), packageName: pkg.manifest.name, packageVersion: pkg.manifest.version, variant,
      requestedProvider: requested, provider: runner.engine.provider,
      ...(outcome && !outcome.used ? { fallbackReason: outcome.reason } : {}),
      threads: o.threads, startMs,
      ...(runner.engine.provider === 'tensorrt' && runner.engine.options.tensorrtCachePath ? { tensorrtCachePath: runner.engine.options.tensorrtCachePath } : {}),
      ...(requested === 'tensorrt' && o.tensorrtFp16 ? { tensorrtFp16: true as const } : {}),
      iterations: n, elapsedMs, throughput: (1000 * n) / elapsedMs,
      onnxruntime: runner.engine.onnxruntimeVersion, machine: o.machine, date: new Date().toISOString(),
      stages: Object.fromEntries(STAGES.map((s) => [s, summarize(samples[s])])) as Record<Stage, Summary>,
    };
    return { config, samples };
  } finally {
    await runner.close();
  }
}

function grown(a: Float64Array): Float64Array {
  const b = new Float64Array(a.length * 2);
  b.set(a);
  return b;
}

/** The configuration's label everywhere: the provider that ran, and what was asked for when that differs. */
export function configKey(c: Pick<BenchConfiguration, 'package' | 'variant' | 'provider' | 'requestedProvider'>): string {
  return `${c.package} ${c.variant} ${c.provider}${c.requestedProvider !== c.provider ? ` (requested ${c.requestedProvider})` : ''}`;
}

const ms = (v: number): string => v.toFixed(3);

function renderMarkdown(r: BenchReport): string {
  const m = r.machine;
  const s = r.settings;
  const lines = [
    `# sonoedge bench`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.platform}, Node.js ${m.node}. ONNX Runtime ${r.onnxruntime}. Date: ${r.date}.`,
    `Input ${s.input.width}x${s.input.height} ${s.input.format} (synthetic frame), warm-up ${s.warmup}, ${s.iterations !== undefined ? `${s.iterations} iterations` : `${s.durationS} s`} per configuration, ` +
      `intra-op threads ${s.threads === 0 ? `ONNX Runtime default (${m.cores} cores)` : s.threads}. Times in ms; percentiles ${r.percentiles}.`,
    '',
    '| package | variant | requested | ran on | iterations | throughput (inferences/s) |',
    '| --- | --- | --- | --- | --- | --- |',
    ...r.configurations.map((c) => `| ${c.package} | ${c.variant} | ${c.requestedProvider} | ${c.provider}${c.fallbackReason !== undefined ? ' (fallback)' : ''} | ${c.iterations} | ${c.throughput.toFixed(1)} |`),
    '',
    '| configuration | stage | min | mean | median | p90 | p95 | p99 | max |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...r.configurations.flatMap((c) => STAGES.map((st) => {
      const x = c.stages[st];
      return `| ${configKey(c)} | ${STAGE_LABELS[st]} | ${ms(x.min)} | ${ms(x.mean)} | ${ms(x.median)} | ${ms(x.p90)} | ${ms(x.p95)} | ${ms(x.p99)} | ${ms(x.max)} |`;
    })),
  ];
  const fallbacks = r.configurations.filter((c) => c.fallbackReason !== undefined);
  if (fallbacks.length > 0) {
    lines.push('', 'Fallbacks (these numbers are the provider that ran, not the one requested):', '');
    for (const c of fallbacks) {
      lines.push(`- ${c.package} ${c.variant}: ${c.requestedProvider} requested but not available on this machine, ran on ${c.provider}: ${c.fallbackReason}`);
    }
  }
  lines.push('', `Stages: preprocess = native preprocessing into the bound input tensor; inference (ORT run) = ONNX Runtime's Run as the engine times it; ` +
    'inference (awaited) = wall time of the awaited run from JavaScript; end to end = both, one frame at a time (for a view package with ' +
    'postprocessing.quality.full_gain, also its second run at full gain, which the other columns leave out: throughput then counts frames, not runs).');
  return `${lines.join('\n')}\n`;
}

/** bench.json, bench.md and the charts, all or nothing: a failure midway leaves an earlier run's files as they were. */
async function writeOut(dir: string, r: BenchReport, markdown: string, samples: Record<Stage, Float64Array>[]): Promise<void> {
  // Loaded only here: the charts are not needed for a plain run.
  const { histogram, cdfChart } = await import('../report/svg.js');
  const files: [string, string][] = [['bench.json', `${JSON.stringify(r, null, 2)}\n`], ['bench.md', markdown]];
  r.configurations.forEach((c, i) => {
    const id = `${c.package}.${c.variant}.${c.provider}${c.requestedProvider !== c.provider ? `.requested-${c.requestedProvider}` : ''}`;
    const title = configKey(c);
    files.push([`${id}.histogram.svg`, histogram({
      title: `${title}: end-to-end latency`, xLabel: 'end-to-end latency (ms)', yLabel: 'iterations', values: samples[i].endToEnd,
    })]);
    files.push([`${id}.cdf.svg`, cdfChart({
      title: `${title}: latency CDF`, xLabel: 'latency (ms)', yLabel: 'fraction of iterations',
      series: STAGES.map((s) => ({ name: STAGE_LABELS[s], values: samples[i][s] })),
    })]);
  });
  await writeFiles(dir, files, 'the bench results');
}

// ---- --compare ----

function readReport(file: string): BenchReport {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new BenchFileError(`Expected a sonoedge bench JSON file for ${file} but received ${e.code === 'ENOENT' ? 'a missing file' : `unreadable JSON (${e.message})`}`);
  }
  const d = data as Partial<BenchReport>;
  const bad = (what: string) => new BenchFileError(`Expected a sonoedge bench JSON file for ${file} but received ${what}`);
  if (d === null || typeof d !== 'object' || d.tool !== 'sonoedge bench' || d.format !== 1) throw bad('JSON without "tool": "sonoedge bench", "format": 1');
  if (!Array.isArray(d.configurations)) throw bad('no "configurations" array');
  d.configurations.forEach((c, i) => {
    for (const k of ['package', 'variant', 'provider', 'requestedProvider'] as const) {
      if (typeof c?.[k] !== 'string') throw bad(`configurations[${i}].${k} that is not a string`);
    }
    for (const s of STAGES) {
      for (const k of ['median', 'p99'] as const) {
        const v = c.stages?.[s]?.[k];
        if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw bad(`configurations[${i}].stages.${s}.${k} that is not a non-negative number`);
      }
    }
  });
  return d as BenchReport;
}

interface CompareRow { configuration: string; stage: Stage; median: { a: number; b: number; ratio: number }; p99: { a: number; b: number; ratio: number } }

function compare(files: string[], json: boolean): number {
  if (files.length !== 2) throw new UsageError(`--compare expects two bench.json files (A B) but received ${files.length}`);
  const [fa, fb] = files;
  const [ra, rb] = [readReport(fa), readReport(fb)];
  const index = (r: BenchReport, file: string, dup: string[]) => {
    const map = new Map<string, BenchConfiguration>();
    for (const c of r.configurations) {
      const k = configKey(c);
      if (map.has(k)) dup.push(`${k} (more than once in ${file}; the first is compared)`);
      else map.set(k, c);
    }
    return map;
  };
  const duplicates: string[] = [];
  const ma = index(ra, fa, duplicates);
  const mb = index(rb, fb, duplicates);
  const rows: CompareRow[] = [];
  for (const [k, a] of ma) {
    const b = mb.get(k);
    if (!b) continue;
    for (const s of STAGES) {
      const pair = (f: 'median' | 'p99') => ({ a: a.stages[s][f], b: b.stages[s][f], ratio: b.stages[s][f] / a.stages[s][f] });
      rows.push({ configuration: k, stage: s, median: pair('median'), p99: pair('p99') });
    }
  }
  const onlyInA = [...ma.keys()].filter((k) => !mb.has(k));
  const onlyInB = [...mb.keys()].filter((k) => !ma.has(k));
  if (json) {
    process.stdout.write(`${JSON.stringify({ a: fa, b: fb, rows, onlyInA, onlyInB, duplicates }, null, 2)}\n`);
    return 0;
  }
  const ratio = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : 'n/a');
  const machine = (r: BenchReport) => (r.machine ? `${r.machine.cpu}, ${r.machine.cores} cores` : 'unknown machine');
  const lines = [
    `# sonoedge bench --compare`,
    '',
    `a: ${fa} (${machine(ra)}, ONNX Runtime ${ra.onnxruntime ?? '?'}, ${ra.date ?? '?'})`,
    `b: ${fb} (${machine(rb)}, ONNX Runtime ${rb.onnxruntime ?? '?'}, ${rb.date ?? '?'})`,
    'Ratios are b/a: below 1 means b is faster. Configurations are matched by package, variant and the provider that ran.',
    '',
    '| configuration | stage | median a | median b | median b/a | p99 a | p99 b | p99 b/a |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.configuration} | ${STAGE_LABELS[r.stage]} | ${ms(r.median.a)} | ${ms(r.median.b)} | ${ratio(r.median.ratio)} | ${ms(r.p99.a)} | ${ms(r.p99.b)} | ${ratio(r.p99.ratio)} |`),
  ];
  if (onlyInA.length + onlyInB.length + duplicates.length > 0) {
    lines.push('', 'Not compared:', '');
    for (const k of onlyInA) lines.push(`- ${k}: only in a (${fa})`);
    for (const k of onlyInB) lines.push(`- ${k}: only in b (${fb})`);
    for (const k of duplicates) lines.push(`- ${k}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
