// `sonoedge bench`, run as a real process from dist/ on the bundled model
// packages with a handful of iterations: exit codes, the tables, the JSON,
// the files --out writes, provider fallback on a machine without a GPU, and
// --compare's ratios on two files with known numbers.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = path.join(root, 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [cli, 'bench', ...args], { encoding: 'utf8', cwd: root });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-bench-'));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));

const STAGES = ['preprocess', 'inferenceRun', 'inferenceWall', 'endToEnd'];
const STAGE_LABELS = ['preprocess', 'inference \\(ORT run\\)', 'inference \\(awaited\\)', 'end to end'];
const SUMMARY_KEYS = ['n', 'min', 'mean', 'median', 'p90', 'p95', 'p99', 'max'];
const gpuHere = spawnSync('sh', ['-c', 'ls /proc/driver/nvidia/gpus 2>/dev/null']).stdout.length > 0;

t.test('all bundled packages, cuda and cpu: tables, fallback named, files written', async (t) => {
  const out = path.join(tmp, 'out');
  const r = run('--providers', 'cuda,cpu', '--iterations', '3', '--warmup', '1', '--threads', '1', '--out', out);
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stderr, '', 'no progress bar when stderr is not a TTY');
  const md = r.stdout;
  t.match(md, /^# sonoedge bench\n\nMachine: .+, \d+ cores, \d+ GiB, linux-\w+, Node\.js v\d+.*\. ONNX Runtime 1\.30\.0\. Date: \d{4}-\d\d-\d\dT/);
  t.match(md, /Input 1024x768 GRAY8 \(synthetic frame\), warm-up 1, 3 iterations per configuration, intra-op threads 1\. Times in ms; percentiles nearest-rank\./);
  t.match(md, /\n\| package \| variant \| requested \| ran on \| iterations \| throughput \(inferences\/s\) \|\n/);
  t.match(md, /\n\| configuration \| stage \| min \| mean \| median \| p90 \| p95 \| p99 \| max \|\n/);

  const json = JSON.parse(readFileSync(path.join(out, 'bench.json'), 'utf8'));
  t.equal(readFileSync(path.join(out, 'bench.md'), 'utf8'), md, 'bench.md is what was printed');
  const pairs = json.configurations.map((c: { package: string; requestedProvider: string }) => `${c.package}/${c.requestedProvider}`);
  t.same(pairs, ['lv_segmentation/cuda', 'lv_segmentation/cpu', 'view_quality/cuda', 'view_quality/cpu']);
  for (const c of json.configurations) {
    const ran = c.provider;
    const label = `${c.package} fp32 ${ran}${c.requestedProvider !== ran ? ` (requested ${c.requestedProvider})` : ''}`;
    t.match(md, new RegExp(`\\n\\| ${c.package} \\| fp32 \\| ${c.requestedProvider} \\| ${ran}${c.fallbackReason ? ' \\(fallback\\)' : ''} \\| 3 \\| \\d+\\.\\d \\|\\n`));
    for (const stage of STAGE_LABELS) {
      t.match(md, new RegExp(`\\n\\| ${label.replace(/[()]/g, '\\$&')} \\| ${stage}( \\| \\d+\\.\\d{3}){7} \\|\\n`), `${label} ${stage}`);
    }
  }
  // 4 configurations x 4 stages, plus the 4 configuration rows and 2 header rows each.
  t.equal(md.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| ---')).length, 4 + 16 + 2);

  if (!gpuHere) {
    for (const c of json.configurations.filter((x: { requestedProvider: string }) => x.requestedProvider === 'cuda')) {
      t.equal(c.provider, 'cpu', 'no GPU here: cuda falls back to cpu');
      t.match(c.fallbackReason, /\S/, 'with ONNX Runtime\'s reason');
      t.match(md, `- ${c.package} fp32: cuda requested but not available on this machine, ran on cpu: ${c.fallbackReason}`);
    }
    t.notMatch(md, /\| cuda \| (?!cpu \(fallback\))/, 'no row reports a number as cuda');
  }

  const files = readdirSync(out).sort();
  const ids = json.configurations.map((c: { package: string; provider: string; requestedProvider: string }) =>
    `${c.package}.fp32.${c.provider}${c.provider !== c.requestedProvider ? `.requested-${c.requestedProvider}` : ''}`);
  t.same(files, ['bench.json', 'bench.md', ...ids.flatMap((id: string) => [`${id}.cdf.svg`, `${id}.histogram.svg`])].sort());
  for (const f of files.filter((x) => x.endsWith('.svg'))) {
    const svg = readFileSync(path.join(out, f), 'utf8');
    t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/, f);
    t.notMatch(svg, /<script/i, f);
  }
  const cdf = readFileSync(path.join(out, `${ids[3]}.cdf.svg`), 'utf8');
  for (const name of ['preprocess', 'inference (ORT run)', 'inference (awaited)', 'end to end']) {
    t.match(cdf, `<path class="series" data-name="${name}"`, `CDF has ${name}`);
  }
});

t.test('--json: the report with every field', async (t) => {
  const r = run('models/view_quality', '--json', '--variants', 'fp32,int8', '--iterations', '4', '--warmup', '0', '--threads', '1', '--input', '640x480:GRAY8');
  t.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.equal(j.tool, 'sonoedge bench');
  t.equal(j.format, 1);
  t.equal(j.percentiles, 'nearest-rank');
  t.equal(j.units, 'ms');
  t.equal(j.onnxruntime, '1.30.0');
  t.same(Object.keys(j.machine), ['cpu', 'cores', 'memoryGiB', 'platform', 'node']);
  t.same(j.settings, { input: { width: 640, height: 480, format: 'GRAY8' }, warmup: 0, iterations: 4, threads: 1 });
  t.same(j.configurations.map((c: { variant: string }) => c.variant), ['fp32', 'int8']);
  for (const c of j.configurations) {
    t.same(Object.keys(c).sort(), ['date', 'elapsedMs', 'iterations', 'machine', 'onnxruntime', 'package', 'packageName',
      'packageVersion', 'provider', 'requestedProvider', 'stages', 'startMs', 'threads', 'throughput', 'variant'].sort());
    t.ok(c.startMs > 0 && Number.isFinite(c.startMs), `startMs ${c.startMs}`);
    t.equal(c.package, 'view_quality');
    t.equal(c.packageName, 'sonoedge-view-quality');
    t.equal(c.requestedProvider, 'cpu');
    t.equal(c.provider, 'cpu');
    t.equal(c.threads, 1);
    t.equal(c.iterations, 4);
    t.ok(Math.abs(c.throughput - (4000 / c.elapsedMs)) < 1e-9, 'throughput = iterations / elapsed');
    t.same(Object.keys(c.stages), STAGES);
    for (const s of STAGES) {
      const x = c.stages[s];
      t.same(Object.keys(x), SUMMARY_KEYS);
      t.equal(x.n, 4);
      t.ok(x.min > 0 && x.min <= x.median && x.median <= x.p90 && x.p90 <= x.p95 && x.p95 <= x.p99 && x.p99 <= x.max, `${s} ordered`);
    }
    // Each iteration's end to end holds its preprocessing and its awaited run, which holds ORT's run.
    t.ok(c.stages.endToEnd.min >= c.stages.preprocess.min);
    t.ok(c.stages.inferenceWall.min >= c.stages.inferenceRun.min);
  }
});

t.test('--duration times each configuration for that long', async (t) => {
  const r = run('models/view_quality', '--json', '--duration', '0.3', '--warmup', '0', '--threads', '1');
  t.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.same(j.settings, { input: { width: 1024, height: 768, format: 'GRAY8' }, warmup: 0, durationS: 0.3, threads: 1 });
  const c = j.configurations[0];
  t.ok(c.iterations >= 1);
  t.ok(c.elapsedMs >= 300 && c.elapsedMs < 3000, `elapsed ${c.elapsedMs} ms`);
});

t.test('--out that fails midway (its last chart cannot go into place) leaves an earlier run\'s files as they were', async (t) => {
  const out = path.join(tmp, 'out-fails');
  const args = ['models/view_quality', '--iterations', '2', '--warmup', '0', '--threads', '1', '--out', out];
  const earlier = run(...args);
  t.equal(earlier.status, 0, earlier.stderr);
  // The last file written is the configuration's CDF chart: a folder there fails the run after everything else is
  // written. Before, bench.json and bench.md were overwritten in place first, pairing a new bench.json with old charts.
  const cdf = path.join(out, 'view_quality.fp32.cpu.cdf.svg');
  rmSync(cdf);
  mkdirSync(path.join(cdf, 'inside'), { recursive: true });
  // bench.md a link to a file elsewhere: put back as the link it was, the file it names untouched.
  const elsewhere = path.join(tmp, 'elsewhere.md');
  renameSync(path.join(out, 'bench.md'), elsewhere);
  symlinkSync(elsewhere, path.join(out, 'bench.md'));
  const snapshot = () => readdirSync(out).sort().map((f) => [f, f.endsWith('.svg') && f.includes('cdf') ? 'a folder' : readFileSync(path.join(out, f), 'utf8'),
    lstatSync(path.join(out, f)).isSymbolicLink() ? readlinkSync(path.join(out, f)) : null]);
  const before = snapshot();
  t.same(before.map(([f]) => f), ['bench.json', 'bench.md', 'view_quality.fp32.cpu.cdf.svg', 'view_quality.fp32.cpu.histogram.svg']);
  const r = run(...args);
  t.equal(r.status, 1, r.stderr);
  t.equal(r.stdout, '', 'no table printed for a run whose files were not written');
  const stage = path.join(out, `.bench.json.${r.pid}.partial`);
  t.equal(r.stderr, `sonoedge bench: [EISDIR] Expected to write the bench results in ${out} but received EISDIR: illegal operation on a directory, `
    + `rename '${path.join(stage, 'new', 'view_quality.fp32.cpu.cdf.svg')}' -> '${cdf}'; what was there before is unchanged\n`);
  t.same(snapshot(), before, 'the earlier bench.json, bench.md and histogram byte for byte, no temporary folder');
  // Once the chart can go into place, the new run replaces every file.
  rmSync(cdf, { recursive: true });
  const again = run(...args);
  t.equal(again.status, 0, again.stderr);
  t.same(readdirSync(out).sort(), before.map(([f]) => f));
  t.equal(readFileSync(path.join(out, 'bench.md'), 'utf8'), again.stdout);
  t.equal(readFileSync(elsewhere, 'utf8'), earlier.stdout, 'the link is replaced, not written through');
  t.not(readFileSync(path.join(out, 'bench.json'), 'utf8'), before[0][1]);
});

t.test('--tensorrt-cache and --tensorrt-fp16 reach the engine; the report says so', async (t) => {
  const cache = path.join(tmp, 'trt-cache');
  const r = run('models/view_quality', '--json', '--providers', 'tensorrt', '--tensorrt-cache', cache, '--tensorrt-fp16', '--iterations', '2', '--warmup', '0', '--threads', '1');
  t.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.same(j.settings, { input: { width: 1024, height: 768, format: 'GRAY8' }, warmup: 0, iterations: 2, threads: 1, tensorrtCache: cache, tensorrtFp16: true });
  const c = j.configurations[0];
  t.equal(c.requestedProvider, 'tensorrt');
  t.equal(c.tensorrtFp16, true);
  const sha = JSON.parse(readFileSync(path.join(root, 'models', 'view_quality', 'manifest.json'), 'utf8')).variants.fp32.sha256;
  t.same(readdirSync(cache), [sha], 'the cache folder is keyed by the model\'s sha256');
  if (!gpuHere) {
    t.equal(c.provider, 'cpu');
    t.notOk('tensorrtCachePath' in c, 'no cache path where tensorrt did not run');
  }
});

t.test('usage mistakes: one line, exit 2', async (t) => {
  const cases: [string[], string][] = [
    [['--variants', 'fp16'], 'sonoedge bench: option --variants: package lv_segmentation has no variant "fp16"; did you mean "fp32"? (available: fp32, int8)\n'],
    [['models/view_quality', '--variants', 'int4'], 'sonoedge bench: option --variants: package view_quality has no variant "int4"; did you mean "int8"? (available: fp32, int8)\n'],
    [['--iteratons', '5'], 'sonoedge bench: unknown option --iteratons; did you mean --iterations? (see sonoedge bench --help)\n'],
    [['--providers', 'cdua'], 'sonoedge bench: option --providers: unknown value "cdua"; did you mean "cuda"? (known: tensorrt, cuda, cpu)\n'],
    [['--input', '1024x768:GREY8'], 'sonoedge bench: option --input: unknown pixel format "GREY8"; did you mean "GRAY8"? (known: GRAY8, GRAY16, RGB8, BGR8, RGBA8, BGRA8, YUYV, NV12)\n'],
    [['--input', '1024by768'], 'sonoedge bench: option --input expects WIDTHxHEIGHT[:FORMAT] with sizes 1 to 16384 (e.g. 1024x768:GRAY8) but received "1024by768"\n'],
    [['--iterations', '0'], 'sonoedge bench: option --iterations expects an integer >= 1 but received "0"\n'],
    [['--iterations', '5', '--duration', '1'], 'sonoedge bench: options --iterations and --duration cannot be used together\n'],
    [['--compare', 'a.json'], 'sonoedge bench: --compare expects two bench.json files (A B) but received 1\n'],
    [['--tensorrt-cache', 'cache'], 'sonoedge bench: option --tensorrt-cache needs tensorrt in --providers (received cpu)\n'],
    [['--providers', 'cuda,cpu', '--tensorrt-fp16'], 'sonoedge bench: option --tensorrt-fp16 needs tensorrt in --providers (received cuda,cpu)\n'],
  ];
  // An --out folder under a file: refused before anything is timed.
  const file = path.join(tmp, 'a-file');
  writeFileSync(file, 'x');
  cases.push([['--out', path.join(file, 'out')], `sonoedge bench: option --out expects a folder sonoedge can write but received ${JSON.stringify(path.join(file, 'out'))} (ENOTDIR)\n`]);
  for (const [args, line] of cases) {
    const r = run(...args);
    t.equal(r.status, 2, args.join(' '));
    t.equal(r.stderr, line);
    t.equal(r.stdout, '');
  }
});

t.test('a package that does not exist is one coded line, exit 1', async (t) => {
  const r = run(path.join(tmp, 'no-such-package'), '--iterations', '1');
  t.equal(r.status, 1);
  t.match(r.stderr, /^sonoedge bench: \[E_PACKAGE_MISSING_FILE\] .*\n$/);
});

// --compare on files with known numbers.
const summary = (median: number, p99: number) => ({ n: 10, min: median, mean: median, median, p90: p99, p95: p99, p99, max: p99 });
const config = (pkg: string, variant: string, requestedProvider: string, provider: string, median: number, p99: number) => ({
  package: pkg, variant, requestedProvider, provider,
  stages: { preprocess: summary(median / 4, p99 / 4), inferenceRun: summary(median, p99), inferenceWall: summary(median * 2, p99 * 2), endToEnd: summary(median * 4, p99 * 4) },
});
const report = (configurations: unknown[]) => ({
  tool: 'sonoedge bench', format: 1, date: '2026-01-01T00:00:00.000Z', onnxruntime: '1.30.0',
  machine: { cpu: 'Test CPU', cores: 4, memoryGiB: 8, platform: 'linux-x64', node: 'v20.0.0' }, configurations,
});
const fileA = path.join(tmp, 'a.json');
const fileB = path.join(tmp, 'b.json');
writeFileSync(fileA, JSON.stringify(report([
  config('view_quality', 'fp32', 'cpu', 'cpu', 2, 4),
  config('lv_segmentation', 'fp32', 'cpu', 'cpu', 8, 16),
  config('view_quality', 'fp32', 'cuda', 'cpu', 2, 4),
])));
writeFileSync(fileB, JSON.stringify(report([
  config('lv_segmentation', 'fp32', 'cpu', 'cpu', 4, 20),
  config('view_quality', 'fp32', 'cpu', 'cpu', 3, 5),
  config('view_quality', 'int8', 'cpu', 'cpu', 1, 1),
])));

t.test('--compare: exact b/a ratios, mismatches listed', async (t) => {
  const r = spawnSync(process.execPath, [cli, 'bench', '--compare', 'a.json', 'b.json'], { encoding: 'utf8', cwd: tmp });
  t.equal(r.status, 0, r.stderr);
  t.equal(r.stdout, [
    '# sonoedge bench --compare',
    '',
    'a: a.json (Test CPU, 4 cores, ONNX Runtime 1.30.0, 2026-01-01T00:00:00.000Z)',
    'b: b.json (Test CPU, 4 cores, ONNX Runtime 1.30.0, 2026-01-01T00:00:00.000Z)',
    'Ratios are b/a: below 1 means b is faster. Configurations are matched by package, variant and the provider that ran.',
    '',
    '| configuration | stage | median a | median b | median b/a | p99 a | p99 b | p99 b/a |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    '| view_quality fp32 cpu | preprocess | 0.500 | 0.750 | 1.500 | 1.000 | 1.250 | 1.250 |',
    '| view_quality fp32 cpu | inference (ORT run) | 2.000 | 3.000 | 1.500 | 4.000 | 5.000 | 1.250 |',
    '| view_quality fp32 cpu | inference (awaited) | 4.000 | 6.000 | 1.500 | 8.000 | 10.000 | 1.250 |',
    '| view_quality fp32 cpu | end to end | 8.000 | 12.000 | 1.500 | 16.000 | 20.000 | 1.250 |',
    '| lv_segmentation fp32 cpu | preprocess | 2.000 | 1.000 | 0.500 | 4.000 | 5.000 | 1.250 |',
    '| lv_segmentation fp32 cpu | inference (ORT run) | 8.000 | 4.000 | 0.500 | 16.000 | 20.000 | 1.250 |',
    '| lv_segmentation fp32 cpu | inference (awaited) | 16.000 | 8.000 | 0.500 | 32.000 | 40.000 | 1.250 |',
    '| lv_segmentation fp32 cpu | end to end | 32.000 | 16.000 | 0.500 | 64.000 | 80.000 | 1.250 |',
    '',
    'Not compared:',
    '',
    '- view_quality fp32 cpu (requested cuda): only in a (a.json)',
    '- view_quality int8 cpu: only in b (b.json)',
    '',
  ].join('\n'));
});

t.test('--compare --json: the ratios as numbers', async (t) => {
  const r = run('--compare', fileA, fileB, '--json');
  t.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  t.same(j.rows.map((x: { configuration: string; stage: string; median: { ratio: number }; p99: { ratio: number } }) =>
    [x.configuration, x.stage, x.median.ratio, x.p99.ratio]), [
    ['view_quality fp32 cpu', 'preprocess', 1.5, 1.25],
    ['view_quality fp32 cpu', 'inferenceRun', 1.5, 1.25],
    ['view_quality fp32 cpu', 'inferenceWall', 1.5, 1.25],
    ['view_quality fp32 cpu', 'endToEnd', 1.5, 1.25],
    ['lv_segmentation fp32 cpu', 'preprocess', 0.5, 1.25],
    ['lv_segmentation fp32 cpu', 'inferenceRun', 0.5, 1.25],
    ['lv_segmentation fp32 cpu', 'inferenceWall', 0.5, 1.25],
    ['lv_segmentation fp32 cpu', 'endToEnd', 0.5, 1.25],
  ]);
  t.same(j.rows[0].median, { a: 0.5, b: 0.75, ratio: 1.5 });
  t.same(j.onlyInA, ['view_quality fp32 cpu (requested cuda)']);
  t.same(j.onlyInB, ['view_quality int8 cpu']);
  t.same(j.duplicates, []);
});

t.test('--compare on a file that is not a bench report: one coded line, exit 1', async (t) => {
  const bad = path.join(tmp, 'bad.json');
  writeFileSync(bad, JSON.stringify({ tool: 'sonoedge bench', format: 1, configurations: [{ package: 'x', variant: 'fp32', provider: 'cpu', requestedProvider: 'cpu', stages: {} }] }));
  let r = run('--compare', bad, fileB);
  t.equal(r.status, 1);
  t.equal(r.stderr, `sonoedge bench: [ERR_SONOEDGE_BENCH_FILE] Expected a sonoedge bench JSON file for ${bad} but received configurations[0].stages.preprocess.median that is not a non-negative number\n`);
  r = run('--compare', path.join(tmp, 'missing.json'), fileB);
  t.equal(r.status, 1);
  t.equal(r.stderr, `sonoedge bench: [ERR_SONOEDGE_BENCH_FILE] Expected a sonoedge bench JSON file for ${path.join(tmp, 'missing.json')} but received a missing file\n`);
});
