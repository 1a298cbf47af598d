// Shared by the benchmark scripts: the machine line they print, and the
// rewrite of their table between markers in docs/BENCHMARKS.md.
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** CPU model, cores, memory, platform and Node.js version of this machine. */
export function machineLine() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${process.platform}-${process.arch}, Node.js ${process.version}`;
}

/**
 * Replaces the text between `<!-- bench:NAME:begin -->` and `<!-- bench:NAME:end -->`
 * in docs/BENCHMARKS.md with `body`, or appends `intro` and the marked block
 * when the markers are not there yet.
 */
export function writeDocsBlock(name, body, intro) {
  const doc = path.join(root, 'docs', 'BENCHMARKS.md');
  const text = readFileSync(doc, 'utf8');
  const begin = `<!-- bench:${name}:begin -->`;
  const end = `<!-- bench:${name}:end -->`;
  const block = `${begin}\n${body}\n${end}`;
  const i = text.indexOf(begin);
  const j = text.indexOf(end);
  writeFileSync(doc, i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${intro}\n\n${block}\n`);
}
