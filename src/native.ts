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

export interface NativeAddon {
  NativePlan: new (options: ResolvedPlanOptions) => NativePlanHandle;
  bestSimdLevel: number;
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
