// The outbox's own files (src/dicom/outbox.ts), with a stand-in PACS (the
// sender is injected; dicom.pacs.test.ts runs the real Orthanc): a move after
// the PACS answered that fails (a folder where the file must go) leaves the
// object in pending/, to be sent again, and never ends the process; failed/
// never holds an object without its whole reason; a write that fails leaves no
// temporary file behind; a capture's objects (clip, SC, SR) are placed all or
// nothing, tried with a real EFBIG (RLIMIT_FSIZE) in a child process; at
// open, tmp/ loses only the temporaries of writers that are gone (real
// processes: one that has exited, one that is alive); a pending file that
// cannot be read (a real folder in its place: root reads a chmod 000 file) goes
// to failed/ after maxReadFailures tries in a row, not retried for ever; an
// answered object whose move keeps failing is held back after maxMoveFailures,
// and its move alone (no second C-STORE) tried again every heldRetryMs, so that
// it goes where the PACS's answer sends it once the cause is fixed.
import t from 'tap';
import type { Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Outbox, folderTarget, type BatchSender } from '../../src/dicom/outbox.js';
import type { StoreResult } from '../../src/dicom/store.js';
import type { WrittenObject } from '../../src/dicom/writer.js';
import { seedFailed, tinyCapture } from '../helpers/capture.js';
import { until } from '../helpers/wait.js';

/** A clip of two 8x6 frames and its SR. */
const capture = (): WrittenObject[] => tinyCapture({ PatientID: 'P-1', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.78' });

/** Stores the clips, refuses the SRs (0xA900). */
const standIn: BatchSender = {
  where: 'TEST@stand-in',
  store: async (files: string[], on: (r: StoreResult) => void) => {
    for (const f of files) on({ file: f, status: f.includes('-sr-') ? 0xa900 : 0, outcome: f.includes('-sr-') ? 'refused' : 'stored' } as StoreResult);
  },
};

const tmp = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-outbox-'));
t.teardown(() => rm(tmp, { recursive: true, force: true }));

/** Every `names` event `box` emits from now on, as [name, ...its arguments]. */
function recordEvents(box: Outbox, names: string[]): unknown[][] {
  const events: unknown[][] = [];
  for (const e of names) box.on(e, (...a: unknown[]) => events.push([e, ...a]));
  return events;
}

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const next = (box: Outbox, event: string) => Promise.race([
  new Promise<unknown[]>((resolve) => box.once(event, (...a: unknown[]) => resolve(a))),
  new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no '${event}' within 5 s`)), 5000).unref()),
]);

t.test('a refused object whose reason cannot be written stays in pending/, the pump goes on, and it lands in failed/ whole later', async (t) => {
  const dir = path.join(tmp, 'refused');
  const box = await Outbox.open({ dir, sender: standIn, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  // A folder where the SR's reason must go, made as soon as the SR is queued (before the pump sees it). Before, the
  // object was moved to failed/ first and the reason written after it: the write's EISDIR rejected the pump, which no
  // one awaited, and the unhandled rejection ended the process (serve with it), the object in failed/ without a reason.
  let sr = '';
  box.on('queued', (file: string) => {
    if (file.includes('-sr-')) {
      sr = file;
      mkdirSync(path.join(dir, 'failed', `${file}.txt`, 'inside'), { recursive: true });
    }
  });
  const retry = next(box, 'retry');
  const fileError = next(box, 'fileError');
  for (const o of capture()) await box.put(o, `${o.kind}-${o.sopInstanceUid}.dcm`);
  const [error, , cause] = await retry;
  const reason = 'refused by the PACS TEST@stand-in with status 0xa900';
  t.match(error, new RegExp(`^${esc(`Expected to move ${sr}, ${reason}, into failed/ with its reason but received EISDIR: illegal operation on a directory, rename '${path.join(dir, 'tmp', `${sr}.txt.${process.pid}.`)}`)}[0-9a-z]+' -> '${esc(path.join(dir, 'failed', `${sr}.txt`))}'; it stays in pending/ and is sent again$`));
  t.equal(cause, 'local', 'a local file error, not the PACS');
  t.same(await fileError, [sr, 'EISDIR', error], 'fileError names the file and the file system\'s code');
  t.same(await box.pending(), [sr], 'the SR waits in pending/');
  t.same(await readdir(path.join(dir, 'failed')), [`${sr}.txt`], 'no object in failed/ without its reason');
  t.same(await readdir(path.join(dir, 'tmp')), [], 'no temporary file left');
  t.same([box.stats.sent, box.stats.failed, box.stats.pending, box.stats.lastError, box.stats.lastErrorCode], [1, 0, 1, error, 'EISDIR']);

  // Once the reason can be written, the next try moves the SR to failed/ beside it.
  await rm(path.join(dir, 'failed', `${sr}.txt`), { recursive: true });
  await box.flush();
  t.same(await box.pending(), []);
  t.same((await readdir(path.join(dir, 'failed'))).sort(), [sr, `${sr}.txt`]);
  t.equal(await readFile(path.join(dir, 'failed', `${sr}.txt`), 'utf8'), `${reason}\n`);
  t.same([box.stats.sent, box.stats.failed, box.stats.pending, box.stats.lastError, box.stats.lastErrorCode], [1, 1, 0, null, null]);
});

t.test('keepSent: a stored object that cannot be moved into sent/ stays in pending/ and is sent again', async (t) => {
  const dir = path.join(tmp, 'sent');
  const storing: BatchSender = { where: 'TEST@stand-in', store: async (files, on) => { for (const f of files) on({ file: f, status: 0, outcome: 'stored' } as StoreResult); } };
  const box = await Outbox.open({ dir, sender: storing, keepSent: true, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  let clip = '';
  box.on('queued', (file: string) => {
    clip = file;
    mkdirSync(path.join(dir, 'sent', file, 'inside'), { recursive: true });
  });
  const retry = next(box, 'retry');
  const fileError = next(box, 'fileError');
  await box.put(capture()[0], 'clip.dcm');
  const [error, , cause] = await retry;
  t.equal(error, `Expected to move ${clip}, stored by the PACS TEST@stand-in, into sent/ but received EISDIR: illegal operation on a directory, `
    + `rename '${path.join(dir, 'pending', clip)}' -> '${path.join(dir, 'sent', clip)}'; it stays in pending/ and is sent again`);
  t.equal(cause, 'local');
  t.same(await fileError, [clip, 'EISDIR', error]);
  t.same(await box.pending(), [clip]);
  t.same([box.stats.sent, box.stats.pending], [0, 1]);
  await rm(path.join(dir, 'sent', clip), { recursive: true });
  await box.flush();
  t.same([await box.pending(), await readdir(path.join(dir, 'sent')), box.stats.sent], [[], [clip], 1]);
});

t.test('open removes from tmp/ only the temporaries whose writer is gone: another live process\'s stay', async (t) => {
  const dir = path.join(tmp, 'shared');
  await mkdir(path.join(dir, 'tmp'), { recursive: true });
  // A live process that is not this one (a second serve writing into the same outbox), and one that has exited.
  const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600000)'], { stdio: 'ignore' });
  t.teardown(() => { sleeper.kill('SIGKILL'); });
  const dead = Number(spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout);
  t.ok(dead > 0 && dead !== sleeper.pid, `the exited writer's pid ${dead}`);
  const live = `00000000000001-000000-clip.dcm.${sleeper.pid}.k3x9`;
  const stale = [`00000000000002-000001-sr.dcm.${dead}.a1b2`, `00000000000003-000002-sr.dcm.txt.${dead}.zz`];
  const other = ['notes.txt', `clip.dcm.${dead}x.ab`];
  for (const n of [live, ...stale, ...other]) await writeFile(path.join(dir, 'tmp', n), 'half written');
  const box = await Outbox.open({ dir });
  t.teardown(() => box.close());
  // Before, every file in tmp/ was removed, the live writer's too: its rename into pending/ then failed with ENOENT.
  t.same((await readdir(path.join(dir, 'tmp'))).sort(), [live, ...other].sort(), 'the dead writer\'s temporaries are gone; the live one\'s and other names stay');
  t.equal(await readFile(path.join(dir, 'tmp', live), 'utf8'), 'half written');
});

t.test('failed/ replaced by a file: a local file error (ENOTDIR) naming the object, not the PACS; it stays in pending/', async (t) => {
  const dir = path.join(tmp, 'failed-file');
  const box = await Outbox.open({ dir, sender: standIn, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  await rm(path.join(dir, 'failed'), { recursive: true });
  await writeFile(path.join(dir, 'failed'), 'not a folder');
  const events = recordEvents(box, ['fileError']);
  box.on('retry', (...a: unknown[]) => events.push(['retry', ...a]));
  const retry = next(box, 'retry');
  const [, sr] = capture();
  await box.put(sr, 'sr-1.dcm');
  await retry;
  const [name] = await box.pending();
  const reason = 'refused by the PACS TEST@stand-in with status 0xa900';
  const prefix = `Expected to move ${name}, ${reason}, into failed/ with its reason but received ENOTDIR: not a directory, rename '${path.join(dir, 'tmp', `${name}.txt.${process.pid}.`)}`;
  t.equal(events.length, 2, 'one fileError, then one retry');
  const [[kind, file, code, error], [kind2, error2, delay, cause]] = events as [string, string, string, string][];
  t.same([kind, file, code, kind2, error2, delay, cause], ['fileError', name, 'ENOTDIR', 'retry', error, 60_000, 'local']);
  t.match(error, new RegExp(`^${esc(prefix)}[0-9a-z]+' -> '${esc(path.join(dir, 'failed', `${name}.txt`))}'; it stays in pending/ and is sent again$`));
  t.same([box.stats.failed, box.stats.pending, box.stats.lastError, box.stats.lastErrorCode], [0, 1, error, 'ENOTDIR'], 'the object waits in pending/');
  t.same(await readdir(path.join(dir, 'tmp')), [], 'no temporary file left');
});

/** Outbox.open refuses a count option that is not an integer of at least 1, with its name and the value's type. */
async function refusesBadCounts(t: Test, dir: string, sender: BatchSender, option: 'maxReadFailures' | 'maxMoveFailures'): Promise<void> {
  for (const bad of [0, 1.5, -1, Number.NaN]) {
    await t.rejects(Outbox.open({ dir, sender, [option]: bad }), {
      name: 'RangeError', code: 'ERR_SONOEDGE_OUTBOX', message: `Expected an integer of at least 1 for ${option} but received ${bad} of type number`,
    }, String(bad));
  }
}

/** A sender that reads each file as PacsClient does: a file it cannot read goes to onFileError, each other one gets the
 * PACS's answer `status` / `outcome`. */
function readingSender(status: number, outcome: StoreResult['outcome']): BatchSender {
  return {
    where: 'TEST@stand-in',
    store: async (files, on, onFileError) => {
      for (const f of files) {
        try {
          await readFile(f);
        } catch (err) {
          onFileError?.(f, err as NodeJS.ErrnoException);
          continue;
        }
        on({ file: f, status, outcome } as StoreResult);
      }
    },
  };
}

t.test('a pending file that cannot be read (a folder in its place) is moved to failed/ after maxReadFailures tries in a row, not tried for ever; the others go on', async (t) => {
  const dir = path.join(tmp, 'unreadable');
  const pending = path.join(dir, 'pending');
  await mkdir(pending, { recursive: true });
  const reading = readingSender(0, 'stored');
  // Tests run as root, whom permission bits do not stop: a folder under a pending file's name cannot be read (EISDIR).
  const folder = '00000000000001-000000-folder.dcm';
  const later = '00000000000001-000001-later.dcm';
  const first = '00000000000001-000002-clip.dcm';
  await mkdir(path.join(pending, folder, 'inside'), { recursive: true });
  const [clip, sr] = capture();
  await writeFile(path.join(pending, first), clip.bytes);
  const box = await Outbox.open({ dir, sender: reading, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  // Attached before the first try (started by open) has listed pending/.
  const events = recordEvents(box, ['sent', 'failed', 'fileError', 'unreadable', 'retry']);
  const read = `Expected to read ${folder} in the outbox's pending/ to send it to the PACS TEST@stand-in but received EISDIR: illegal operation on a directory, read`;
  const stays = `${read}; it was not sent and stays in pending/ while it is there`;
  await box.flush();
  t.same(events, [['sent', first, 0], ['fileError', folder, 'EISDIR', stays], ['retry', stays, 60_000, 'local', 'EISDIR']], 'try 1: the clip is sent, the folder is a local file error');
  events.length = 0;
  // Try 2 (flush: no waiting for the backoff).
  await box.flush();
  t.same(events, [['fileError', folder, 'EISDIR', stays], ['retry', stays, 60_000, 'local', 'EISDIR']], 'try 2: the same');
  events.length = 0;
  // Try 3, with a new object queued behind the folder. Before, this went on for ever: a fileError and a retry per try.
  await writeFile(path.join(pending, later), sr.bytes);
  await box.flush();
  const moved = path.join(dir, 'failed', folder);
  t.same(events, [
    ['sent', later, 0],
    ['unreadable', folder, 'EISDIR', `${read} in 3 tries in a row; it was not sent and is moved to ${moved}, beside its reason (${folder}.txt), and not tried again`, moved],
  ], 'try 3: the file behind it is sent; one \'unreadable\' naming where it is now, no fileError, no retry');
  t.same(await box.pending(), [], 'nothing left in pending/ to retry');
  t.same((await readdir(path.join(dir, 'failed'))).sort(), [folder, `${folder}.txt`], 'kept in failed/ (nothing deleted) beside its reason');
  t.same(await readdir(moved), ['inside'], 'moved whole');
  t.equal(await readFile(path.join(dir, 'failed', `${folder}.txt`), 'utf8'),
    'could not be read on this machine in 3 tries in a row (the last: EISDIR: illegal operation on a directory, read); not sent to the PACS TEST@stand-in\n');
  t.same([box.stats.sent, box.stats.failed, box.stats.pending, box.stats.lastError, box.stats.nextTryAt], [2, 1, 0, null, null]);
  events.length = 0;
  await box.flush();
  t.same(events, [], 'not tried again');
});

t.test('the tries are counted in a row: a file read again before maxReadFailures starts over, and maxReadFailures is checked', async (t) => {
  const dir = path.join(tmp, 'unreadable-then-read');
  const pending = path.join(dir, 'pending');
  await mkdir(pending, { recursive: true });
  const name = '00000000000001-000000-clip.dcm';
  // The first try reads it and the PACS answers "try again later" (status 0xA700): read, so its count starts over.
  const reading = readingSender(0xa700, 'retry');
  await mkdir(path.join(pending, name));
  const box = await Outbox.open({ dir, sender: reading, retryMinMs: 60_000, maxReadFailures: 2 });
  t.teardown(() => box.close());
  const events: string[] = [];
  for (const e of ['sent', 'fileError', 'unreadable', 'retry']) box.on(e, () => events.push(e));
  await box.flush();
  t.same(events, ['fileError', 'retry'], 'try 1 (started by open): one failure');
  events.length = 0;
  // Readable now: read (the PACS says later), so the failure before it does not count towards the next ones.
  await rm(path.join(pending, name), { recursive: true });
  await writeFile(path.join(pending, name), capture()[0].bytes);
  await box.flush();
  await rm(path.join(pending, name));
  await mkdir(path.join(pending, name));
  await box.flush();
  t.same(events, ['retry', 'fileError', 'retry'], 'read in try 2 (the PACS\'s retry), unreadable in try 3: one failure in a row, not two');
  events.length = 0;
  await box.flush();
  t.same(events, ['unreadable'], 'the second in a row moves it');
  t.same([await box.pending(), await readdir(path.join(dir, 'failed'))], [[], [name, `${name}.txt`]]);

  await refusesBadCounts(t, dir, reading, 'maxReadFailures');
});

t.test('an answered object whose move fails maxMoveFailures tries in a row is held back in pending/, told once, not sent again; the others go on', async (t) => {
  const dir = path.join(tmp, 'unmovable');
  const pending = path.join(dir, 'pending');
  await mkdir(path.join(dir, 'sent'), { recursive: true });
  await mkdir(pending, { recursive: true });
  // Every file the PACS is offered, in order: the stand-in stores them all.
  const offered: string[] = [];
  const storing: BatchSender = { where: 'TEST@stand-in', store: async (files, on) => { for (const f of files) { offered.push(path.basename(f)); on({ file: f, status: 0, outcome: 'stored' } as StoreResult); } } };
  const clip = '00000000000001-000000-clip.dcm';
  const later = '00000000000001-000001-later.dcm';
  const [c, sr] = capture();
  await writeFile(path.join(pending, clip), c.bytes);
  // A folder (not empty) where the stored clip must go in sent/: root is not stopped by permission bits, a folder is.
  await mkdir(path.join(dir, 'sent', clip, 'inside'), { recursive: true });
  const box = await Outbox.open({ dir, sender: storing, keepSent: true, retryMinMs: 60_000, maxMoveFailures: 2 });
  t.teardown(() => box.close());
  const events = recordEvents(box, ['sent', 'fileError', 'unmovable', 'retry']);
  const head = `Expected to move ${clip}, stored by the PACS TEST@stand-in, into sent/ but received EISDIR: illegal operation on a directory, `
    + `rename '${path.join(pending, clip)}' -> '${path.join(dir, 'sent', clip)}'`;
  const again = `${head}; it stays in pending/ and is sent again`;
  await box.flush();
  t.same(events, [['fileError', clip, 'EISDIR', again], ['retry', again, 60_000, 'local', 'EISDIR']], 'try 1: a local file error, sent again later');
  events.length = 0;
  // Try 2, with a new object queued behind it. Before, this went on for ever: the clip sent, a fileError and a retry per try.
  await writeFile(path.join(pending, later), sr.bytes);
  await box.flush();
  const file = path.join(pending, clip);
  t.same(events, [
    ['sent', later, 0],
    ['unmovable', clip, 'EISDIR', `${head} in 2 tries in a row; it stays at ${file}, is not sent again while this process runs and its move is tried again every 600000 ms (a restart sends it again)`, file],
  ], 'try 2: the file behind it is sent; one \'unmovable\' naming the file and where it is, no fileError, no retry');
  t.same(offered, [clip, clip, later], 'the clip was offered in tries 1 and 2 only');
  t.same(await box.pending(), [clip], 'left in pending/ (nothing deleted)');
  t.same(await readFile(file), Buffer.from(c.bytes), 'whole');
  // Before, nothing counted it: it was one of stats.pending like any file still to send.
  t.same([box.stats.sent, box.stats.pending, box.stats.held, box.stats.lastError, box.stats.nextTryAt], [1, 1, 1, null, null], 'held: 1 of the 1 pending');
  events.length = 0;
  await box.flush();
  t.same([events, offered.length, box.stats.held], [[], 3, 1], 'not sent again, still held');

  // A restart gives it its tries again: with the folder gone from sent/, it is sent and moved.
  await box.close();
  await rm(path.join(dir, 'sent', clip), { recursive: true });
  const box2 = await Outbox.open({ dir, sender: storing, keepSent: true, retryMinMs: 60_000, maxMoveFailures: 2 });
  t.teardown(() => box2.close());
  t.equal(box2.stats.held, 0, 'a restart holds nothing back');
  await box2.flush();
  t.same([await box2.pending(), (await readdir(path.join(dir, 'sent'))).sort(), offered.length], [[], [clip, later].sort(), 4]);
  t.same([box2.stats.pending, box2.stats.held], [0, 0]);
});

t.test('a refused object whose move into failed/ fails (failed/ a file) is held back after maxMoveFailures (default 3); maxMoveFailures is checked', async (t) => {
  const dir = path.join(tmp, 'unmovable-refused');
  const box = await Outbox.open({ dir, sender: standIn, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  await rm(path.join(dir, 'failed'), { recursive: true });
  await writeFile(path.join(dir, 'failed'), 'not a folder');
  const events: string[] = [];
  for (const e of ['failed', 'fileError', 'unmovable', 'retry']) box.on(e, () => events.push(e));
  let error: unknown[] = [];
  box.on('unmovable', (...a: unknown[]) => { error = a; });
  const retry = next(box, 'retry');
  await box.put(capture()[1], 'sr-1.dcm');
  await retry;
  const [name] = await box.pending();
  await box.flush();
  t.same(events, ['fileError', 'retry', 'fileError', 'retry'], 'tries 1 and 2: a local file error each');
  events.length = 0;
  await box.flush();
  t.same(events, ['unmovable'], 'try 3 holds it back');
  const file = path.join(dir, 'pending', name);
  t.same(error.slice(0, 2), [name, 'ENOTDIR']);
  t.match(error[2], new RegExp(`^${esc(`Expected to move ${name}, refused by the PACS TEST@stand-in with status 0xa900, into failed/ with its reason but received ENOTDIR: not a directory, rename '`)}.*${esc(`' in 3 tries in a row; it stays at ${file}, is not sent again while this process runs and its move is tried again every 600000 ms (a restart sends it again)`)}$`));
  t.equal(error[3], file);
  events.length = 0;
  await box.flush();
  t.same([events, await box.pending()], [[], [name]], 'not sent again; still in pending/');
  t.same([box.stats.pending, box.stats.held], [1, 1], 'held: 1 of the 1 pending');
  // A held file taken out of pending/ by hand (to look at it elsewhere) stops counting at the next listing.
  await rm(path.join(dir, 'pending', name));
  await box.flush();
  t.same([events, box.stats.pending, box.stats.held], [[], 0, 0], 'gone from pending/: neither pending nor held');

  await refusesBadCounts(t, dir, standIn, 'maxMoveFailures');
});

/** A stand-in PACS that counts every file it is offered (each offer is a C-STORE): stores clips, refuses SRs (0xA900). */
function countingSender(offered: string[]): BatchSender {
  return {
    where: 'TEST@stand-in',
    store: async (files, on) => {
      for (const f of files) offered.push(path.basename(f));
      await standIn.store(files, on);
    },
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => { setTimeout(resolve, ms); });


t.test('heldRetryMs: a stored object held back is moved once the cause is fixed, without a restart and without being sent again; \'sent\' then, once', async (t) => {
  const dir = path.join(tmp, 'held-stored');
  const pending = path.join(dir, 'pending');
  await mkdir(pending, { recursive: true });
  const clip = '00000000000001-000000-clip.dcm';
  const { bytes } = capture()[0];
  await writeFile(path.join(pending, clip), bytes);
  // A folder (not empty) where the stored clip must go in sent/: its move fails (EISDIR) until the folder is gone.
  await mkdir(path.join(dir, 'sent', clip, 'inside'), { recursive: true });
  const offered: string[] = [];
  const box = await Outbox.open({ dir, sender: countingSender(offered), keepSent: true, retryMinMs: 60_000, maxMoveFailures: 1, heldRetryMs: 50 });
  t.teardown(() => box.close());
  const events = recordEvents(box, ['sent', 'failed', 'fileError', 'unmovable', 'retry', 'recovered']);
  await box.flush();
  t.same(events.map((e) => e[0]), ['unmovable'], 'held back at its first try');
  t.match(events[0][3], / and its move is tried again every 50 ms \(a restart sends it again\)$/);
  t.same([box.stats.pending, box.stats.held, box.stats.sent], [1, 1, 0]);
  events.length = 0;
  // Four periods with the cause still there: its move fails each time, silently.
  await sleep(220);
  t.same([events, await box.pending(), box.stats.held], [[], [clip], 1], 'still held, nothing said again');
  // The cause fixed (the operator removes the folder): the next period moves it. Before, it stayed until a restart.
  await rm(path.join(dir, 'sent', clip), { recursive: true });
  await until(() => events.length > 0, 'moved', 5000);
  t.same(events, [['sent', clip, 0]], '\'sent\' once, as the PACS\'s answer would have said it');
  t.same([await box.pending(), await readdir(path.join(dir, 'sent'))], [[], [clip]], 'moved into sent/');
  t.same(await readFile(path.join(dir, 'sent', clip)), Buffer.from(bytes), 'whole');
  t.same([box.stats.pending, box.stats.held, box.stats.sent, box.stats.failed, box.stats.lastError], [0, 0, 1, 0, null], 'counted as sent when it was moved');
  t.same(offered, [clip], 'one C-STORE: the PACS had its answer, the move alone was tried again');
  await sleep(150);
  t.same([events.length, offered.length], [1, 1], 'nothing more');
});

t.test('heldRetryMs: a refused object held back goes to failed/ with its reason once failed/ is a folder again; \'failed\' then, once', async (t) => {
  const dir = path.join(tmp, 'held-refused');
  const offered: string[] = [];
  const box = await Outbox.open({ dir, sender: countingSender(offered), retryMinMs: 60_000, maxMoveFailures: 1, heldRetryMs: 50 });
  t.teardown(() => box.close());
  await rm(path.join(dir, 'failed'), { recursive: true });
  await writeFile(path.join(dir, 'failed'), 'not a folder');
  const events = recordEvents(box, ['sent', 'failed', 'fileError', 'unmovable', 'retry', 'recovered']);
  const unmovable = next(box, 'unmovable');
  await box.put(capture()[1], 'sr-1.dcm');
  await unmovable;
  const [name] = await box.pending();
  t.same(events.map((e) => e[0]), ['unmovable']);
  t.same([box.stats.pending, box.stats.held, box.stats.failed], [1, 1, 0]);
  events.length = 0;
  await sleep(220);
  t.same([events, box.stats.held], [[], 1], 'still held, nothing said again');
  await rm(path.join(dir, 'failed'));
  await mkdir(path.join(dir, 'failed'));
  await until(() => events.length > 0, 'moved', 5000);
  const reason = 'refused by the PACS TEST@stand-in with status 0xa900';
  t.same(events, [['failed', name, reason]], '\'failed\' once, with the PACS\'s reason');
  t.same([await box.pending(), (await readdir(path.join(dir, 'failed'))).sort()], [[], [name, `${name}.txt`]], 'in failed/ beside its reason');
  t.equal(await readFile(path.join(dir, 'failed', `${name}.txt`), 'utf8'), `${reason}\n`);
  t.same([box.stats.pending, box.stats.held, box.stats.sent, box.stats.failed], [0, 0, 0, 1], 'counted as failed when it was moved');
  t.same(offered, [name], 'one C-STORE');
  await sleep(150);
  t.same([events.length, offered.length], [1, 1], 'nothing more');
});

t.test('heldRetryMs: while the cause stays, a held object stays held, \'unmovable\' is said once and nothing after; heldRetryMs is checked', async (t) => {
  const dir = path.join(tmp, 'held-stuck');
  const offered: string[] = [];
  const sender = countingSender(offered);
  const box = await Outbox.open({ dir, sender, keepSent: true, retryMinMs: 60_000, maxMoveFailures: 2, heldRetryMs: 30 });
  t.teardown(() => box.close());
  let clip = '';
  box.on('queued', (file: string) => {
    clip = file;
    mkdirSync(path.join(dir, 'sent', file, 'inside'), { recursive: true });
  });
  const events: string[] = [];
  for (const e of ['sent', 'failed', 'fileError', 'unmovable', 'retry', 'recovered']) box.on(e, () => events.push(e));
  const retry = next(box, 'retry');
  await box.put(capture()[0], 'clip.dcm');
  await retry;
  // The first flush waits for the try that said 'retry' to end, the second makes try 2 (or finds it held already).
  await box.flush();
  await box.flush();
  t.same(events, ['fileError', 'retry', 'unmovable', 'recovered'], 'held back at its second try');
  await sleep(300);
  t.same(events, ['fileError', 'retry', 'unmovable', 'recovered'], 'ten periods later: nothing more');
  t.same([await box.pending(), box.stats.pending, box.stats.held, box.stats.sent, box.stats.lastError], [[clip], 1, 1, 0, null]);
  t.same(offered, [clip, clip], 'offered in its two tries only');
  t.ok((await readdir(path.join(dir, 'sent', clip))).includes('inside'), 'the folder in its way untouched');

  for (const bad of [0, 1.5, -1, Number.NaN, 2 ** 31]) {
    await t.rejects(Outbox.open({ dir, sender, heldRetryMs: bad }), {
      name: 'RangeError', code: 'ERR_SONOEDGE_OUTBOX', message: `Expected an integer between 1 and 2147483647 for heldRetryMs but received ${bad} of type number`,
    }, String(bad));
  }
});

t.test('inFailed: the objects in failed/ now (not their .txt reasons), listed at open and at every try, beside failed (moved there since start)', async (t) => {
  const dir = path.join(tmp, 'in-failed');
  await seedFailed(path.join(dir, 'failed'), ['00000000000001-000000-clip-1.dcm', '00000000000002-000000-sr-1.dcm'], 'TEST@stand-in');
  // Before, only `failed` (moves since start) existed: 0 after a restart although failed/ held 2 refused objects.
  const box = await Outbox.open({ dir, sender: standIn, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  t.same([box.stats.inFailed, box.stats.failed], [2, 0], 'failed/ as found at open');
  const failed = next(box, 'failed');
  for (const o of capture()) await box.put(o, `${o.kind}-${o.sopInstanceUid}.dcm`);
  await failed;
  await box.flush();
  t.same([box.stats.inFailed, box.stats.failed, box.stats.pending], [3, 1, 0], 'the SR refused now: 3 in failed/, 1 moved there');
  // An operator deals with one (object and reason removed): seen at the next try.
  await rm(path.join(dir, 'failed', '00000000000001-000000-clip-1.dcm'));
  await rm(path.join(dir, 'failed', '00000000000001-000000-clip-1.dcm.txt'));
  await box.flush();
  t.same([box.stats.inFailed, box.stats.failed], [2, 1], 'one removed by hand: 2 in failed/, failed still counts the move');
});

t.test('inFailed with nothing to send: failed/ listed again every failedRecountMs while it holds objects, so an operator\'s removals are seen without a try', async (t) => {
  const dir = path.join(tmp, 'in-failed-idle');
  await mkdir(path.join(dir, 'failed'), { recursive: true });
  const names = ['00000000000001-000000-clip-1.dcm', '00000000000002-000000-sr-1.dcm'];
  for (const name of names) await writeFile(path.join(dir, 'failed', name), 'DICM');
  const sent: string[] = [];
  const box = await Outbox.open({ dir, sender: countingSender(sent), failedRecountMs: 20 });
  t.teardown(() => box.close());
  t.equal(box.stats.inFailed, 2);
  // Before, with nothing pending no try ran, and the count stayed 2 until the next capture.
  await rm(path.join(dir, 'failed', names[0]));
  await until(() => box.stats.inFailed === 1, 'the removal seen', 5000);
  await rm(path.join(dir, 'failed', names[1]));
  await until(() => box.stats.inFailed === 0, 'failed/ empty', 5000);
  t.same([sent, box.stats.pending, box.stats.failed], [[], 0, 0], 'nothing sent, nothing pending: only listed');

  for (const bad of [0, 2.5, 2 ** 31]) {
    await t.rejects(Outbox.open({ dir, sender: standIn, failedRecountMs: bad }), {
      name: 'RangeError', code: 'ERR_SONOEDGE_OUTBOX', message: `Expected an integer between 1 and 2147483647 for failedRecountMs but received ${bad} of type number`,
    }, String(bad));
  }
});

t.test('a failed try whose files are gone by the next (sent by another process sharing the outbox, removed by hand): that try has nothing to send, and the failure is over', async (t) => {
  const dir = path.join(tmp, 'gone');
  const down: BatchSender = { where: 'TEST@stand-in', store: async () => { throw new Error('the PACS is down'); } };
  const box = await Outbox.open({ dir, sender: down, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  const retry = next(box, 'retry');
  for (const o of capture()) await box.put(o, `${o.kind}-${o.sopInstanceUid}.dcm`);
  t.same(await retry, ['the PACS is down', 60_000, 'pacs', 'ERR_SONOEDGE_PACS']);
  t.same([box.stats.pending, box.stats.retries, box.stats.lastError, box.stats.lastErrorCode, typeof box.stats.nextTryAt], [2, 1, 'the PACS is down', 'ERR_SONOEDGE_PACS', 'number']);
  for (const f of await box.pending()) await rm(path.join(dir, 'pending', f));
  const recovered = next(box, 'recovered');
  await box.flush();
  // Before, lastError stayed: /metrics said the last try failed (sonoedge_pacs_outbox_last_try_failed 1) and status
  // 'retrying' for as long as serve ran, with nothing pending and no retry waiting.
  t.same([box.stats.pending, box.stats.retries, box.stats.lastError, box.stats.lastErrorCode, box.stats.nextTryAt], [0, 1, null, null, null]);
  t.same(await recovered, [1, true, 0], 'recovered after 1 failed try, with nothing left to send (none held back)');
});

t.test('lastErrorCode: each failed try\'s code beside its message (the PACS\'s, a sender\'s own, the file system\'s), both null again once a try succeeds; \'recovered\' says after how many', async (t) => {
  const dir = path.join(tmp, 'codes');
  const { PacsError } = await import('../../src/dicom/store.js');
  const refused = 'Expected the PACS TEST@stand-in to take the association but the connection failed: connect ECONNREFUSED 127.0.0.1:4242';
  // One step per try: what the stand-in PACS does with the batch.
  const steps: ((files: string[], on: (r: StoreResult) => void) => void)[] = [
    () => { throw new PacsError(refused); },
    () => { throw Object.assign(new Error('the stand-in\'s socket was reset'), { code: 'ECONNRESET' }); },
    () => { throw new Error('the stand-in failed without a code'); },
    (files, on) => on({ file: files[0], status: 0xa700, outcome: 'retry', comment: 'out of resources' }),
    (files, on) => on({ file: files[0], status: 0, outcome: 'stored' }),
    (files, on) => { for (const f of files) on({ file: f, status: 0, outcome: 'stored' }); },
  ];
  let step = 0;
  const scripted: BatchSender = { where: 'TEST@stand-in', store: async (files, on) => steps[step++](files, on) };
  const box = await Outbox.open({ dir, sender: scripted, retryMinMs: 60_000 });
  t.teardown(() => box.close());
  const events = recordEvents(box, ['retry']);
  box.on('recovered', (...a: unknown[]) => events.push(['recovered', ...a]));
  const first = next(box, 'retry');
  await box.put(capture()[0], 'clip.dcm');
  await box.put(capture()[1], 'sr.dcm');
  await first;
  const [clip] = await box.pending();
  const failing = (lastError: string, lastErrorCode: string, retries: number, pending = 2) => ({
    pending, sent: 2 - pending, failed: 0, inFailed: 0, retries, lastError, lastErrorCode, nextTryAt: 'number', held: 0,
  });
  const stats = () => ({ ...box.stats, nextTryAt: box.stats.nextTryAt === null ? null : typeof box.stats.nextTryAt });
  const expected = [
    failing(refused, 'ERR_SONOEDGE_PACS', 1),
    failing('the stand-in\'s socket was reset', 'ECONNRESET', 2),
    failing('the stand-in failed without a code', 'ERR_SONOEDGE_PACS', 3),
    failing(`the PACS TEST@stand-in answered ${clip} with status 0xa700 (try again later): out of resources`, 'ERR_SONOEDGE_PACS', 4),
    failing('the PACS TEST@stand-in answered 1 of 2 files', 'ERR_SONOEDGE_PACS', 5, 1),
  ];
  for (const [i, want] of expected.entries()) {
    if (i > 0) await box.flush();
    t.same(stats(), want, `try ${i + 1}: ${want.lastErrorCode}`);
  }
  await box.flush();
  t.same(stats(), { pending: 0, sent: 2, failed: 0, inFailed: 0, retries: 5, lastError: null, lastErrorCode: null, nextTryAt: null, held: 0 }, 'sent: no error, no code');
  t.same(events, [
    ...expected.map((e) => ['retry', e.lastError, 60_000, 'pacs', e.lastErrorCode]),
    ['recovered', 5, false, 0],
  ], 'each retry with its code; one recovered after the 5 failed tries');
});

t.test('a capture folder: an object that cannot go into place fails whole and leaves no temporary file', async (t) => {
  const dir = path.join(tmp, 'captures');
  const target = await folderTarget(dir);
  const [clip] = capture();
  await mkdir(path.join(dir, 'clip.dcm', 'inside'), { recursive: true });
  await t.rejects(target.put(clip, 'clip.dcm'), { code: 'EISDIR' });
  t.same(await readdir(path.join(dir, '.tmp')), [], 'the temporary file is removed (before, it stayed in .tmp for good)');
  await target.put(clip, 'other.dcm');
  t.same((await readdir(dir)).sort(), ['.tmp', 'clip.dcm', 'other.dcm']);
  t.same(await readFile(path.join(dir, 'other.dcm')), Buffer.from(clip.bytes));
});

t.test('a capture whose SC cannot be written (EFBIG) leaves none of its objects: never a clip without its SR', async (t) => {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  if (!existsSync(path.join(root, 'dist', 'dicom', 'capture.js'))) {
    t.skip('dist/ is not built (npx tsc -p tsconfig.json)', () => {});
    return;
  }
  // Two 100x100 frames: the clip is about 21 kB, the SC (one RGB frame) about 31 kB, the SR about 5 kB; they are
  // written clip, SC, SR. With files limited to 26 kB the clip is written whole and the SC fails midway.
  // Node ignores SIGXFSZ (a write past the limit is EFBIG); tap's hooks, which it adds to every node it spawns, catch it
  // and end the process with it: a listener of our own restores Node's behaviour.
  const script = `
    process.on('SIGXFSZ', () => {});
    import { AutoCapture } from ${JSON.stringify(path.join(root, 'dist', 'dicom', 'capture.js'))};
    import { folderTarget } from ${JSON.stringify(path.join(root, 'dist', 'dicom', 'outbox.js'))};
    const result = (seq) => ({
      seq, acquiredAt: seq * 25, view: { label: 'A4C', confidence: 0.99, shown: 'A4C', shownConfidence: 0.99, changed: false, probabilities: [] },
      quality: { score: 0.8, smoothed: 0.8, good: true }, state: 'ok', idScore: null, idScoreRaw: null, frameState: 'ok',
      lv: { areaMm2: 1000 + seq, lengthMm: 80, pixels: 100, contour: [], contourFrame: [10, 10, 50, 10, 50, 50], mask: { width: 1, height: 1, data: new Uint8Array(1) } },
    });
    const errors = [];
    const cap = new AutoCapture({ capture: { seconds: 0.05 }, writer: { secondaryCapture: true }, target: await folderTarget(process.argv[1]),
      onError: (err, where) => errors.push(where.view + ': ' + err.message) });
    cap.open(0, { width: 100, height: 100, format: 'GRAY8', frameTimeMs: 25, spacingMm: [0.5, 0.5], study: { PatientID: 'X' } }, () => []);
    for (let i = 0; i < 4; i++) cap.offer(0, new Uint8Array(10000).fill(i * 40 + 1), result(i));
    const captured = (await cap.finish(0)).map((s) => s.objects.map((o) => o.kind));
    process.stdout.write(JSON.stringify({ captured, errors }));
  `;
  const capture = (dir: string, limitKb?: number) => {
    const node = `${JSON.stringify(process.execPath)} --input-type=module -e "$0" "$1"`;
    const r = spawnSync('bash', ['-c', `${limitKb === undefined ? '' : `ulimit -f ${limitKb} && `}exec ${node}`, script, dir], { encoding: 'utf8' });
    t.equal(r.status, 0, `${r.signal} ${r.stderr}`);
    return JSON.parse(r.stdout) as { captured: string[][]; errors: string[] };
  };
  const whole = path.join(tmp, 'whole');
  t.same(capture(whole), { captured: [['clip', 'sc', 'sr']], errors: [] });
  const sizes = Object.fromEntries(await Promise.all((await readdir(whole)).filter((f) => f.endsWith('.dcm')).map(async (f) => [f.slice(0, 2), (await readFile(path.join(whole, f))).length])));
  t.ok(sizes.cl < 25 * 1024 && sizes.sc > 27 * 1024 && sizes.sr < 25 * 1024, `clip ${sizes.cl}, SC ${sizes.sc}, SR ${sizes.sr} bytes`);

  // Before, the clip went into place before the SC was written: it stayed (and with the outbox, was sent) alone.
  const cut = path.join(tmp, 'cut');
  t.same(capture(cut, 26), { captured: [], errors: ['A4C: EFBIG: file too large, write'] });
  t.same(await readdir(cut), ['.tmp'], 'no object of the capture in the folder');
  t.same(await readdir(path.join(cut, '.tmp')), [], 'and no temporary file');
});
