// Validates the public engine options once and resolves them into the flat
// object native code copies (src/native.ts NativeEngineOptions): provider
// options mapped to ONNX Runtime's own keys, every default filled in.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { invalidType, invalidValue, typeError } from '../errors.js';
import { isBoolean, isInteger, isNumber, isString, isObject } from '../util/is.js';
import { checkKeys, closest } from '../util/options.js';
import type { NativeEngineOptions } from '../native.js';

export const PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;
export type ProviderName = (typeof PROVIDERS)[number];
/** native/engine/engine.h ProviderKind. */
export const ProviderKind: Record<ProviderName, number> = { tensorrt: 0, cuda: 1, cpu: 2 };

export const GraphOptimization = { disabled: 0, basic: 1, extended: 2, layout: 3, all: 99 } as const;
export type GraphOptimizationName = keyof typeof GraphOptimization;
export const LogSeverity = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const;
export type LogSeverityName = keyof typeof LogSeverity;

export interface TensorRTOptions {
  deviceId?: number;
  fp16?: boolean;
  int8?: boolean;
  /** Calibration table file name, inside the cache directory (ORT's convention). Needs int8. */
  int8CalibrationTable?: string;
  /** The table is TensorRT's native format rather than ORT's flatbuffer. */
  int8UseNativeCalibrationTable?: boolean;
  /**
   * Root of the engine and timing caches. The engine uses
   * `<cacheDir>/<model sha256>/<gpu>/trt-<TensorRT version>/`, so a new model,
   * GPU or TensorRT never picks up a stale engine.
   */
  cacheDir?: string;
  /** GPU part of the cache key; default read from the driver (/proc), else "unknown-gpu". */
  gpu?: string;
  /** TensorRT part of the cache key; default from libnvinfer.so.X.Y.Z, else "unknown". */
  tensorrtVersion?: string;
  /** Timing cache beside the engine cache; default true when cacheDir is set. */
  timingCache?: boolean;
  /** Builder workspace in bytes. */
  workspaceSize?: number;
  /** TensorRT builder optimisation level, 0..5. */
  builderOptimizationLevel?: number;
}

export interface CUDAOptions {
  deviceId?: number;
  arenaExtendStrategy?: 'nextPowerOfTwo' | 'sameAsRequested';
  cudnnConvAlgoSearch?: 'exhaustive' | 'heuristic' | 'default';
  /** Bytes; 0 for no limit. */
  gpuMemLimit?: number;
}

export interface CPUOptions {
  /** ONNX Runtime's CPU memory arena; default true. */
  arena?: boolean;
}

export interface EngineOptions {
  /** Execution providers in priority order; default ['cpu']. */
  providers?: readonly ProviderName[];
  tensorrt?: TensorRTOptions;
  cuda?: CUDAOptions;
  cpu?: CPUOptions;
  /** Threads inside one operator; default 0 (ONNX Runtime's choice: one per core). */
  intraOpThreads?: number;
  /** Threads across operators; default 0 (sequential execution). */
  interOpThreads?: number;
  graphOptimization?: GraphOptimizationName;
  /** Where ONNX Runtime writes the optimised model at load (a cache for inspection or a faster later load). */
  optimizedModelPath?: string;
  /** Values for named free (symbolic) dimensions, e.g. { N: 1 }. */
  freeDimensions?: Record<string, number>;
  /** Deterministic kernels and sequential execution: bit-identical results run to run. */
  deterministic?: boolean;
  /** Runs on zero inputs at load, before the engine is handed out; default 1. */
  warmupRuns?: number;
  /** libonnxruntime to load; default ORT_ROOT/lib's, else onnxruntime-node's. */
  libraryPath?: string;
  /** ONNX Runtime's own session log level; default 'error'. */
  logSeverity?: LogSeverityName;
  /**
   * Whether ONNX Runtime's intra-op and inter-op pool threads spin waiting for work before they sleep
   * (`session.intra_op.allow_spinning` and `session.inter_op.allow_spinning`). Default false: they
   * sleep between runs, so that on a cart's few cores they do not take CPU from the event loop that
   * serves the firmware; the price is their wake-up at each parallel section (measured:
   * docs/BENCHMARKS.md, "Where an engine run's time goes"). Set true on cores reserved for inference.
   * Changes nothing at intraOpThreads 1 (no pool threads). Not together with those keys in sessionConfig.
   */
  spinning?: boolean;
  /**
   * Runs expected to take at most this many milliseconds run inline, on the JavaScript thread, when
   * nothing is queued on the engine: no hop to the session thread and back. The expectation is the
   * binding's previous run (its first run: the warm-up's time per run). An inline run blocks the event
   * loop for its duration, so inline time is budgeted per turn of the loop across every engine: the
   * first run past this many milliseconds since the last turn settles after a turn, and until then
   * further runs go to the session thread (src/engine/index.ts, LoopBudget). Default 0.5; 0: never inline.
   */
  inlineRunMaxMs?: number;
  /**
   * ONNX Runtime session config entries (onnxruntime_session_options_config_keys.h), passed as they are.
   * `session.intra_op.allow_spinning` and `session.inter_op.allow_spinning` default to "0" (see spinning).
   */
  sessionConfig?: Record<string, string>;
  /** Receives the engine's log lines (which provider runs, why others did not); default stderr. */
  log?: ((line: string) => void) | false;
}

export interface ResolvedEngineOptions extends NativeEngineOptions {
  providerNames: ProviderName[];
  /** EngineOptions.inlineRunMaxMs (decided in TypeScript: src/engine/index.ts BoundRun.run). */
  inlineRunMaxMs: number;
  /** The TensorRT cache directory, when TensorRT is requested with a cacheDir. */
  tensorrtCachePath?: string;
}

/** Pool threads sleep between runs unless the caller says otherwise (see EngineOptions.spinning). */
const SPIN_KEYS = ['session.intra_op.allow_spinning', 'session.inter_op.allow_spinning'] as const;

const TOP_KEYS = ['providers', 'tensorrt', 'cuda', 'cpu', 'intraOpThreads', 'interOpThreads', 'graphOptimization',
  'optimizedModelPath', 'freeDimensions', 'deterministic', 'warmupRuns', 'libraryPath', 'logSeverity',
  'spinning', 'inlineRunMaxMs', 'sessionConfig', 'log'] as const;
const TRT_KEYS = ['deviceId', 'fp16', 'int8', 'int8CalibrationTable', 'int8UseNativeCalibrationTable', 'cacheDir',
  'gpu', 'tensorrtVersion', 'timingCache', 'workspaceSize', 'builderOptimizationLevel'] as const;
const CUDA_KEYS = ['deviceId', 'arenaExtendStrategy', 'cudnnConvAlgoSearch', 'gpuMemLimit'] as const;
const CPU_KEYS = ['arena'] as const;

export const MAX_THREADS = 1024;
export const MAX_WARMUP_RUNS = 1000;
/** EngineOptions.inlineRunMaxMs's default: see docs/BENCHMARKS.md, "Where an engine run's time goes". */
export const DEFAULT_INLINE_RUN_MAX_MS = 0.5;
export const MAX_INLINE_RUN_MAX_MS = 1000;

function int(value: unknown, name: string, lo: number, hi: number): number {
  const expected = `integer between ${lo} and ${hi}`;
  if (!isNumber(value)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', expected, name, value);
  if (!isInteger(value) || value < lo || value > hi) throw invalidValue('ERR_SONOEDGE_ENGINE_OPTION', expected, name, value);
  return value;
}
function inlineMax(value: unknown): number {
  const expected = `number between 0 and ${MAX_INLINE_RUN_MAX_MS}`;
  if (!isNumber(value)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', expected, 'inlineRunMaxMs', value);
  if (!Number.isFinite(value) || value < 0 || value > MAX_INLINE_RUN_MAX_MS) {
    throw invalidValue('ERR_SONOEDGE_ENGINE_OPTION', expected, 'inlineRunMaxMs', value);
  }
  return value;
}
function bool(value: unknown, name: string): boolean {
  if (!isBoolean(value)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'boolean', name, value);
  return value;
}
function str(value: unknown, name: string): string {
  if (!isString(value) || value.length === 0) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'non-empty string', name, value);
  return value;
}
function oneOf<T extends string>(value: unknown, name: string, names: readonly T[]): T {
  const expected = `one of ${names.join(', ')}`;
  if (!isString(value)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', expected, name, value);
  if (!names.includes(value as T)) {
    const err = invalidValue('ERR_SONOEDGE_ENGINE_OPTION', expected, name, value);
    const hint = closest(value, names);
    if (hint) err.message += `; did you mean ${JSON.stringify(hint)}?`;
    throw err;
  }
  return value as T;
}

/** A path-safe cache key part. */
const slug = (s: string): string => s.trim().replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'unknown';

/** The GPU's model name from the NVIDIA driver, or the Jetson board's model; undefined when neither. */
export function detectGpu(deviceId = 0): string | undefined {
  try {
    const dir = '/proc/driver/nvidia/gpus';
    if (existsSync(dir)) {
      const gpus = readdirSync(dir).sort();
      const info = gpus[deviceId] ? readFileSync(path.join(dir, gpus[deviceId], 'information'), 'utf8') : '';
      const m = /^Model:\s*(.+)$/m.exec(info);
      if (m) return m[1];
    }
    if (existsSync('/proc/device-tree/model')) {
      const model = readFileSync('/proc/device-tree/model', 'utf8').replace(/\0/g, '');
      if (/jetson|nvidia/i.test(model)) return model;
    }
  } catch {
    // unreadable: unknown
  }
  return undefined;
}

/** TensorRT's version from a libnvinfer.so.X.Y.Z next to the ORT library or in the usual places. */
export function detectTensorRTVersion(libraryDir?: string): string | undefined {
  const dirs = [libraryDir, ...(process.env.LD_LIBRARY_PATH ?? '').split(':'), '/usr/lib/x86_64-linux-gnu',
    '/usr/lib/aarch64-linux-gnu', '/usr/local/cuda/lib64', '/usr/local/tensorrt/lib'];
  for (const dir of dirs) {
    if (!dir || !existsSync(dir)) continue;
    try {
      const v = readdirSync(dir).map((f) => /^libnvinfer\.so\.(\d+\.\d+\.\d+)/.exec(f)).find(Boolean);
      if (v) return v[1];
    } catch {
      // unreadable folder
    }
  }
  return undefined;
}

/** `<cacheDir>/<model sha256>/<gpu>/trt-<version>`: the TensorRT engine and timing cache folder. */
export function tensorrtCachePath(cacheDir: string, modelSha256: string, gpu: string, tensorrtVersion: string): string {
  return path.join(path.resolve(cacheDir), modelSha256, slug(gpu), `trt-${slug(tensorrtVersion)}`);
}

/** The libonnxruntime the engine loads by default: ORT_ROOT's, else onnxruntime-node's for this platform. */
export function defaultLibraryPath(): string {
  const ortRoot = process.env.ORT_ROOT;
  if (ortRoot) {
    const lib = path.join(ortRoot, 'lib');
    const names = existsSync(lib) ? readdirSync(lib).filter((f) => /^libonnxruntime\.so(\.\d+)*$/.test(f)).sort() : [];
    return path.join(lib, names[0] ?? 'libonnxruntime.so');
  }
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve('onnxruntime-node'));
  while (!existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  return path.join(dir, 'bin', 'napi-v6', process.platform, arch, 'libonnxruntime.so.1');
}

export function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/**
 * Validates `options` and fills in every default. `modelSha256` is asked for
 * only when the TensorRT cache path needs it. Throws TypeError/RangeError with a code.
 */
export function resolveEngineOptions(modelPath: string, options: EngineOptions, modelSha256: () => string): ResolvedEngineOptions {
  const o = checkKeys(options, 'options', TOP_KEYS);
  let providerNames: ProviderName[] = ['cpu'];
  if (o.providers !== undefined) {
    if (!Array.isArray(o.providers) || o.providers.length === 0) {
      throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', `non-empty array of ${PROVIDERS.join(', ')}`, 'providers', o.providers);
    }
    providerNames = o.providers.map((p, i) => oneOf(p, `providers[${i}]`, PROVIDERS));
    const dup = providerNames.find((p, i) => providerNames.indexOf(p) !== i);
    if (dup) throw invalidValue('ERR_SONOEDGE_ENGINE_OPTION', 'each provider at most once', 'providers', o.providers);
  }
  for (const p of PROVIDERS) {
    if (o[p] !== undefined && !providerNames.includes(p)) {
      throw typeError('ERR_SONOEDGE_ENGINE_OPTION', `Options for ${p} given but ${p} is not in providers (${providerNames.join(', ')})`);
    }
  }
  const libraryPath = o.libraryPath === undefined ? defaultLibraryPath() : str(o.libraryPath, 'libraryPath');

  const providers: NativeEngineOptions['providers'] = [];
  let tensorrtCachePathOut: string | undefined;
  for (const name of providerNames) {
    const kv: [string, string][] = [];
    let cpuArena = true;
    if (name === 'tensorrt') {
      const t = o.tensorrt === undefined ? {} : checkKeys(o.tensorrt, 'tensorrt', TRT_KEYS);
      const deviceId = t.deviceId === undefined ? 0 : int(t.deviceId, 'tensorrt.deviceId', 0, 63);
      kv.push(['device_id', String(deviceId)]);
      if (t.fp16 !== undefined) kv.push(['trt_fp16_enable', bool(t.fp16, 'tensorrt.fp16') ? '1' : '0']);
      const int8 = t.int8 === undefined ? false : bool(t.int8, 'tensorrt.int8');
      if (int8) kv.push(['trt_int8_enable', '1']);
      if (t.int8CalibrationTable !== undefined) {
        if (!int8) throw invalidValue('ERR_SONOEDGE_ENGINE_OPTION', 'int8: true with a calibration table', 'tensorrt.int8', t.int8);
        kv.push(['trt_int8_calibration_table_name', str(t.int8CalibrationTable, 'tensorrt.int8CalibrationTable')]);
      }
      if (t.int8UseNativeCalibrationTable !== undefined) {
        kv.push(['trt_int8_use_native_calibration_table', bool(t.int8UseNativeCalibrationTable, 'tensorrt.int8UseNativeCalibrationTable') ? '1' : '0']);
      }
      if (t.workspaceSize !== undefined) kv.push(['trt_max_workspace_size', String(int(t.workspaceSize, 'tensorrt.workspaceSize', 1 << 20, Number.MAX_SAFE_INTEGER))]);
      if (t.builderOptimizationLevel !== undefined) {
        kv.push(['trt_builder_optimization_level', String(int(t.builderOptimizationLevel, 'tensorrt.builderOptimizationLevel', 0, 5))]);
      }
      if (t.cacheDir !== undefined) {
        const cacheDir = str(t.cacheDir, 'tensorrt.cacheDir');
        const gpu = t.gpu === undefined ? detectGpu(deviceId) ?? 'unknown-gpu' : str(t.gpu, 'tensorrt.gpu');
        const trt = t.tensorrtVersion === undefined ? detectTensorRTVersion(path.dirname(libraryPath)) ?? 'unknown'
          : str(t.tensorrtVersion, 'tensorrt.tensorrtVersion');
        tensorrtCachePathOut = tensorrtCachePath(cacheDir, modelSha256(), gpu, trt);
        kv.push(['trt_engine_cache_enable', '1'], ['trt_engine_cache_path', tensorrtCachePathOut]);
        const timing = t.timingCache === undefined ? true : bool(t.timingCache, 'tensorrt.timingCache');
        if (timing) kv.push(['trt_timing_cache_enable', '1'], ['trt_timing_cache_path', tensorrtCachePathOut]);
      } else {
        for (const k of ['timingCache', 'int8CalibrationTable', 'gpu', 'tensorrtVersion'] as const) {
          if (t[k] !== undefined) {
            throw invalidValue('ERR_SONOEDGE_ENGINE_OPTION', 'a tensorrt.cacheDir to go with it', `tensorrt.${k}`, t[k]);
          }
        }
      }
    } else if (name === 'cuda') {
      const c = o.cuda === undefined ? {} : checkKeys(o.cuda, 'cuda', CUDA_KEYS);
      kv.push(['device_id', String(c.deviceId === undefined ? 0 : int(c.deviceId, 'cuda.deviceId', 0, 63))]);
      if (c.arenaExtendStrategy !== undefined) {
        const s = oneOf(c.arenaExtendStrategy, 'cuda.arenaExtendStrategy', ['nextPowerOfTwo', 'sameAsRequested'] as const);
        kv.push(['arena_extend_strategy', s === 'nextPowerOfTwo' ? 'kNextPowerOfTwo' : 'kSameAsRequested']);
      }
      if (c.cudnnConvAlgoSearch !== undefined) {
        const s = oneOf(c.cudnnConvAlgoSearch, 'cuda.cudnnConvAlgoSearch', ['exhaustive', 'heuristic', 'default'] as const);
        kv.push(['cudnn_conv_algo_search', s.toUpperCase()]);
      }
      if (c.gpuMemLimit !== undefined) kv.push(['gpu_mem_limit', String(int(c.gpuMemLimit, 'cuda.gpuMemLimit', 0, Number.MAX_SAFE_INTEGER))]);
    } else {
      const c = o.cpu === undefined ? {} : checkKeys(o.cpu, 'cpu', CPU_KEYS);
      if (c.arena !== undefined) cpuArena = bool(c.arena, 'cpu.arena');
    }
    providers.push({ kind: ProviderKind[name], options: kv, cpuArena });
  }

  const freeDimensions: [string, number][] = [];
  if (o.freeDimensions !== undefined) {
    if (!isObject(o.freeDimensions)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'object', 'freeDimensions', o.freeDimensions);
    for (const [k, v] of Object.entries(o.freeDimensions)) freeDimensions.push([k, int(v, `freeDimensions.${k}`, 1, 2 ** 31 - 1)]);
  }
  const configEntries: [string, string][] = [];
  const spinning = o.spinning === undefined ? false : bool(o.spinning, 'spinning');
  for (const key of SPIN_KEYS) {
    const raw = isObject(o.sessionConfig) && key in o.sessionConfig;
    if (raw && o.spinning !== undefined) {
      throw typeError('ERR_SONOEDGE_ENGINE_OPTION', `Expected spinning or sessionConfig[${JSON.stringify(key)}] but received both`);
    }
    if (!raw) configEntries.push([key, spinning ? '1' : '0']);
  }
  if (o.sessionConfig !== undefined) {
    if (!isObject(o.sessionConfig)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'object', 'sessionConfig', o.sessionConfig);
    for (const [k, v] of Object.entries(o.sessionConfig)) {
      if (!isString(v)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'string', `sessionConfig.${k}`, v);
      configEntries.push([k, v]);
    }
  }
  if (o.log !== undefined && o.log !== false && typeof o.log !== 'function') {
    throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'function or false', 'log', o.log);
  }
  return {
    libraryPath,
    modelPath,
    intraOpThreads: o.intraOpThreads === undefined ? 0 : int(o.intraOpThreads, 'intraOpThreads', 0, MAX_THREADS),
    interOpThreads: o.interOpThreads === undefined ? 0 : int(o.interOpThreads, 'interOpThreads', 0, MAX_THREADS),
    graphOptimizationLevel: GraphOptimization[o.graphOptimization === undefined ? 'all'
      : oneOf(o.graphOptimization, 'graphOptimization', Object.keys(GraphOptimization) as GraphOptimizationName[])],
    optimizedModelPath: o.optimizedModelPath === undefined ? '' : str(o.optimizedModelPath, 'optimizedModelPath'),
    freeDimensions,
    deterministic: o.deterministic === undefined ? false : bool(o.deterministic, 'deterministic'),
    logSeverity: LogSeverity[o.logSeverity === undefined ? 'error'
      : oneOf(o.logSeverity, 'logSeverity', Object.keys(LogSeverity) as LogSeverityName[])],
    configEntries,
    providers,
    warmupRuns: o.warmupRuns === undefined ? 1 : int(o.warmupRuns, 'warmupRuns', 0, MAX_WARMUP_RUNS),
    inlineRunMaxMs: o.inlineRunMaxMs === undefined ? DEFAULT_INLINE_RUN_MAX_MS : inlineMax(o.inlineRunMaxMs),
    providerNames,
    ...(tensorrtCachePathOut === undefined ? {} : { tensorrtCachePath: tensorrtCachePathOut }),
  };
}
