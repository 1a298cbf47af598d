// Lists native/core sources for binding.gyp, split by the instruction set a
// file is compiled for: `node scripts/gyp-sources.mjs base|sse41|avx2|neon`.
// Files named *_sse41.cc, *_avx2.cc and *_neon.cc hold the SIMD kernels;
// the others are portable. The arch-specific lists are empty on other CPUs.
import { readdirSync } from 'node:fs';

const kind = process.argv[2] ?? 'base';
const arch = process.env.npm_config_arch || process.arch;
const files = readdirSync(new URL('../native/core/', import.meta.url))
  .filter((f) => f.endsWith('.cc'))
  .sort();
const simd = /_(sse41|avx2|neon)\.cc$/;
let out;
if (kind === 'base') out = files.filter((f) => !simd.test(f));
else {
  const x86 = arch === 'x64' || arch === 'ia32';
  const allowed = kind === 'neon' ? arch === 'arm64' : x86;
  out = allowed ? files.filter((f) => f.endsWith(`_${kind}.cc`)) : [];
}
process.stdout.write(out.map((f) => `native/core/${f}`).join(' '));
