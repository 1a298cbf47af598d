// Shared by the benchmark scripts: the machine and load-average lines they
// print, the quantiles in their tables, the bundled models they time, and the
// rewrite of their table between markers in docs/BENCHMARKS.md.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** CPU model, cores, memory, platform and Node.js version of this machine. */
export function machineLine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}-${process.arch}, Node.js ${process.version}`;
}

/** The load average over 1, 5 and 15 minutes, two decimals each: "1.25 1.40 1.62". */
export function loadAverage() {
  return os.loadavg().map((l) => l.toFixed(2)).join(' ');
}

/**
 * The p-quantile (0 <= p <= 1) of `xs` (not changed): the sample at index round(p * (n - 1)) of the sorted samples.
 * Not src/util/stats.ts's nearest-rank: the tables these scripts wrote into docs/BENCHMARKS.md were computed this
 * way; switch only with a rerun.
 */
export function quantile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
}

/** The median, quantile(xs, 0.5): the sample at index floor(n / 2) of the sorted samples (the upper middle one for an even count). */
export function median(xs) {
  return quantile(xs, 0.5);
}

/** The fp32 graphs of the bundled model packages (models/NAME/model.fp32.onnx, in directory order); none without models/. */
export function bundledModels() {
  const models = path.join(root, 'models');
  return existsSync(models)
    ? readdirSync(models, { withFileTypes: true }).filter((d) => d.isDirectory())
      .map((d) => path.join(models, d.name, 'model.fp32.onnx')).filter((f) => existsSync(f))
    : [];
}

/** The text between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->` in `file` (docs/BENCHMARKS.md), or undefined. */
export function readDocsBlock(name, file = path.join(root, 'docs', 'BENCHMARKS.md')) {
  const text = readFileSync(file, 'utf8');
  const begin = `<!-- bench:${name}:begin -->\n`;
  const i = text.indexOf(begin);
  const j = text.indexOf(`\n<!-- bench:${name}:end -->`);
  return i >= 0 && j >= i + begin.length ? text.slice(i + begin.length, j) : undefined;
}

/**
 * Replaces the text between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`
 * in `doc` (docs/BENCHMARKS.md) with `body`, or appends `intro` and the marked block
 * when the markers are not there yet.
 */
export function writeDocsBlock(name, body, intro, doc = path.join(root, 'docs', 'BENCHMARKS.md')) {
  const text = readFileSync(doc, 'utf8');
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${begin}\n${body}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  writeFileSync(doc, i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${intro}\n\n${block}\n`);
}
