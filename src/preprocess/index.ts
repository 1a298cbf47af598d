// Frame preprocessing: a plan compiled once per (input geometry, model input
// spec), run on every frame straight into a caller-owned tensor.
import { native, type NativePlanHandle } from '../native.js';
import { coded, invalidType, invalidValue, rangeError, type CodedError } from '../errors.js';
import { isBytes, isInteger } from '../util/is.js';
import { resolveOptions, type PreprocessOptions } from './options.js';
import {
  DType, SimdLevel,
  type DTypeName, type OutputArray, type ResolvedPlanOptions, type SimdLevelName,
} from './types.js';

export type FrameData = ArrayBufferView | ArrayBuffer;

const DTYPE_NAMES = Object.fromEntries(Object.entries(DType).map(([k, v]) => [v, k])) as Record<number, DTypeName>;
const SIMD_NAMES = Object.fromEntries(Object.entries(SimdLevel).map(([k, v]) => [v, k])) as Record<number, SimdLevelName>;

const OUTPUT_CTORS: Record<DTypeName, { name: string; ctor: new (n: number) => OutputArray }> = {
  float32: { name: 'Float32Array', ctor: Float32Array },
  float16: { name: 'Uint16Array (binary16 bits)', ctor: Uint16Array },
  uint8: { name: 'Uint8Array', ctor: Uint8Array },
  int8: { name: 'Int8Array', ctor: Int8Array },
};

export class Preprocessor {
  /** The resolved options, every default filled in. */
  readonly options: Readonly<ResolvedPlanOptions>;
  /** Minimum frame size in bytes for the declared geometry. */
  readonly requiredInputBytes: number;
  /** Output tensor length in elements (the whole batch). */
  readonly outputLength: number;
  /** Kernel family in use: 'scalar', 'sse41', 'avx2' or 'neon'. */
  readonly simd: SimdLevelName;
  readonly dtype: DTypeName;
  readonly #plan: NativePlanHandle;

  constructor(options: PreprocessOptions) {
    this.options = Object.freeze(resolveOptions(options));
    this.#plan = new (native().NativePlan)(this.options as ResolvedPlanOptions);
    this.requiredInputBytes = this.#plan.requiredInputBytes;
    this.outputLength = this.#plan.outputElements;
    this.simd = SIMD_NAMES[this.#plan.simdLevel] ?? 'scalar';
    this.dtype = DTYPE_NAMES[this.options.dtype];
  }

  /** A new zeroed output tensor of the right type and length. */
  createOutput(): OutputArray {
    return new OUTPUT_CTORS[this.dtype].ctor(this.outputLength);
  }

  #check(frame: FrameData, out: OutputArray, batchIndex: number): void {
    if (!isBytes(frame)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'Buffer, TypedArray or ArrayBuffer', 'frame', frame);
    const bytes = frame.byteLength;
    if (bytes < this.requiredInputBytes) {
      const o = this.options;
      throw rangeError('ERR_SONOEDGE_FRAME_TOO_SHORT',
        `Expected frame of at least ${this.requiredInputBytes} bytes for ${o.width}x${o.height} with stride ${o.stride} but received ${bytes} bytes`);
    }
    const want = OUTPUT_CTORS[this.dtype];
    if (!(out instanceof want.ctor)) {
      throw invalidType('ERR_SONOEDGE_OUTPUT_TYPE', `${want.name} for dtype ${this.dtype}`, 'output', out);
    }
    if (out.length !== this.outputLength) {
      throw invalidValue('ERR_SONOEDGE_OUTPUT_SIZE', `${want.ctor.name} of length ${this.outputLength}`, 'output', out);
    }
    if (!isInteger(batchIndex) || batchIndex < 0 || batchIndex >= this.options.batchSize) {
      throw invalidValue('ERR_SONOEDGE_BATCH_INDEX', `integer between 0 and ${this.options.batchSize - 1}`, 'batchIndex', batchIndex);
    }
  }

  /** Preprocesses `frame` into slot `batchIndex` of `out`, synchronously. Returns `out`. */
  run<T extends OutputArray>(frame: FrameData, out: T, batchIndex = 0): T {
    this.#check(frame, out, batchIndex);
    this.#plan.run(frame, out, batchIndex);
    return out;
  }

  /**
   * The same on the libuv thread pool; the event loop stays free. Neither
   * `frame` nor `out` may be modified until the promise settles.
   */
  async runAsync<T extends OutputArray>(frame: FrameData, out: T, batchIndex = 0): Promise<T> {
    this.#check(frame, out, batchIndex);
    const callSite = new Error('runAsync');
    try {
      await this.#plan.runAsync(frame, out, batchIndex);
    } catch (err) {
      // Graft the native message onto the caller's stack.
      const e = err as CodedError;
      e.stack = `${e.name}: ${e.message}\n${(callSite.stack ?? '').split('\n').slice(1).join('\n')}`;
      throw coded(e, e.code ?? 'ERR_SONOEDGE_PLAN_OPTION');
    }
    return out;
  }
}

export { resolveOptions } from './options.js';
export type { PreprocessOptions, InputGeometry, OutputSpec, Roi, ScanConversion, Normalize } from './options.js';
export * from './types.js';

/** The kernel family `simd: 'auto'` resolves to on this CPU. */
export function bestSimdLevel(): SimdLevelName {
  return SIMD_NAMES[native().bestSimdLevel] ?? 'scalar';
}
