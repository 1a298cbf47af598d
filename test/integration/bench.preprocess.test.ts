// bench/preprocess.mjs (`npm run bench:preprocess`), run as a real process on
// small frames with a short time budget: the YUYV and NV12 rows on random bytes
// and on in-range content, what each tool read, the rows it prints and writes
// to its JSON, and --write-docs replacing only the rows it measured. The
// numbers themselves are the benchmark's business; this checks the table's
// shape and the frames behind it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from '../../src/frame/synthetic.js';
import { VENV_PYTHON } from '../helpers/pydicom-examples.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const script = path.join(root, 'bench', 'preprocess.mjs');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-bench-preprocess-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', cwd: root });
// The first run of the bench creates build/bench-venv (pip, network); the test does not: without it, the harness's
// training/.venv (numpy and OpenCV too; npm test sets it up) runs the OpenCV rows through --python.
const benchVenv = path.join(root, 'build', 'bench-venv', 'bin', 'python');
const opencvPython = existsSync(benchVenv) ? benchVenv
  : existsSync(VENV_PYTHON) && spawnSync(VENV_PYTHON, ['-c', 'import cv2, numpy'], { stdio: 'ignore' }).status === 0 ? VENV_PYTHON : undefined;
const opencvHere = opencvPython !== undefined;
const SMALL = ['--sizes', '64x48', '--outs', '16,32', '--budget-ms', '20', '--out', tmp,
  ...(opencvPython ? ['--python', opencvPython] : [])];

/** The table's data rows, each as its cells. */
const tableRows = (md: string) => md.split('\n').filter((l) => /^\| \d+x\d+ \|/.test(l)).map((l) => l.slice(2, -2).split(' | '));
const NUM = /^\d+ \/ \d+$/;
const RATIO = /^\d+\.\d\d$/;

interface Row { frame: string; format: string; content: string; label: string; out: number; native: { agreesWithReference: boolean } }

t.test('YUYV and NV12: random-byte rows and in-range rows, the same tools on each', { skip: !opencvHere && 'no Python with OpenCV (build/bench-venv or training/.venv)' }, async (t) => {
  const r = run('--formats', 'YUYV,NV12', ...SMALL);
  t.equal(r.status, 0, r.stderr);
  const rows = tableRows(r.stdout);
  t.same(rows.map((c) => c.slice(0, 3).join(' ')), [
    '64x48 YUYV 16', '64x48 YUYV 32', '64x48 YUYV (in-range) 16', '64x48 YUYV (in-range) 32',
    '64x48 NV12 16', '64x48 NV12 32', '64x48 NV12 (in-range) 16', '64x48 NV12 (in-range) 32',
  ]);
  for (const c of rows) {
    const yuyv = c[1]!.startsWith('YUYV');
    // native, ts-ref (YUYV only), sharp (reads no YUV), opencv, memcpy, then the ratios and the difference from OpenCV.
    t.match(c[3], NUM, `${c[1]} native`);
    t.match(c[4], yuyv ? NUM : /^n\/a$/, `${c[1]} ts-ref`);
    t.equal(c[5], 'n/a', `${c[1]} sharp`);
    t.match(c[6], NUM, `${c[1]} opencv`);
    t.match(c[7], NUM, `${c[1]} memcpy`);
    t.match(c[8], RATIO, `${c[1]} opencv/native`);
    t.match(c[9], yuyv ? RATIO : /^n\/a$/, `${c[1]} ts-ref/native`);
    t.match(c[10], RATIO, `${c[1]} native/memcpy`);
    t.match(c[11], /^\d\.\de-\d$/, `${c[1]} max abs diff vs opencv`);
  }
  t.match(r.stdout, '\nYUYV and NV12 rows: random bytes (seeded)');
  t.match(r.stdout, '\n"(in-range)" rows: the same formats, sizes and tools on content');
  t.match(r.stdout, /Load average \(1, 5, 15 min\) [\d.]+ [\d.]+ [\d.]+ at the start, [\d.]+ [\d.]+ [\d.]+ at the end\./);

  const json = JSON.parse(readFileSync(path.join(tmp, 'preprocess.json'), 'utf8'));
  t.equal(json.command, `npm run bench:preprocess -- --formats YUYV,NV12 ${SMALL.join(' ')}`);
  t.same(json.rows.map((x: Row) => [x.format, x.content, x.label, x.out]), [
    ['YUYV', 'random', 'YUYV', 16], ['YUYV', 'random', 'YUYV', 32],
    ['YUYV', 'in-range', 'YUYV (in-range)', 16], ['YUYV', 'in-range', 'YUYV (in-range)', 32],
    ['NV12', 'random', 'NV12', 16], ['NV12', 'random', 'NV12', 32],
    ['NV12', 'in-range', 'NV12 (in-range)', 16], ['NV12', 'in-range', 'NV12 (in-range)', 32],
  ]);
  for (const x of json.rows as Row[]) t.equal(x.native.agreesWithReference, true, `${x.label} ${x.out}: native agrees with ts-ref`);
});

t.test('the frames the tools read: random bytes unchanged, in-range content inside its ranges', async (t) => {
  // Each tool's process writes the frame it times (for the OpenCV worker): here the memcpy floor's, briefly.
  const dir = path.join(tmp, 'frames');
  for (const format of ['YUYV', 'NV12']) {
    for (const content of ['random', 'in-range']) {
      const r = spawnSync(process.execPath, [path.join(root, 'bench', 'preprocess-case.mjs'), 'memcpy', '64', '48', format, '16', dir, content, '5'], { encoding: 'utf8' });
      t.equal(r.status, 0, r.stderr);
      t.same(Object.keys(JSON.parse(r.stdout)), ['tool', 'width', 'height', 'format', 'content', 'results']);
    }
  }
  const frame = (name: string) => new Uint8Array(readFileSync(path.join(dir, name)));
  t.same(frame('frame-64x48-YUYV.bin'), randomBytes(64 * 48 * 2, 64 * 7 + 48 * 13 + 2), 'the random YUYV frame is the earlier tables\' frame');
  t.same(frame('frame-64x48-NV12.bin'), randomBytes(64 * 48 * 1.5, 64 * 7 + 48 * 13 + 2), 'the random NV12 frame too');
  const range = (xs: Uint8Array) => [Math.min(...xs), Math.max(...xs)];
  const yuyv = frame('frame-64x48-YUYV-in-range.bin');
  t.equal(yuyv.length, 64 * 48 * 2);
  t.same(range(yuyv.filter((_, i) => i % 2 === 0)), [60, 190], 'YUYV: Y (even bytes) in 60-190');
  t.same(range(yuyv.filter((_, i) => i % 2 === 1)), [118, 138], 'YUYV: U and V (odd bytes) in 118-138');
  const nv12 = frame('frame-64x48-NV12-in-range.bin');
  t.equal(nv12.length, 64 * 48 * 1.5);
  t.same(range(nv12.subarray(0, 64 * 48)), [60, 190], 'NV12: the Y plane in 60-190');
  t.same(range(nv12.subarray(64 * 48)), [118, 138], 'NV12: the UV plane in 118-138');
  // The box's corners (limited-range BT.601, docs/PREPROCESSING.md section 2) stay inside [0, 255]: no pixel clamps.
  const yy = (y: number) => 1.164383 * (y - 16);
  const corners = [60, 190].flatMap((y) => [118, 138].flatMap((u) => [118, 138].flatMap((v) => [
    yy(y) + 1.596027 * (v - 128), yy(y) - 0.391762 * (u - 128) - 0.812968 * (v - 128), yy(y) + 2.017232 * (u - 128)])));
  t.same([Math.floor(Math.min(...corners)), Math.ceil(Math.max(...corners))], [31, 223], 'R, G, B within 31-223, as the notes say');
});

t.test('--write-docs replaces the rows it measured and keeps the others', { skip: !opencvHere && 'no Python with OpenCV (build/bench-venv or training/.venv)' }, async (t) => {
  const docs = path.join(tmp, 'BENCHMARKS.md');
  const old = (frame: string, format: string, out: number) => `| ${frame} | ${format} | ${out} | 9 / 9 | n/a | n/a | 9 / 9 | 9 / 9 | 1.00 | n/a | 1.00 | 1.0e-2 |`;
  const before = '# Benchmarks\n\n## Frame preprocessing\n\nText before.\n\n<!-- bench:preprocess:begin -->\n'
    + 'Machine: an earlier machine. Date: 2026-01-01. Command: `npm run bench:preprocess`.\n'
    + 'Median / p99 microseconds per frame; ratios of medians.\n\n'
    + '| frame | format | out | native | ts-ref | sharp | opencv | memcpy | opencv/native | ts-ref/native | native/memcpy | max abs diff vs opencv |\n'
    + '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n'
    + [old('64x48', 'GRAY8', 16), old('64x48', 'YUYV', 16), old('64x48', 'YUYV', 32), old('64x48', 'NV12', 16), old('128x96', 'YUYV', 16)].join('\n')
    + '\n<!-- bench:preprocess:end -->\n\n## Inference engine\n\nText after.\n';
  writeFileSync(docs, before);
  const r = run('--formats', 'YUYV', ...SMALL, '--write-docs', '--docs', docs);
  t.equal(r.status, 0, r.stderr);
  const after = readFileSync(docs, 'utf8');
  t.ok(after.startsWith('# Benchmarks\n\n## Frame preprocessing\n\nText before.\n\n<!-- bench:preprocess:begin -->\n'
    + 'Machine: an earlier machine. Date: 2026-01-01. Command: `npm run bench:preprocess`.\n'
    + 'Re-run: the YUYV, YUYV (in-range) rows at 64x48, on '), after);
  t.ok(after.endsWith('\n<!-- bench:preprocess:end -->\n\n## Inference engine\n\nText after.\n'));
  t.match(after, `Command: \`npm run bench:preprocess -- --formats YUYV ${SMALL.join(' ')} --write-docs --docs ${docs}\`; load average (1, 5, 15 min) `);
  t.match(after, '\nYUYV and NV12 rows: random bytes (seeded)');
  t.match(after, '\n"(in-range)" rows: ');
  const rows = tableRows(after);
  t.same(rows.map((c) => c.slice(0, 3).join(' ')), [
    '64x48 GRAY8 16', '64x48 YUYV 16', '64x48 YUYV 32', '64x48 YUYV (in-range) 16', '64x48 YUYV (in-range) 32',
    '64x48 NV12 16', '128x96 YUYV 16',
  ], 'measured rows replaced and added in the table\'s order; the others kept');
  const kept = [old('64x48', 'GRAY8', 16), old('64x48', 'NV12', 16), old('128x96', 'YUYV', 16)];
  for (const l of kept) t.match(after, `\n${l}\n`, 'kept as it was');
  t.equal(rows.filter((c) => c[3] === '9 / 9').length, 3, 'the old YUYV rows at 64x48 are gone');

  // A second partial run, of other rows: a second re-run line.
  const r2 = run('--formats', 'NV12', '--content', 'in-range', ...SMALL, '--write-docs', '--docs', docs);
  t.equal(r2.status, 0, r2.stderr);
  const again = readFileSync(docs, 'utf8');
  t.equal(again.split('\n').filter((l) => l.startsWith('Re-run: ')).map((l) => l.slice(0, l.indexOf(', on '))).join('\n'),
    'Re-run: the YUYV, YUYV (in-range) rows at 64x48\nRe-run: the NV12 (in-range) rows at 64x48');
  t.same(tableRows(again).map((c) => c.slice(0, 3).join(' ')), [
    '64x48 GRAY8 16', '64x48 YUYV 16', '64x48 YUYV 32', '64x48 YUYV (in-range) 16', '64x48 YUYV (in-range) 32',
    '64x48 NV12 16', '64x48 NV12 (in-range) 16', '64x48 NV12 (in-range) 32', '128x96 YUYV 16',
  ]);
  const reruns = (md: string) => md.split('\n').filter((l) => l.startsWith('Re-run: ')).map((l) => l.slice(0, l.indexOf(', on ')));

  // A third, of the first one's rows: its line replaces the first one's (now after the other) and keeps the other.
  const r3 = run('--formats', 'YUYV', ...SMALL, '--write-docs', '--docs', docs);
  t.equal(r3.status, 0, r3.stderr);
  const third = readFileSync(docs, 'utf8');
  t.same(reruns(third), ['Re-run: the NV12 (in-range) rows at 64x48', 'Re-run: the YUYV, YUYV (in-range) rows at 64x48']);
  t.equal(third.split('\n').filter((l) => l.startsWith('Re-run: the YUYV, YUYV (in-range) rows at 64x48, on ')).length, 1);

  // A fourth, of more rows than either earlier run: both their lines go (none of their rows remain from them).
  const r4 = run('--formats', 'YUYV,NV12', ...SMALL, '--write-docs', '--docs', docs);
  t.equal(r4.status, 0, r4.stderr);
  const fourth = readFileSync(docs, 'utf8');
  t.same(reruns(fourth), ['Re-run: the YUYV, YUYV (in-range), NV12, NV12 (in-range) rows at 64x48']);
  t.ok(fourth.includes('\n<!-- bench:preprocess:begin -->\nMachine: an earlier machine. Date: 2026-01-01. Command: `npm run bench:preprocess`.\n'
    + 'Re-run: the YUYV, YUYV (in-range), NV12, NV12 (in-range) rows at 64x48, on '), 'the first line kept, then this run\'s');
  t.same(tableRows(fourth).map((c) => c.slice(0, 3).join(' ')), [
    '64x48 GRAY8 16', '64x48 YUYV 16', '64x48 YUYV 32', '64x48 YUYV (in-range) 16', '64x48 YUYV (in-range) 32',
    '64x48 NV12 16', '64x48 NV12 32', '64x48 NV12 (in-range) 16', '64x48 NV12 (in-range) 32', '128x96 YUYV 16',
  ]);
});

t.test('usage mistakes: one line, exit 2, nothing run', async (t) => {
  const options = '(options: --quick, --write-docs, --formats, --content, --sizes, --outs, --budget-ms, --out, --docs, --python)';
  const cases: [string[], string][] = [
    [['--formats', 'YUV'], 'option --formats: unexpected value "YUV"'],
    [['--content', 'tinted'], 'option --content: unexpected value "tinted"'],
    [['--formats', 'RGB8', '--content', 'in-range'], 'no rows: --content in-range applies to YUYV and NV12 only'],
    [['--sizes', '64by48'], 'option --sizes: unexpected value "64by48"'],
    [['--budget-ms', '10,20'], 'option --budget-ms takes one value'],
    [['--formats'], 'option --formats needs a value'],
    [['--format', 'YUYV'], 'unknown option --format'],
    [['--python', '/nonexistent/python'], 'option --python: /nonexistent/python does not exist'],
  ];
  for (const [args, message] of cases) {
    const r = run(...args, '--out', path.join(tmp, 'never'));
    t.equal(r.status, 2, args.join(' '));
    t.equal(r.stderr, `bench/preprocess.mjs: ${message} ${options}\n`);
    t.equal(r.stdout, '');
    t.notOk(existsSync(path.join(tmp, 'never')), 'nothing written');
  }
});
