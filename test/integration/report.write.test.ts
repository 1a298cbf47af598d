// writeReport (src/report/html.ts) is all or nothing: a real process writing a
// report over an earlier one, interrupted (SIGINT) while its frames are being
// written, leaves the earlier report byte for byte and no temporary folder.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeReport } from '../../src/report/html.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-report-write-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

const snapshot = async (dir: string) => {
  const frames = (await readdir(path.join(dir, 'frames'))).sort();
  return {
    top: (await readdir(dir)).sort(),
    index: await readFile(path.join(dir, 'index.html'), 'utf8'),
    frames: await Promise.all(frames.map(async (n) => [n, (await readFile(path.join(dir, 'frames', n))).toString('base64')])),
  };
};

t.test('SIGINT while the frames are written: the earlier report stays whole, the temporary folder goes, the process ends as SIGINT ends it', async (t) => {
  const dir = path.join(tmp, 'report');
  const gray = new Uint8Array(8 * 6).map((_, i) => i * 5);
  await writeReport(dir, {
    title: 'earlier', summary: [['run', 'earlier']], charts: [],
    frames: [0, 1].map((seq) => ({ seq, width: 8, height: 6, gray, caption: `earlier #${seq}` })),
  });
  const before = await snapshot(dir);
  t.same(before.top, ['frames', 'index.html']);
  t.same(before.frames.map(([n]) => n), ['000000.png', '000001.png']);
  // 300 frames of 512x512 noise: seconds of PNG encoding, plenty of time to interrupt it midway.
  const script = `
    import { writeReport } from ${JSON.stringify(path.join(root, 'dist', 'report', 'html.js'))};
    let x = 1;
    const frames = Array.from({ length: 300 }, (_, seq) => ({
      seq, width: 512, height: 512, caption: 'new #' + seq,
      gray: new Uint8Array(512 * 512).map(() => (x = (x * 1103515245 + 12345) >>> 0) >>> 24),
    }));
    process.stdout.write('writing\\n');
    await writeReport(${JSON.stringify(dir)}, { title: 'new', summary: [], charts: [], frames });
    process.stdout.write('done\\n');
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
  const stage = path.join(dir, `.report.${child.pid}.partial`);
  // Interrupted once a few of the new frames are on disk (under the temporary name).
  const written = async () => (await readdir(path.join(stage, 'frames')).catch(() => [])).length;
  while ((await written()) < 3 && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
  t.ok((await written()) >= 3 && (await written()) < 300, 'interrupted midway');
  child.kill('SIGINT');
  t.equal(await exited, 'SIGINT', `it ends as SIGINT ends a process (${err})`);
  t.equal(out, 'writing\n');
  t.same(await snapshot(dir), before, 'the earlier page and frames byte for byte, no temporary folder');
});
