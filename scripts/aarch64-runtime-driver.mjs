#!/usr/bin/env node
// The bundled models' raw outputs on this machine, for the aarch64-runtime
// suite (scripts/aarch64-runtime-test.mjs): run once by the x64 Node.js and
// once by the arm64 one under qemu-aarch64, then compared.
//
//   node scripts/aarch64-runtime-driver.mjs OUT.json
//
// For every bundled model package (verified against the bundled trust store)
// and every variant it ships: three frames of the bundled A4C cine through the
// native preprocessing into the model's input, then our engine (one thread,
// CPU). Writes { arch, node, simd, cases: { "model/variant/frame": { input,
// outputs: { name: [...] } } } } with the input tensors and every output
// tensor in full. Needs the built runtime (dist/) and an addon for this
// architecture (SONOEDGE_ADDON or build/Release).
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Engine, MODELS_DIR, Preprocessor, loadTrustStore, verifyModelPackage } from '../dist/index.js';

const out = process.argv[2];
if (!out) {
  process.stderr.write('usage: node scripts/aarch64-runtime-driver.mjs OUT.json\n');
  process.exit(2);
}

/** The bundled cine: 16 frames of 256x256 GRAY8, pixel data last (as test/helpers/sample.ts reads it). */
const cine = await readFile(path.join(MODELS_DIR, 'samples', 'a4c_cine_16f.dcm'));
const W = 256, H = 256, N = 16;
const base = cine.length - N * W * H;
const frame = (i) => cine.subarray(base + i * W * H, base + (i + 1) * W * H);
const FRAMES = [0, 5, 11];

const trustStore = await loadTrustStore(path.join(MODELS_DIR, 'trust'));
const cases = {};
let simd;
for (const name of ['view_quality', 'lv_segmentation']) {
  const pkg = await verifyModelPackage(path.join(MODELS_DIR, name), { trustStore });
  const pre = new Preprocessor({ ...pkg.manifest.preprocessing.options, input: { width: W, height: H, format: 'GRAY8' } });
  simd = pre.simd;
  for (const variant of Object.keys(pkg.manifest.variants)) {
    const engine = await Engine.load({ package: pkg, variant }, { log: false, intraOpThreads: 1, warmupRuns: 0 });
    try {
      const { inputs, outputs } = engine.allocate();
      const x = inputs[pkg.manifest.preprocessing.input];
      const bound = engine.bind(inputs, outputs);
      for (const f of FRAMES) {
        pre.run(frame(f), x);
        await bound.run();
        cases[`${name}/${variant}/frame${f}`] = {
          input: Array.from(x),
          outputs: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, Array.from(v, Number)])),
        };
      }
    } finally {
      await engine.close();
    }
  }
}
await writeFile(out, JSON.stringify({ arch: process.arch, node: process.version, simd, cases }));
process.stdout.write(`aarch64-runtime-driver: ${process.arch}, Node.js ${process.version}, preprocessing ${simd}, ${Object.keys(cases).length} cases -> ${out}\n`);
