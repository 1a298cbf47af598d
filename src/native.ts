// The raw addon, described in one place and kept private behind the public
// classes. Native code returns enum numbers that TypeScript maps via tables.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import type { ResolvedPlanOptions } from './preprocess/types.js';

export interface NativePlanHandle {
  run(frame: ArrayBufferView | ArrayBuffer, out: ArrayBufferView, batchIndex: number): ArrayBufferView;
  runAsync(frame: ArrayBufferView | ArrayBuffer, out: ArrayBufferView, batchIndex: number): Promise<ArrayBufferView>;
  readonly requiredInputBytes: number;
  readonly outputElements: number;
  readonly simdLevel: number;
}

/** A model input or output as the engine reads it (native/engine/engine.h TensorInfo). */
export interface NativeTensorInfo {
  name: string;
  /** ONNXTensorElementDataType; 0 for a non-tensor value. */
  elementType: number;
  /** -1 for a free dimension. */
  dims: number[];
  /** The free dimensions' names; '' where none. */
  symbols: string[];
}

export interface NativeProviderOutcome {
  /** ProviderKind: 0 tensorrt, 1 cuda, 2 cpu. */
  kind: number;
  used: boolean;
  reason: string;
}

export interface NativeBufferSpec {
  index: number;
  elementType: number;
  dims: number[];
  data: ArrayBufferView;
}

export interface NativeBindingHandle {
  /** Queues a run on the session's thread; resolves with monotonic-clock timings. */
  run(): Promise<{ queueMs: number; runMs: number; inline: boolean }>;
  /**
   * Runs on the calling thread and returns the timings; undefined, without
   * running, while a run is queued or running on the session's thread or the
   * session is closed. A failed run throws.
   */
  runInline(): { queueMs: number; runMs: number; inline: boolean } | undefined;
}

export interface NativeSessionHandle {
  readonly inputs: NativeTensorInfo[];
  readonly outputs: NativeTensorInfo[];
  readonly provider: number;
  readonly providerReport: NativeProviderOutcome[];
  readonly libraryVersion: string;
  readonly warmupMs: number;
  /** The session config entries as ONNX Runtime holds them (read back after creation), in the order set. */
  readonly sessionConfig: [string, string][];
  bind(inputs: NativeBufferSpec[], outputs: NativeBufferSpec[]): NativeBindingHandle;
  /** Runs what is queued, then stops the thread and releases the session. */
  close(): Promise<void>;
}

/** The flat engine options (src/engine/options.ts ResolvedEngineOptions) as native code reads them. */
export interface NativeEngineOptions {
  libraryPath: string;
  modelPath: string;
  intraOpThreads: number;
  interOpThreads: number;
  graphOptimizationLevel: number;
  optimizedModelPath: string;
  freeDimensions: [string, number][];
  deterministic: boolean;
  logSeverity: number;
  configEntries: [string, string][];
  providers: { kind: number; options: [string, string][]; cpuArena: boolean }[];
  warmupRuns: number;
}

/**
 * A named POSIX shared-memory object mapped read-only (native/binding/shm.cc).
 * `buffer` is an external ArrayBuffer over the mapping (undefined once
 * closed); close() detaches it (its views then have length 0) and unmaps.
 * Without close() the pages are unmapped when the buffer is collected.
 */
export interface NativeShmMapping {
  readonly buffer: ArrayBuffer | undefined;
  /** st_size of the object when it was opened. */
  readonly fileSize: number;
  /** st_uid of the object. */
  readonly uid: number;
  close(): void;
}

/** The codes native/binding/shm.cc's Fail() builds ("ERR_SONOEDGE_SHM_" + what), at run time too (a test holds the addon to it). */
export const SHM_ERROR_CODES = [
  'ERR_SONOEDGE_SHM_OPEN',
  'ERR_SONOEDGE_SHM_CREATE',
  'ERR_SONOEDGE_SHM_NOT_REGULAR',
  'ERR_SONOEDGE_SHM_SIZE',
  'ERR_SONOEDGE_SHM_MAP',
  'ERR_SONOEDGE_SHM_UNLINK',
] as const;

export type ShmErrorCode = (typeof SHM_ERROR_CODES)[number];

/** Errors from ShmMapping and shmUnlink (one of SHM_ERROR_CODES). */
export interface NativeShmError extends Error {
  code: ShmErrorCode;
  /** The errno name (ENOENT, EACCES, EEXIST...), '' for a check of ours. */
  errno: string;
  /** SIZE: the object's size in bytes. */
  size?: number;
}

export interface NativeAddon {
  NativePlan: new (options: ResolvedPlanOptions) => NativePlanHandle;
  bestSimdLevel: number;
  /** Creates a session off the event loop (library, providers, warm-up). */
  loadEngine(options: NativeEngineOptions): Promise<NativeSessionHandle>;
  /**
   * Opens `name` (create false: O_RDONLY; it must be a regular file of at
   * least `length` bytes) or creates it (O_CREAT|O_EXCL, size `length`,
   * `header` written at offset 0, permission bits `mode`), then maps its first
   * `length` bytes read-only and shared.
   */
  ShmMapping: new (name: string, length: number, create: boolean, header: Uint8Array | null, mode: number) => NativeShmMapping;
  /** shm_unlink: true when removed, false when it did not exist. */
  shmUnlink(name: string): boolean;
}

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');

function load(): NativeAddon {
  const candidates = [
    process.env.SONOEDGE_ADDON,
    path.join(root, 'build', 'Release', 'sonoedge.node'),
    path.join(root, 'build', 'Debug', 'sonoedge.node'),
  ].filter((p): p is string => typeof p === 'string' && p.length > 0);
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    const err = new Error(
      `sonoedge native addon not found (looked in ${candidates.join(', ')}); run \`npm install\` or \`npm run build\``,
    ) as Error & { code: string };
    err.code = 'ERR_SONOEDGE_ADDON_MISSING';
    throw err;
  }
  return createRequire(import.meta.url)(found) as NativeAddon;
}

let cached: NativeAddon | undefined;
/** The addon, loaded on first use. */
export function native(): NativeAddon {
  cached ??= load();
  return cached;
}
