// Temporaries of a writer killed outright (SIGKILL: no signal handler runs, as
// when a cart is switched off mid-write) are removed by the next writer of the
// same pattern in the same folder: writeFiles and pendingFile (--out FILE) (.NAME.PID.partial), writeReport
// (.report.PID.partial) and a capture folder's .tmp (NAME.PID.RANDOM). Real
// processes: a child killed mid-write, a live child whose temporary stays.
// Nothing else is touched: names that only look alike, and what a link names.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pendingFile, writeFiles } from '../../src/cli/output.js';
import { folderTarget } from '../../src/dicom/outbox.js';
import { writeReport } from '../../src/report/html.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dist = (p: string) => JSON.stringify(path.join(root, 'dist', p));
if (!existsSync(path.join(root, 'dist', 'cli', 'output.js'))) {
  t.comment('SKIP: dist/ is not built (npx tsc -p tsconfig.json)');
  process.exit(0);
}
const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-stale-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

// A live process that is not this one: its temporaries must stay.
const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
t.teardown(() => { sleeper.kill('SIGKILL'); });
const livePid = sleeper.pid!;

/** Runs `script` (an ES module) in a child and kills it with SIGKILL once `midway()` holds; resolves with its pid. */
async function killMidway(script: string, midway: () => Promise<boolean>): Promise<number> {
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  while (!(await midway()) && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL', `killed midway (${err})`);
  return child.pid!;
}

const count = (dir: string) => readdir(dir).then((n) => n.length, () => 0);

t.test('writeFiles: a stage left by a SIGKILLed writer goes at the next run; a live one, look-alikes and a link\'s target stay', async (t) => {
  const dir = path.join(tmp, 'bench');
  await mkdir(dir);
  await writeFile(path.join(dir, 'bench.json'), 'earlier\n');
  // 20000 small files: a second or more of writing, plenty of time to kill it midway.
  const script = `
    import { writeFiles } from ${dist('cli/output.js')};
    const files = [['bench.json', 'new\\n'], ...Array.from({ length: 20000 }, (_, i) => ['chart-' + i + '.svg', 'x'.repeat(100)])];
    await writeFiles(${JSON.stringify(dir)}, files, 'the bench results');
  `;
  const pid = await killMidway(script, async () => {
    const s = (await readdir(dir)).find((n) => n.startsWith('.bench.json.'));
    return s !== undefined && (await count(path.join(dir, s, 'new'))) >= 3;
  });
  const stale = `.bench.json.${pid}.partial`;
  t.ok((await count(path.join(dir, stale, 'new'))) >= 3, 'the killed writer left its stage');
  t.equal(await readFile(path.join(dir, 'bench.json'), 'utf8'), 'earlier\n', 'and the earlier file as it was');

  // A dead writer's stage that is a link to a folder elsewhere: the link goes, what it names stays.
  const outside = path.join(tmp, 'outside');
  await mkdir(outside);
  await writeFile(path.join(outside, 'keep.txt'), 'keep\n');
  // 2^31 - 1 is above Linux's largest pid_max (2^22): no process has that id.
  const linked = `.bench.json.${2 ** 31 - 1}.partial`;
  await symlink(outside, path.join(dir, linked));
  const kept = [
    `.bench.json.${livePid}.partial`, // a live process's stage
    `.bench.md.${pid}.partial`, // another writer's name
    `bench.json.${pid}.partial`, // not hidden
    `.bench.json.${pid}.partial.keep`,
    `.bench.json.${pid}x.partial`,
    '.bench.json.0.partial', // 0 names no writer (kill(0) is the process group)
    'notes.txt',
  ];
  for (const n of kept) await mkdir(path.join(dir, n));
  await writeFiles(dir, [['bench.json', 'next\n'], ['bench.md', 'next\n']], 'the bench results');
  t.same((await readdir(dir)).sort(), [...kept, 'bench.json', 'bench.md'].sort(), `${stale} and the link ${linked} removed, nothing else`);
  t.equal(await readFile(path.join(dir, 'bench.json'), 'utf8'), 'next\n');
  t.same(await readdir(outside), ['keep.txt'], 'the folder the link named is untouched');
  t.equal(await readFile(path.join(outside, 'keep.txt'), 'utf8'), 'keep\n');
});

t.test('pendingFile (--out FILE): a temporary file left by a SIGKILLed writer goes when the next one starts; a live one and look-alikes stay', async (t) => {
  const dir = path.join(tmp, 'out');
  await mkdir(dir);
  const file = path.join(dir, 'out.json');
  // The writer holds its file open, written in part, until it is killed.
  const script = `
    import { pendingFile } from ${dist('cli/output.js')};
    const out = pendingFile(${JSON.stringify(file)});
    out.stream.write('{"frames": [');
    setInterval(() => {}, 1000);
  `;
  const pid = await killMidway(script, async () => (await readdir(dir)).length > 0 && (await readFile(path.join(dir, (await readdir(dir))[0]), 'utf8')) !== '');
  t.same(await readdir(dir), [`.out.json.${pid}.partial`], 'the killed writer left its temporary file');
  const kept = [`.out.json.${livePid}.partial`, `.out.jsonx.${pid}.partial`, `.out.json.${pid}.partial~`, 'out.json.bak'];
  for (const n of kept) await writeFile(path.join(dir, n), 'keep\n');
  const out = pendingFile(file);
  out.stream.write('{}\n');
  await out.commit();
  t.same((await readdir(dir)).sort(), [...kept, 'out.json'].sort(), `.out.json.${pid}.partial removed, nothing else`);
  t.equal(await readFile(file, 'utf8'), '{}\n');
});

t.test('pendingFile: its temporary file exists when it returns, so a Ctrl-C right after leaves nothing; a folder that is gone throws at once', async (t) => {
  const dir = path.join(tmp, 'interrupted');
  await mkdir(dir);
  const file = path.join(dir, 'out.json');
  // Created by an open on the thread pool, the file could appear after the interrupt's clean-up had removed it.
  const script = `
    import { existsSync, readdirSync } from 'node:fs';
    import { pendingFile } from ${dist('cli/output.js')};
    const out = pendingFile(${JSON.stringify(file)});
    out.stream.write('{"frames": [');
    process.stdout.write(JSON.stringify(readdirSync(${JSON.stringify(dir)})));
    process.kill(process.pid, 'SIGINT');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
  t.equal(signal, 'SIGINT', 'it ends as SIGINT ends a process');
  t.same(JSON.parse(out), [`.out.json.${child.pid}.partial`], 'the temporary file was there when pendingFile returned');
  t.same(await readdir(dir), [], 'and it is gone');
  t.throws(() => pendingFile(path.join(tmp, 'gone', 'out.json')), { code: 'ENOENT', syscall: 'open' });
});

t.test('writeReport: a stage left by a SIGKILLed writer goes at the next report; a live one and look-alikes stay', async (t) => {
  const dir = path.join(tmp, 'report');
  const script = `
    import { writeReport } from ${dist('report/html.js')};
    let x = 1;
    const frames = Array.from({ length: 300 }, (_, seq) => ({
      seq, width: 512, height: 512, caption: 'new #' + seq,
      gray: new Uint8Array(512 * 512).map(() => (x = (x * 1103515245 + 12345) >>> 0) >>> 24),
    }));
    await writeReport(${JSON.stringify(dir)}, { title: 'new', summary: [], charts: [], frames });
  `;
  const stageOf = async () => (await readdir(dir).catch(() => [] as string[])).find((n) => n.startsWith('.report.'));
  const pid = await killMidway(script, async () => {
    const s = await stageOf();
    return s !== undefined && (await count(path.join(dir, s, 'frames'))) >= 3;
  });
  t.same(await readdir(dir), [`.report.${pid}.partial`], 'the killed writer left its stage');
  const kept = [`.report.${livePid}.partial`, `.report.${pid}.partial.old`, `report.${pid}.partial`, `.reports.${pid}.partial`];
  for (const n of kept) await mkdir(path.join(dir, n));
  const gray = new Uint8Array(8 * 6);
  await writeReport(dir, { title: 'next', summary: [], charts: [], frames: [{ seq: 0, width: 8, height: 6, gray, caption: '#0' }] });
  t.same((await readdir(dir)).sort(), [...kept, 'frames', 'index.html'].sort(), `.report.${pid}.partial removed, nothing else`);
});

t.test('a capture folder: temporaries a SIGKILLed writer left in .tmp go when a target opens the folder; a live one\'s and look-alikes stay', async (t) => {
  const dir = path.join(tmp, 'captures');
  const tmpDir = path.join(dir, '.tmp');
  // 2000 objects, each written and flushed in turn: long enough to kill the writer with some in .tmp.
  const script = `
    import { folderTarget } from ${dist('dicom/outbox.js')};
    const target = await folderTarget(${JSON.stringify(dir)});
    await target.putAll(Array.from({ length: 2000 }, (_, i) => ({ obj: { bytes: new Uint8Array(4096).fill(i) }, name: 'clip-' + i + '.dcm' })));
  `;
  const pid = await killMidway(script, async () => (await count(tmpDir)) >= 3);
  const left = await readdir(tmpDir);
  t.ok(left.length >= 3 && left.every((n) => new RegExp(`^clip-\\d+\\.dcm\\.${pid}\\.[0-9a-z]*$`).test(n)), `the killed writer left its temporaries: ${left.slice(0, 3).join(', ')}...`);
  t.same((await readdir(dir)).sort(), ['.tmp'], 'and no object in the folder (they go in all at once)');
  const kept = [`clip.dcm.${livePid}.abc123`, `clip.dcm.${process.pid}.x1`, `clip.dcm.${pid}.ABC`, `clip.dcm.${pid}x.abc`, 'notes.txt'];
  for (const n of kept) await writeFile(path.join(tmpDir, n), 'keep\n');
  const target = await folderTarget(dir);
  t.same((await readdir(tmpDir)).sort(), kept.sort(), 'the dead writer\'s temporaries removed, nothing else');
  await target.put({ bytes: new Uint8Array([1, 2, 3]) } as never, 'next.dcm');
  t.same((await readdir(dir)).sort(), ['.tmp', 'next.dcm']);
  t.same((await readdir(tmpDir)).sort(), kept.sort(), 'a write leaves no temporary of its own');
});

t.test('a capture folder whose .tmp is a link: what it names is not touched', async (t) => {
  const dir = path.join(tmp, 'linked');
  const elsewhere = path.join(tmp, 'elsewhere');
  await mkdir(dir);
  await mkdir(elsewhere);
  const dead = `clip.dcm.${2 ** 31 - 1}.abc`;
  await writeFile(path.join(elsewhere, dead), 'keep\n');
  await symlink(elsewhere, path.join(dir, '.tmp'));
  await folderTarget(dir);
  t.same(await readdir(elsewhere), [dead]);
});
