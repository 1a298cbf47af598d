// The inference engine: an ONNX Runtime session in our own addon, with
// execution providers in priority order, inputs and outputs bound once to
// caller-owned typed arrays, and runs on the session's own native thread
// (or inline on the JavaScript thread when short: EngineOptions.inlineRunMaxMs).
//
//   const engine = await Engine.load('model.onnx', { providers: ['tensorrt', 'cuda', 'cpu'] });
//   const input = new Float32Array(1 * 1 * 112 * 112);   // preprocessing writes here
//   const logits = new Float32Array(5);
//   const bound = engine.bind({ image: input }, { logits });
//   const { queueMs, runMs } = await bound.run();        // logits now holds the result
import { existsSync, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { coded, invalidType, invalidValue, rangeError, typeError, type CodedError } from '../errors.js';
import { isObject, isString } from '../util/is.js';
import { native, type NativeBindingHandle, type NativeBufferSpec, type NativeSessionHandle, type NativeTensorInfo } from '../native.js';
import type { VerifiedPackage } from '../model/package.js';
import { PROVIDERS, resolveEngineOptions, sha256File, type EngineOptions, type ProviderName, type ResolvedEngineOptions } from './options.js';

export type TypedArray =
  | Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Int16Array
  | Int32Array | Uint32Array | BigInt64Array | BigUint64Array;

type ArrayCtor = new (n: number) => TypedArray;

/** ONNX element types the engine binds, by ONNXTensorElementDataType number. */
export const ELEMENT_TYPES: Record<number, { name: string; ctor: ArrayCtor; ctorName: string }> = {
  1: { name: 'float32', ctor: Float32Array, ctorName: 'Float32Array' },
  2: { name: 'uint8', ctor: Uint8Array, ctorName: 'Uint8Array' },
  3: { name: 'int8', ctor: Int8Array, ctorName: 'Int8Array' },
  4: { name: 'uint16', ctor: Uint16Array, ctorName: 'Uint16Array' },
  5: { name: 'int16', ctor: Int16Array, ctorName: 'Int16Array' },
  6: { name: 'int32', ctor: Int32Array, ctorName: 'Int32Array' },
  7: { name: 'int64', ctor: BigInt64Array, ctorName: 'BigInt64Array' },
  9: { name: 'bool', ctor: Uint8Array, ctorName: 'Uint8Array' },
  10: { name: 'float16', ctor: Uint16Array, ctorName: 'Uint16Array (binary16 bits)' },
  11: { name: 'float64', ctor: Float64Array, ctorName: 'Float64Array' },
  12: { name: 'uint32', ctor: Uint32Array, ctorName: 'Uint32Array' },
  13: { name: 'uint64', ctor: BigUint64Array, ctorName: 'BigUint64Array' },
};

export interface TensorMeta {
  readonly name: string;
  /** 'float32', 'int64', ...; 'unsupported(N)' for an element type the engine cannot bind; 'non-tensor' for sequences and maps. */
  readonly type: string;
  /** Fixed sizes as numbers; a free dimension as its symbol, or '?' when unnamed. */
  readonly shape: readonly (number | string)[];
}

export interface ProviderOutcome {
  readonly provider: ProviderName;
  readonly used: boolean;
  /** Why it does not run (ONNX Runtime's message); '' for the provider in use. */
  readonly reason: string;
}

export interface RunTimings {
  /** From run() to the start of the run on the session thread, milliseconds (monotonic clock). */
  queueMs: number;
  /** ONNX Runtime's Run, milliseconds (monotonic clock). */
  runMs: number;
  /** The run ran inline on the JavaScript thread (EngineOptions.inlineRunMaxMs) rather than on the session thread. */
  inline: boolean;
}

/** A typed array, or one with explicit dims (needed when the model has free dimensions that cannot be inferred). */
export type TensorBuffer = TypedArray | { data: TypedArray; dims: readonly number[] };

export type ModelSource = string | { package: VerifiedPackage; variant: string };

function meta(info: NativeTensorInfo): TensorMeta {
  const t = ELEMENT_TYPES[info.elementType];
  return Object.freeze({
    name: info.name,
    type: info.elementType === 0 ? 'non-tensor' : t ? t.name : `unsupported(${info.elementType})`,
    shape: Object.freeze(info.dims.map((d, i) => (d >= 0 ? d : info.symbols[i] || '?'))),
  });
}

/**
 * The event loop's share of inline runs, one for the thread (every engine's
 * inline runs count). A run goes inline, its promise settling at once, while
 * the inline time since the loop's last turn plus the run's expected time stays
 * within its engine's `inlineRunMaxMs`. The first run past that still goes
 * inline, but its promise settles only after a turn of the loop (setImmediate),
 * and until that turn every further run is queued on the session thread (whose
 * completion comes back through the loop). So a caller awaiting runs back to
 * back keeps running inline and lets timers and I/O in every `inlineRunMaxMs`
 * plus one run, and runs started together (Promise.all, several streams in one
 * turn) block the loop no longer than that either. Queued runs settle after
 * such a delayed one, so promises settle in call order.
 */
class LoopBudget {
  #sinceTurnMs = 0;
  /** An inline run went past the budget: nothing more inline until the turn it waits for. */
  #gate: Promise<void> | undefined;
  #turnScheduled = false;
  readonly #reset = (): void => {
    this.#sinceTurnMs = 0;
    this.#turnScheduled = false;
  };

  /** 'now': run inline, settle at once; 'turn': run inline, settle after the loop's turn; undefined: queue. */
  take(expectedMs: number, maxMs: number): 'now' | 'turn' | undefined {
    if (maxMs <= 0 || this.#gate !== undefined || !(expectedMs <= maxMs)) return undefined;
    return this.#sinceTurnMs + expectedMs <= maxMs ? 'now' : 'turn';
  }

  settle(timings: RunTimings, how: 'now' | 'turn'): Promise<RunTimings> {
    this.#sinceTurnMs += timings.runMs;
    if (!this.#turnScheduled) {
      this.#turnScheduled = true;
      setImmediate(this.#reset);
    }
    if (how === 'now') return Promise.resolve(timings);
    const gate = new Promise<void>((resolve) => setImmediate(() => {
      this.#gate = undefined;
      this.#reset();
      resolve();
    }));
    this.#gate = gate;
    return gate.then(() => timings);
  }

  /** A queued run completed (through the event loop): it settles after a pending delayed inline run. */
  async completed(): Promise<void> {
    this.#sinceTurnMs = 0;
    if (this.#gate !== undefined) await this.#gate;
  }
}

const loopBudget = new LoopBudget();

/** Runs of one set of bound buffers. Inputs are read and outputs written in place by every run. */
export class BoundRun {
  readonly #handle: NativeBindingHandle;
  readonly #engine: Engine;
  /** The engine's inlineRunMaxMs. */
  readonly #maxMs: number;
  /** The expected time of the next run: the previous run's, at first the warm-up's per run. */
  #expectedMs: number;
  /** @internal */
  constructor(engine: Engine, handle: NativeBindingHandle) {
    this.#engine = engine;
    this.#handle = handle;
    this.#maxMs = engine.options.inlineRunMaxMs;
    const warmups = engine.options.warmupRuns;
    this.#expectedMs = warmups > 0 ? engine.warmupMs / warmups : Infinity;
  }

  /**
   * Runs the model on the session's thread: the bound inputs are read, the bound
   * outputs written, nothing is copied. Runs of one engine execute one at a time,
   * in call order; do not write the inputs or read the outputs until it settles.
   * An error inside the run rejects this run only; the engine stays usable.
   * A run expected to take at most `inlineRunMaxMs` runs inline instead, on
   * this thread, when nothing is queued and the event loop's budget allows
   * (LoopBudget): it has run when run() returns; LoopBudget says when its
   * promise settles.
   */
  run(): Promise<RunTimings> {
    if (this.#engine.closed) return Promise.reject(coded(new Error('The engine is closed'), 'ERR_SONOEDGE_ENGINE_CLOSED'));
    const how = loopBudget.take(this.#expectedMs, this.#maxMs);
    if (how !== undefined) {
      let timings: RunTimings | undefined;
      try {
        timings = this.#handle.runInline();  // undefined: the session thread is busy, queue behind it
      } catch (err) {
        return Promise.reject(coded(err as CodedError, (err as CodedError).code ?? 'ERR_SONOEDGE_ENGINE_RUN'));
      }
      if (timings !== undefined) {
        this.#expectedMs = timings.runMs;
        return loopBudget.settle(timings, how);
      }
    }
    return this.#queued();
  }

  async #queued(): Promise<RunTimings> {
    const callSite = new Error('run');
    try {
      const timings = await this.#handle.run();
      this.#expectedMs = timings.runMs;
      await loopBudget.completed();
      return timings;
    } catch (err) {
      await loopBudget.completed();
      const e = err as CodedError;
      e.stack = `${e.name}: ${e.message}\n${(callSite.stack ?? '').split('\n').slice(1).join('\n')}`;
      throw coded(e, e.code ?? 'ERR_SONOEDGE_ENGINE_RUN');
    }
  }
}

export class Engine {
  readonly modelPath: string;
  readonly inputs: readonly TensorMeta[];
  readonly outputs: readonly TensorMeta[];
  /** The execution provider in use: the first of `options.providers` that could be used. */
  readonly provider: ProviderName;
  /** Every requested provider, in priority order, with why it does not run. */
  readonly providerReport: readonly ProviderOutcome[];
  /** The libonnxruntime version in use. */
  readonly onnxruntimeVersion: string;
  readonly warmupMs: number;
  /**
   * The session config entries as ONNX Runtime's session options hold them (GetSessionConfigEntry on the options
   * the session was created from): what ONNX Runtime accepted, not a measurement of what the session then does.
   */
  readonly sessionConfig: Readonly<Record<string, string>>;
  readonly options: Readonly<ResolvedEngineOptions>;
  readonly #session: NativeSessionHandle;
  readonly #infos: { inputs: NativeTensorInfo[]; outputs: NativeTensorInfo[] };
  #closed = false;

  private constructor(options: ResolvedEngineOptions, session: NativeSessionHandle) {
    this.options = Object.freeze(options);
    this.modelPath = options.modelPath;
    this.#session = session;
    this.#infos = { inputs: session.inputs, outputs: session.outputs };
    this.inputs = Object.freeze(this.#infos.inputs.map(meta));
    this.outputs = Object.freeze(this.#infos.outputs.map(meta));
    this.provider = PROVIDERS[session.provider] ?? 'cpu';
    this.providerReport = Object.freeze(session.providerReport.map((r) =>
      Object.freeze({ provider: PROVIDERS[r.kind], used: r.used, reason: r.reason })));
    this.onnxruntimeVersion = session.libraryVersion;
    this.warmupMs = session.warmupMs;
    this.sessionConfig = Object.freeze(Object.fromEntries(session.sessionConfig));
  }

  /**
   * Loads a model file, or a variant of a verified model package, creates the
   * session off the event loop (falling back through `options.providers`) and
   * runs the warm-up. Rejects with a TypeError/RangeError/Error with a code.
   */
  static async load(model: ModelSource, options: EngineOptions = {}): Promise<Engine> {
    let modelPath: string;
    let sha: (() => string) | undefined;
    if (isString(model)) {
      modelPath = path.resolve(model);
      if (!existsSync(modelPath)) {
        throw rangeError('ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND', `Expected an ONNX model file for model but received ${JSON.stringify(model)}, which does not exist`);
      }
      if (!statSync(modelPath).isFile()) {
        const isPackage = existsSync(path.join(modelPath, 'manifest.json'));
        throw rangeError('ERR_SONOEDGE_ENGINE_MODEL_NOT_FOUND', `Expected an ONNX model file for model but received ${JSON.stringify(model)}, which is ${statSync(modelPath).isDirectory()
          ? isPackage ? 'a model package folder (load a package as { package: await verifyModelPackage(dir, ...), variant })' : 'a folder' : 'not a regular file'}`);
      }
      sha = () => sha256File(modelPath);
    } else if (isObject(model) && isObject(model.package) && typeof (model.package as VerifiedPackage).variantPath === 'function') {
      const pkg = model.package as VerifiedPackage;
      if (!isString(model.variant)) throw invalidType('ERR_SONOEDGE_ENGINE_OPTION', 'string', 'variant', model.variant);
      const variant = pkg.manifest.variants[model.variant];
      if (variant === undefined) {
        throw invalidValue('ERR_SONOEDGE_ENGINE_OPTION', `one of ${Object.keys(pkg.manifest.variants).join(', ')}`, 'variant', model.variant);
      }
      modelPath = pkg.variantPath(model.variant);
      sha = () => variant.sha256;  // verified against the file by verifyModelPackage
    } else {
      throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'model path or { package, variant }', 'model', model);
    }
    const log = options.log === false ? undefined : options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
    const resolved = resolveEngineOptions(modelPath, options, sha);
    if (!existsSync(resolved.libraryPath)) {
      throw coded(new Error(`libonnxruntime not found at ${resolved.libraryPath}; install onnxruntime-node or set ORT_ROOT (see docs/DEPLOYMENT.md)`), 'ERR_SONOEDGE_ENGINE_LIBRARY');
    }
    if (resolved.optimizedModelPath && !existsSync(path.dirname(path.resolve(resolved.optimizedModelPath)))) {
      throw rangeError('ERR_SONOEDGE_ENGINE_OPTION',
        `Expected a path in an existing folder for optimizedModelPath but received ${JSON.stringify(resolved.optimizedModelPath)}`);
    }
    if (resolved.tensorrtCachePath) mkdirSync(resolved.tensorrtCachePath, { recursive: true });
    const callSite = new Error('load');
    let session: NativeSessionHandle;
    try {
      session = await native().loadEngine(resolved);
    } catch (err) {
      const e = err as CodedError;
      e.stack = `${e.name}: ${e.message}\n${(callSite.stack ?? '').split('\n').slice(1).join('\n')}`;
      throw coded(e, e.code ?? 'ERR_SONOEDGE_ENGINE_MODEL');
    }
    const engine = new Engine(resolved, session);
    if (log && engine.providerReport.some((r) => !r.used && !r.reason.startsWith('not needed'))) {
      for (const r of engine.providerReport) {
        log(`sonoedge engine: ${path.basename(modelPath)}: ${r.provider} ${r.used ? 'runs' : `not used: ${r.reason}`}`);
      }
    }
    return engine;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** New zeroed arrays of the right type and size for every input and output (free dimensions as `dims`, default 1). */
  allocate(dims: Record<string, number> = {}): { inputs: Record<string, TypedArray>; outputs: Record<string, TypedArray> } {
    const make = (infos: NativeTensorInfo[]) => Object.fromEntries(infos.map((info) => {
      const t = ELEMENT_TYPES[info.elementType];
      if (!t) throw typeError('ERR_SONOEDGE_ENGINE_TENSOR_TYPE', `Expected a tensor of a supported element type for ${info.name} but received ${meta(info).type}`);
      const n = info.dims.reduce((a, d, i) => a * (d >= 0 ? d : dims[info.symbols[i]] ?? 1), 1);
      return [info.name, new t.ctor(n)];
    }));
    return { inputs: make(this.#infos.inputs), outputs: make(this.#infos.outputs) };
  }

  #spec(kind: 'inputs' | 'outputs', name: string, value: unknown): NativeBufferSpec {
    const infos = this.#infos[kind];
    const index = infos.findIndex((i) => i.name === name);
    const where = `${kind}.${name}`;
    if (index < 0) {
      const names = infos.map((i) => i.name);
      throw typeError('ERR_SONOEDGE_ENGINE_BIND',
        `Unknown ${kind === 'inputs' ? 'input' : 'output'} ${JSON.stringify(name)} (the model's: ${names.join(', ')})`);
    }
    const info = infos[index];
    const t = ELEMENT_TYPES[info.elementType];
    if (!t) throw typeError('ERR_SONOEDGE_ENGINE_TENSOR_TYPE', `Expected a tensor of a supported element type for ${where} but received ${meta(info).type}`);
    let data: unknown = value;
    let dims: readonly number[] | undefined;
    if (isObject(value) && 'data' in value) {
      data = value.data;
      if (!Array.isArray(value.dims) || !value.dims.every((d) => Number.isInteger(d) && d >= 0)) {
        throw invalidType('ERR_SONOEDGE_ENGINE_TENSOR_SHAPE', 'array of non-negative integers', `${where}.dims`, value.dims);
      }
      dims = value.dims;
    }
    if (!(data instanceof t.ctor)) throw invalidType('ERR_SONOEDGE_ENGINE_TENSOR_TYPE', `${t.ctorName} (${t.name})`, where, data);
    const length = (data as TypedArray).length;
    const shape = meta(info).shape.join('x');
    if (dims === undefined) {
      const free = info.dims.filter((d) => d < 0).length;
      const fixed = info.dims.reduce((a, d) => (d >= 0 ? a * d : a), 1);
      if (free === 0) {
        dims = info.dims;
      } else if (free === 1 && fixed > 0 && length % fixed === 0 && length > 0) {
        dims = info.dims.map((d) => (d >= 0 ? d : length / fixed));
      } else {
        throw rangeError('ERR_SONOEDGE_ENGINE_TENSOR_SHAPE',
          `Expected { data, dims } for ${where} (shape ${shape} has free dimensions that cannot be inferred from a length) but received ${t.ctorName} of length ${length}`);
      }
    } else {
      const ok = dims.length === info.dims.length && dims.every((d, i) => info.dims[i] < 0 || info.dims[i] === d);
      if (!ok) throw invalidValue('ERR_SONOEDGE_ENGINE_TENSOR_SHAPE', `dims matching ${shape}`, `${where}.dims`, dims);
    }
    const want = dims.reduce((a, d) => a * d, 1);
    if (length !== want) {
      throw invalidValue('ERR_SONOEDGE_ENGINE_TENSOR_SIZE', `${t.ctorName} of length ${want} (${dims.join('x')})`, where, data);
    }
    return { index, elementType: info.elementType, dims: [...dims], data: data as TypedArray };
  }

  /**
   * Binds caller-owned arrays to the model's inputs (all of them) and outputs
   * (any of them, at least one), validated once here; the returned handle runs
   * them with no copy and no allocation of tensors. Keep the arrays (they are
   * referenced) and do not detach their buffers.
   */
  bind(inputs: Record<string, TensorBuffer>, outputs: Record<string, TensorBuffer>): BoundRun {
    if (this.#closed) throw coded(new Error('The engine is closed'), 'ERR_SONOEDGE_ENGINE_CLOSED');
    if (!isObject(inputs)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'object of typed arrays by input name', 'inputs', inputs);
    if (!isObject(outputs)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'object of typed arrays by output name', 'outputs', outputs);
    const ins = Object.entries(inputs).map(([k, v]) => this.#spec('inputs', k, v));
    for (const info of this.#infos.inputs) {
      if (!(info.name in inputs)) {
        throw typeError('ERR_SONOEDGE_ENGINE_BIND', `Expected a typed array for inputs.${info.name} but received undefined (every input must be bound)`);
      }
    }
    const outs = Object.entries(outputs).map(([k, v]) => this.#spec('outputs', k, v));
    if (outs.length === 0) {
      throw typeError('ERR_SONOEDGE_ENGINE_BIND', `Expected at least one output (the model's: ${this.#infos.outputs.map((i) => i.name).join(', ')}) but received none`);
    }
    try {
      return new BoundRun(this, this.#session.bind(ins, outs));
    } catch (err) {
      const e = err as CodedError;
      throw coded(e, e.code ?? 'ERR_SONOEDGE_ENGINE_BIND');
    }
  }

  /** Lets queued runs finish, then stops the session thread and frees the session. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#session.close();
  }
}

export {
  PROVIDERS, GraphOptimization, LogSeverity, resolveEngineOptions, tensorrtCachePath, detectGpu,
  detectTensorRTVersion, defaultLibraryPath,
} from './options.js';
export type {
  EngineOptions, ProviderName, TensorRTOptions, CUDAOptions, CPUOptions, ResolvedEngineOptions,
  GraphOptimizationName, LogSeverityName,
} from './options.js';
