// The image codecs DICOM encapsulates, each a well-kept library rather than a
// decoder of our own: libjpeg-turbo (JPEG baseline and extended, 8-bit),
// jpeg-lossless-decoder-js (JPEG lossless, process 14), CharLS (JPEG-LS),
// OpenJPEG (JPEG 2000) and OpenJPH (HTJ2K), the WASM builds Cornerstone
// publishes. Each module is instantiated once, on first use; every decoder
// object is deleted after its frame, and the pixels are copied out of the
// WASM heap before it is.
import { createRequire } from 'node:module';
import { rangeError } from '../errors.js';

const require = createRequire(import.meta.url);

/** A decoded frame as the codec returned it: interleaved samples, row by row. */
export interface CodecFrame {
  width: number;
  height: number;
  components: number;
  /** Bits per sample the codestream declares (its precision). */
  bitsPerSample: number;
  /** Whether the codestream says its samples are signed (JPEG 2000 only; false elsewhere). */
  signed: boolean;
  /** 8-bit samples for a precision up to 8, 16-bit (native byte order) above. */
  pixels: Uint8Array | Int8Array | Uint16Array | Int16Array;
}

interface WasmBuffer { set(src: Uint8Array): void; length: number; slice(): Uint8Array; buffer: ArrayBuffer; byteOffset: number; byteLength: number }
interface FrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean }
interface WasmDecoder {
  getEncodedBuffer(length: number): WasmBuffer;
  getDecodedBuffer(): WasmBuffer;
  decode(): void;
  getFrameInfo(): FrameInfo;
  getInterleaveMode?(): number;
  getColorSpace?(): number;
  getIsHeaderValid?(): boolean;
  getLastErrorMessage?(): string;
  delete(): void;
}
type DecoderName = 'JPEGDecoder' | 'JpegLSDecoder' | 'J2KDecoder' | 'HTJ2KDecoder';
type WasmModule = Record<DecoderName, new () => WasmDecoder>;

/** Which package and entry point holds each decoder (the decode-only builds where there is one). */
const MODULES: Record<DecoderName, { pkg: string; entry: string; library: string }> = {
  JPEGDecoder: { pkg: '@cornerstonejs/codec-libjpeg-turbo-8bit', entry: '@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', library: 'libjpeg-turbo' },
  JpegLSDecoder: { pkg: '@cornerstonejs/codec-charls', entry: '@cornerstonejs/codec-charls/decodewasmjs', library: 'CharLS' },
  J2KDecoder: { pkg: '@cornerstonejs/codec-openjpeg', entry: '@cornerstonejs/codec-openjpeg/decodewasmjs', library: 'OpenJPEG' },
  HTJ2KDecoder: { pkg: '@cornerstonejs/codec-openjph', entry: '@cornerstonejs/codec-openjph/wasmjs', library: 'OpenJPH' },
};

const loaded = new Map<DecoderName, Promise<WasmModule>>();

function load(name: DecoderName): Promise<WasmModule> {
  let p = loaded.get(name);
  if (p === undefined) {
    p = (async () => {
      const m = MODULES[name];
      let factory: (opts?: object) => Promise<WasmModule>;
      try {
        factory = require(m.entry) as typeof factory;
      } catch (err) {
        throw rangeError('ERR_SONOEDGE_DICOM_CODEC', `Expected the ${m.library} decoder from the npm package ${m.pkg} but received none (${(err as Error).message.split('\n')[0]}); run npm install`);
      }
      // Emscripten prints aborts itself; keep them off the user's terminal, the thrown error says it.
      return factory({ print: () => {}, printErr: () => {} });
    })();
    p.catch(() => loaded.delete(name));
    loaded.set(name, p);
  }
  return p;
}

/** Loads every decoder now (the first frame of a kind otherwise pays for it). */
export async function loadCodecs(): Promise<void> {
  await Promise.all((Object.keys(MODULES) as DecoderName[]).map(load));
}

/** The library behind each codec, for `dicom inspect` and the docs. */
export function codecLibrary(name: DecoderName): string {
  return `${MODULES[name].library} (${MODULES[name].pkg})`;
}

const codecError = (what: string, frame: number, bytes: number, why: string) =>
  rangeError('ERR_SONOEDGE_DICOM_DECODE', `Expected a decodable ${what} frame ${frame} but received ${bytes} bytes that are not (${why})`);

async function runWasm(name: DecoderName, what: string, data: Uint8Array, frame: number): Promise<CodecFrame> {
  const mod = await load(name);
  const decoder = new mod[name]();
  try {
    const enc = decoder.getEncodedBuffer(data.length);
    enc.set(data);
    try {
      decoder.decode();
    } catch (err) {
      const why = decoder.getLastErrorMessage?.() || wasmMessage(err);
      throw codecError(what, frame, data.length, why);
    }
    const info = decoder.getFrameInfo();
    const out = decoder.getDecodedBuffer();
    const bytes = new Uint8Array(out.buffer, out.byteOffset, out.byteLength).slice();
    const wide = info.bitsPerSample > 8;
    const want = info.width * info.height * info.componentCount * (wide ? 2 : 1);
    if (bytes.length < want) {
      throw codecError(what, frame, data.length, `${MODULES[name].library} returned ${bytes.length} bytes for a ${info.width}x${info.height}x${info.componentCount} image of ${info.bitsPerSample} bits`);
    }
    const signed = info.isSigned === true;
    const pixels = wide
      ? (signed ? new Int16Array(bytes.buffer, 0, want / 2) : new Uint16Array(bytes.buffer, 0, want / 2))
      : bytes.subarray(0, want);
    return { width: info.width, height: info.height, components: info.componentCount, bitsPerSample: info.bitsPerSample, signed, pixels, ...(name === 'JpegLSDecoder' ? { interleave: decoder.getInterleaveMode!() } : {}) };
  } finally {
    decoder.delete();
  }
}

/** Emscripten throws numbers (a C++ exception pointer) or RuntimeErrors; one line either way. */
function wasmMessage(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0];
  return typeof err === 'number' ? 'the decoder aborted' : String(err);
}

/** JPEG baseline and extended (8-bit samples), through libjpeg-turbo; RGB out for three components. */
export function decodeJpeg(data: Uint8Array, frame: number): Promise<CodecFrame> {
  return runWasm('JPEGDecoder', 'JPEG', data, frame);
}

/** JPEG-LS lossless and near-lossless, through CharLS; `interleave` 0 means planes one after another. */
export function decodeJpegLs(data: Uint8Array, frame: number): Promise<CodecFrame & { interleave?: number }> {
  return runWasm('JpegLSDecoder', 'JPEG-LS', data, frame);
}

/** JPEG 2000 (Part 1 codestream), through OpenJPEG; a multiple component transform is undone by the codec. */
export function decodeJ2k(data: Uint8Array, frame: number): Promise<CodecFrame> {
  return runWasm('J2KDecoder', 'JPEG 2000', data, frame);
}

/** High-Throughput JPEG 2000 (Part 15), through OpenJPH. */
export function decodeHtj2k(data: Uint8Array, frame: number): Promise<CodecFrame> {
  return runWasm('HTJ2KDecoder', 'HTJ2K', data, frame);
}

interface LosslessDecoder { decode(buffer: ArrayBuffer, offset: number, length: number, numBytes?: number): ArrayLike<number> & { buffer: ArrayBuffer }; numComp: number; xDim: number; yDim: number; precision?: number }

/** JPEG lossless (process 14, any predictor), through jpeg-lossless-decoder-js; `bytesPerSample` 1 or 2. */
export function decodeJpegLossless(data: Uint8Array, frame: number, bytesPerSample: 1 | 2): CodecFrame {
  const { Decoder } = require('jpeg-lossless-decoder-js') as { Decoder: new () => LosslessDecoder };
  const decoder = new Decoder();
  let out: ArrayLike<number> & { buffer: ArrayBuffer };
  try {
    out = decoder.decode(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength, bytesPerSample);
  } catch (err) {
    throw codecError('JPEG lossless', frame, data.length, wasmMessage(err));
  }
  const components = decoder.numComp;
  const n = decoder.xDim * decoder.yDim * components;
  const pixels = bytesPerSample === 2 ? new Uint16Array(n) : new Uint8Array(n);
  for (let i = 0; i < n; i++) pixels[i] = out[i];
  return { width: decoder.xDim, height: decoder.yDim, components, bitsPerSample: decoder.precision ?? 8 * bytesPerSample, signed: false, pixels };
}
