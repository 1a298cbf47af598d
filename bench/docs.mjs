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

/**
 * A docs block's text after a run that measured some of its table's rows (bench:preprocess --formats, --content):
 * this run's rows replace those of the same frame, format column and output size, the block's other rows stay in
 * the table's order (frame area, then `run.labels`, then output size). With nothing kept, the block is this run's
 * alone; otherwise it keeps its first line (the run its other rows came from) and its earlier `Re-run:` lines, but
 * those whose rows this run measured all again, and adds one for this run. A `Re-run:` line names its rows by
 * format column and frame, and its output sizes are those of its command's `--outs`, or `run.defaultOuts`.
 *
 * `old`: the block before (readDocsBlock), or undefined. `run`: `lines`, this run's table rows
 * (`| frame | format column | out | ...`); `header`, the table's two header lines; `units`, the line under the
 * intro; `notes(labels)`, the note lines for the format column values in the table; `labels`, every format column
 * value in the table's order; `defaultOuts`, the output sizes of a run without --outs; `machine`, `date` (ISO),
 * `command` and `load`, what the intro says of this run.
 */
export function partialTableBlock(old, run) {
  const cells = (l) => l.slice(2).split(' | ').slice(0, 3);
  const key = (frame, lab, out) => `${frame}|${lab}|${out}`;
  const measured = new Set(run.lines.map((l) => key(...cells(l))));
  const oldLines = old?.split('\n') ?? [];
  const kept = oldLines.filter((l) => /^\| \d+x\d+ \|/.test(l)).filter((l) => !measured.has(key(...cells(l))));
  const order = (l) => {
    const [frame, lab, out] = cells(l);
    const [w, h] = frame.split('x').map(Number);
    const i = run.labels.indexOf(lab);
    return [w * h, i < 0 ? run.labels.length : i, Number(out)];
  };
  const table = [...kept, ...run.lines].map((l) => [order(l), l])
    .sort(([a], [b]) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]).map(([, l]) => l);
  const day = run.date.slice(0, 10);
  let intro = [`Machine: ${run.machine}. Date: ${day}. Command: \`${run.command}\`; ${run.load}.`];
  if (kept.length > 0) {
    const labels = [...new Set(run.lines.map((l) => cells(l)[1]))].join(', ');
    const frames = [...new Set(run.lines.map((l) => cells(l)[0]))].join(', ');
    const rerun = `Re-run: the ${labels} rows at ${frames}, on ${run.machine}. Date: ${day}. Command: \`${run.command}\`; ${run.load}.`;
    /** Whether this run measured every row of the earlier re-run line `l`. */
    const remeasured = (l) => {
      const m = /^Re-run: the (.+?) rows at (.+?), on .*Command: `([^`]*)`/.exec(l);
      if (!m) return false;
      const outs = / --outs (\S+)/.exec(m[3])?.[1].split(',') ?? run.defaultOuts.map(String);
      return m[1].split(', ').every((lab) => m[2].split(', ')
        .every((frame) => outs.every((out) => measured.has(key(frame, lab, out)))));
    };
    intro = [oldLines[0], ...oldLines.filter((l) => l.startsWith('Re-run: ') && !remeasured(l)), rerun];
  }
  const notes = run.notes(table.map((l) => cells(l)[1]));
  return `${intro.join('\n')}\n${run.units}\n${notes.map((n) => `${n}\n`).join('')}\n${run.header}\n${table.join('\n')}`;
}
