// bench/docs.mjs's partialTableBlock: the docs block a partial `npm run bench:preprocess -- --write-docs` writes
// (its rows replace the same ones, the others stay, one re-run line per run whose rows remain), on made-up rows, so
// it runs without OpenCV (test/integration/bench.preprocess.test.ts runs the real script where build/bench-venv is).
import t from 'tap';
// @ts-expect-error: a plain .mjs helper shared by the benchmarks, no type declarations
import { partialTableBlock } from '../../bench/docs.mjs';

const LABELS = ['GRAY8', 'YUYV', 'YUYV (in-range)', 'NV12', 'NV12 (in-range)'];
const HEADER = '| frame | format | out | native |\n| --- | --- | --- | --- |';
const UNITS = 'Median / p99 microseconds per frame.';
const row = (frame: string, label: string, out: number, native: string) => `| ${frame} | ${label} | ${out} | ${native} |`;
/** A run's `lines`: every label at every frame and output size, with the native cell `native`. */
const rows = (labels: string[], frames: string[], outs: number[], native: string) =>
  frames.flatMap((f) => labels.flatMap((l) => outs.map((o) => row(f, l, o, native))));
const FIRST = 'Machine: an earlier machine. Date: 2026-01-01. Command: `npm run bench:preprocess`.';
/** One run's options for partialTableBlock; `args`, its command line's, and its date's day `day`. */
const runOf = (lines: string[], args: string, day = '2026-02-02') => ({
  lines, header: HEADER, units: UNITS, labels: LABELS, defaultOuts: [112, 128, 224, 256],
  notes: (labels: string[]) => (labels.some((l) => l.endsWith('(in-range)')) ? ['In-range notes.'] : []),
  machine: 'M', date: `${day}T10:00:00.000Z`, command: `npm run bench:preprocess -- ${args}`, load: 'load L',
});
const block = (intro: string[], notes: string[], table: string[]) =>
  `${intro.join('\n')}\n${UNITS}\n${notes.map((n) => `${n}\n`).join('')}\n${HEADER}\n${table.join('\n')}`;
const reruns = (b: string) => b.split('\n').filter((l) => l.startsWith('Re-run: '));

t.test('no block before, or nothing of it kept: this run\'s block alone', async (t) => {
  const lines = [row('64x48', 'YUYV (in-range)', 16, '2 / 3'), row('64x48', 'GRAY8', 16, '1 / 1')];
  const mine = block(['Machine: M. Date: 2026-02-02. Command: `npm run bench:preprocess -- --formats GRAY8,YUYV`; load L.'],
    ['In-range notes.'], [lines[1]!, lines[0]!]);
  t.equal(partialTableBlock(undefined, runOf(lines, '--formats GRAY8,YUYV')), mine);
  const old = block([FIRST, 'Re-run: the GRAY8 rows at 64x48, on X. Date: 2026-01-02. Command: `c`; l.'], [],
    [row('64x48', 'GRAY8', 16, '9 / 9')]);
  t.equal(partialTableBlock(old, runOf(lines, '--formats GRAY8,YUYV')), mine);
});

t.test('the measured rows replace the same ones, the others stay in the table\'s order', async (t) => {
  const old = block([FIRST], [], [
    row('64x48', 'GRAY8', 16, '9 / 9'), row('64x48', 'YUYV', 16, '9 / 9'), row('64x48', 'NV12', 16, '9 / 9'), row('128x96', 'YUYV', 16, '9 / 9')]);
  const lines = rows(['YUYV', 'YUYV (in-range)'], ['64x48'], [16, 32], '1 / 2');
  t.equal(partialTableBlock(old, runOf(lines, '--formats YUYV --outs 16,32')), block([FIRST,
    'Re-run: the YUYV, YUYV (in-range) rows at 64x48, on M. Date: 2026-02-02. Command: `npm run bench:preprocess -- --formats YUYV --outs 16,32`; load L.'],
  ['In-range notes.'], [
    row('64x48', 'GRAY8', 16, '9 / 9'), row('64x48', 'YUYV', 16, '1 / 2'), row('64x48', 'YUYV', 32, '1 / 2'),
    row('64x48', 'YUYV (in-range)', 16, '1 / 2'), row('64x48', 'YUYV (in-range)', 32, '1 / 2'),
    row('64x48', 'NV12', 16, '9 / 9'), row('128x96', 'YUYV', 16, '9 / 9')]));
});

t.test('earlier re-run lines: dropped when this run measured all their rows again, kept otherwise', async (t) => {
  const outs = [16, 32];
  const small = (labels: string[]) => rows(labels, ['64x48'], outs, '1 / 1');
  // A full table of the five labels at 64x48 and 128x96, from the first run.
  let b: string = block([FIRST], [], rows(LABELS, ['64x48', '128x96'], outs, '9 / 9'));
  const write = (lines: string[], args: string, day: string) => { b = partialTableBlock(b, runOf(lines, `${args} --outs 16,32`, day)); };
  write(small(['YUYV', 'YUYV (in-range)']), '--formats YUYV', '2026-02-01');
  write(small(['NV12 (in-range)']), '--formats NV12 --content in-range', '2026-02-02');
  t.same(reruns(b).map((l) => l.slice(0, l.indexOf(', on '))),
    ['Re-run: the YUYV, YUYV (in-range) rows at 64x48', 'Re-run: the NV12 (in-range) rows at 64x48']);
  // The same rows as the first re-run: its line goes, the other stays.
  write(small(['YUYV', 'YUYV (in-range)']), '--formats YUYV', '2026-02-03');
  t.same(reruns(b), [
    'Re-run: the NV12 (in-range) rows at 64x48, on M. Date: 2026-02-02. Command: `npm run bench:preprocess -- --formats NV12 --content in-range --outs 16,32`; load L.',
    'Re-run: the YUYV, YUYV (in-range) rows at 64x48, on M. Date: 2026-02-03. Command: `npm run bench:preprocess -- --formats YUYV --outs 16,32`; load L.',
  ]);
  // Some of the rows of each (YUYV (in-range) only): both stay.
  write(small(['YUYV (in-range)', 'NV12']), '--formats YUYV,NV12 --content in-range', '2026-02-04');
  t.equal(reruns(b).length, 3);
  // Rows that include all of an earlier line's, not only the same ones (the first version kept such lines): here the
  // in-range rows of both formats, then every YUYV and NV12 row, after which no earlier re-run line has a row left.
  write(small(['YUYV (in-range)', 'NV12 (in-range)']), '--formats YUYV,NV12 --content in-range', '2026-02-05');
  write(small(['YUYV', 'YUYV (in-range)', 'NV12', 'NV12 (in-range)']), '--formats YUYV,NV12', '2026-02-06');
  t.same(reruns(b), ['Re-run: the YUYV, YUYV (in-range), NV12, NV12 (in-range) rows at 64x48, on M. Date: 2026-02-06. '
    + 'Command: `npm run bench:preprocess -- --formats YUYV,NV12 --outs 16,32`; load L.']);
  t.ok(b.startsWith(`${FIRST}\nRe-run: `), 'the first line stays');
});

t.test('a re-run line\'s output sizes: its command\'s --outs, or the default ones', async (t) => {
  const old = block([FIRST,
    'Re-run: the YUYV rows at 64x48, on X. Date: 2026-01-02. Command: `npm run bench:preprocess -- --formats YUYV`; l.',
    'Re-run: the NV12 rows at 64x48, on X. Date: 2026-01-03. Command: `npm run bench:preprocess -- --formats NV12 --outs 16`; l.'],
  [], [row('64x48', 'GRAY8', 16, '9 / 9')]);
  // Output size 16 only: the YUYV line's rows at 112, 128, 224 and 256 were not measured again.
  const some = partialTableBlock(old, runOf(rows(['YUYV', 'NV12'], ['64x48'], [16], '1 / 1'), '--formats YUYV,NV12 --outs 16'));
  t.same(reruns(some).map((l) => l.slice(0, l.indexOf(', on '))),
    ['Re-run: the YUYV rows at 64x48', 'Re-run: the YUYV, NV12 rows at 64x48']);
  const all = partialTableBlock(old, runOf(rows(['YUYV', 'NV12'], ['64x48'], [16, 112, 128, 224, 256], '1 / 1'), '--formats YUYV,NV12 --outs 16,112,128,224,256'));
  t.same(reruns(all).map((l) => l.slice(0, l.indexOf(', on '))), ['Re-run: the YUYV, NV12 rows at 64x48']);
});
