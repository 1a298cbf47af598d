// Lists native/core sources for binding.gyp, split by the instruction set a
// file is compiled for: `node scripts/gyp-sources.mjs base|sse41|avx2|neon`.
// Files named *_sse41.cc, *_avx2.cc and *_neon.cc hold the SIMD kernels;
// the others are portable. Every file compiles on every CPU (each SIMD file
// guards its body and otherwise reports that it has no kernels); binding.gyp
// adds the instruction-set flags on x86 only.
import { readdirSync } from 'node:fs';

const kind = process.argv[2] ?? 'base';
const files = readdirSync(new URL('../native/core/', import.meta.url))
  .filter((f) => f.endsWith('.cc'))
  .sort();
const simd = /_(sse41|avx2|neon)\.cc$/;
const out = kind === 'base' ? files.filter((f) => !simd.test(f)) : files.filter((f) => f.endsWith(`_${kind}.cc`));
process.stdout.write(out.map((f) => `native/core/${f}`).join(' '));
