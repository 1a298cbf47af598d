// What serve's log says while the PACS outbox's tries fail (src/dicom/pacs-log.ts): the first failure of a run, a line
// when the backoff reaches retryMaxMs, then one per 10 minutes or on another code, each with the tries since the line
// before; one line when the PACS takes a try again. The clock is injected: exact lines, no waiting.
import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { BatchSender } from '../../src/dicom/outbox.js';
import { PACS_NOT_REACHABLE, PACS_STILL_NOT_REACHABLE, PacsFailureLog } from '../../src/dicom/pacs-log.js';
import { PacsError, type StoreResult } from '../../src/dicom/store.js';

type Line = [level: string, msg: string, fields: object];
const recorder = (lines: Line[]) => ({
  info: (o: object, m: string) => lines.push(['info', m, o]), warn: (o: object, m: string) => lines.push(['warn', m, o]), error: (o: object, m: string) => lines.push(['error', m, o]),
});

const refused = 'Expected the PACS ORTHANC@10.0.0.5:4242 to take the association but the connection failed: connect ECONNREFUSED 10.0.0.5:4242';

t.test('a run of failures with the outbox\'s default backoff (1 s doubling to 60 s): the first, the one that reaches 60 s, then one per 10 minutes; another code at once; reachable again once', async (t) => {
  const lines: Line[] = [];
  let now = 0;
  const pacsLog = new PacsFailureLog(recorder(lines), { where: 'ORTHANC@10.0.0.5:4242', retryMaxMs: 60_000, now: () => now });
  /** A failed try at `now`, whose retry comes after `delayMs` (the clock moves on to it). */
  const fail = (delayMs: number, code = 'ERR_SONOEDGE_PACS', error = refused) => {
    pacsLog.failed(error, code, delayMs);
    now += delayMs;
  };
  // Tries 1-6 at 0, 1, 3, 7, 15, 31 s (delays 1 to 32 s): the first is logged.
  for (const delay of [1000, 2000, 4000, 8000, 16_000, 32_000]) fail(delay);
  t.same(lines, [['warn', PACS_NOT_REACHABLE, { error: refused, code: 'ERR_SONOEDGE_PACS', delayMs: 1000, failedTries: 1, tries: 1 }]], 'the first failure only');
  lines.length = 0;
  // Try 7 at 63 s: the delay reaches 60 s, logged with the 6 tries since the first line. Tries 8-16 (one a minute) are
  // not; try 17 at 663 s, 10 minutes after the line before, is, with its 10 tries.
  for (let i = 7; i <= 20; i++) fail(60_000);
  const still = (failedTries: number, tries: number) => ['warn', PACS_STILL_NOT_REACHABLE, { error: refused, code: 'ERR_SONOEDGE_PACS', delayMs: 60_000, failedTries, tries }];
  t.same(lines, [still(7, 6), still(17, 10)], 'at the cap (63 s), then 10 minutes later (663 s): 2 lines for 14 tries');
  lines.length = 0;
  // Another code: at once, as the first of its run; and back again: at once too. The run of failed tries goes on.
  fail(60_000, 'ECONNRESET', 'the stand-in\'s socket was reset');
  fail(60_000);
  t.same(lines, [
    ['warn', PACS_NOT_REACHABLE, { error: 'the stand-in\'s socket was reset', code: 'ECONNRESET', delayMs: 60_000, failedTries: 21, tries: 4 }],
    ['warn', PACS_NOT_REACHABLE, { error: refused, code: 'ERR_SONOEDGE_PACS', delayMs: 60_000, failedTries: 22, tries: 1 }],
  ]);
  lines.length = 0;
  fail(60_000);
  pacsLog.recovered(false);
  t.same(lines, [['info', 'PACS reachable again after 23 failed tries', { failedTries: 23, pacs: 'ORTHANC@10.0.0.5:4242' }]], 'one line when the PACS takes a try again');
  lines.length = 0;

  // A new run starts over: its first failure is logged; one that ends with nothing left to send says so.
  fail(1000);
  pacsLog.recovered(true);
  t.same(lines, [
    ['warn', PACS_NOT_REACHABLE, { error: refused, code: 'ERR_SONOEDGE_PACS', delayMs: 1000, failedTries: 1, tries: 1 }],
    ['info', 'PACS outbox failure over after 1 failed try: nothing left to send (sent by another process sharing the outbox, or removed)', { failedTries: 1, pacs: 'ORTHANC@10.0.0.5:4242' }],
  ]);
  lines.length = 0;
  // One that ends with only held-back files left says they are still there (before: 'sent by another process ... or removed').
  fail(1000);
  pacsLog.recovered(true, 2);
  t.same(lines[1], ['info', 'PACS outbox failure over after 1 failed try: nothing left to send but 2 held back in pending/ (their move tried again every heldRetryMs)', { failedTries: 1, heldBack: 2, pacs: 'ORTHANC@10.0.0.5:4242' }]);
  lines.length = 0;
  // No failure before (a local one ends: the PACS was never said to be away): nothing.
  pacsLog.recovered(false);
  t.same(lines, []);
});

t.test('short retry settings (10 ms doubling to 40 ms): a minute of failures is 3 lines, not 1502', async (t) => {
  const lines: Line[] = [];
  let now = 0;
  const pacsLog = new PacsFailureLog(recorder(lines), { where: 'P@h:1', retryMaxMs: 40, everyMs: 30_000, now: () => now });
  let n = 0;
  while (now < 60_000) {
    const delayMs = Math.min(40, 10 * 2 ** n++);
    pacsLog.failed(refused, 'ERR_SONOEDGE_PACS', delayMs);
    now += delayMs;
  }
  t.equal(n, 1502);
  t.same(lines.map(([, m, o]) => [m, (o as { failedTries: number }).failedTries, (o as { tries: number }).tries]), [
    [PACS_NOT_REACHABLE, 1, 1], [PACS_STILL_NOT_REACHABLE, 3, 2], [PACS_STILL_NOT_REACHABLE, 753, 750],
  ], 'the first (0 ms), at the cap (30 ms), 30 s after it (everyMs 30000)');
});

t.test('serve\'s DICOM service: a PACS that fails 3 tries then takes the object logs one warning and one line when it is back (before: a warning per try)', async (t) => {
  const { DicomService } = await import('../../src/dicom/service.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pacs-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const name = '00000000000001-000000-clip.dcm';
  await mkdir(path.join(dir, 'outbox', 'pending'), { recursive: true });
  await writeFile(path.join(dir, 'outbox', 'pending', name), 'a stand-in object');
  let down = true;
  let warning = 0;
  const sender: BatchSender = {
    where: 'TEST@stand-in',
    store: async (files, on) => {
      if (down) throw new PacsError(refused);
      for (const file of files) on({ file, status: warning, outcome: 'stored', ...(warning ? { comment: 'coerced PatientName' } : {}) } as StoreResult);
    },
  };
  const lines: Line[] = [];
  const svc = await DicomService.start({ dir, pacs: { host: '127.0.0.1', port: 1, calledAet: 'NOWHERE', retryMinMs: 60_000 } }, recorder(lines), { sender, now: () => 0 });
  t.teardown(() => svc.close());
  const outbox = svc.outbox!;
  // The first try (started by open), then tries 2 and 3 at once (flush: no waiting for the backoff).
  for (let i = 0; i < 3; i++) await outbox.flush();
  t.same([outbox.stats.retries, outbox.stats.lastErrorCode], [3, 'ERR_SONOEDGE_PACS']);
  t.same(lines, [['warn', PACS_NOT_REACHABLE, { error: refused, code: 'ERR_SONOEDGE_PACS', delayMs: 60_000, failedTries: 1, tries: 1 }]], 'one warning for 3 tries');
  lines.length = 0;
  down = false;
  await outbox.flush();
  t.same(lines, [
    ['info', 'dicom object stored', { name, pacs: 'TEST@stand-in' }],
    ['info', 'PACS reachable again after 3 failed tries', { failedTries: 3, pacs: 'TEST@stand-in' }],
  ]);
  t.same([outbox.stats.lastError, outbox.stats.lastErrorCode], [null, null]);
  // Stored with a warning (B000 coercion of data elements): stored, and said with the status and the PACS's comment.
  lines.length = 0;
  warning = 0xb000;
  const second = '00000000000002-000000-sr.dcm';
  await writeFile(path.join(dir, 'outbox', 'pending', second), 'another stand-in object');
  await outbox.flush();
  t.same(lines, [['warn', 'dicom object stored with a warning from the PACS', { name: second, pacs: 'TEST@stand-in', status: '0xb000', comment: 'coerced PatientName' }]]);
  t.equal(outbox.stats.sent, 2);
});

t.test('the default clock is monotonic: a wall clock stepped back (NTP, an RTC wrong at boot) does not silence the lines', async (t) => {
  // The system's wall clock, which this test steps back.
  const wall = Date.now;
  let wallNow = wall();
  Date.now = () => wallNow;
  t.teardown(() => { Date.now = wall; });
  const lines: Line[] = [];
  const pacsLog = new PacsFailureLog(recorder(lines), { where: 'P@h:1', retryMaxMs: 1000, everyMs: 20 });
  pacsLog.failed(refused, 'ERR_SONOEDGE_PACS', 1000);
  // The clock goes back an hour: before, no line came until the wall clock had caught up (an hour and everyMs).
  wallNow -= 3_600_000;
  await new Promise((r) => setTimeout(r, 40));
  pacsLog.failed(refused, 'ERR_SONOEDGE_PACS', 1000);
  t.same(lines.map(([, m, o]) => [m, (o as { failedTries: number }).failedTries]), [[PACS_NOT_REACHABLE, 1], [PACS_STILL_NOT_REACHABLE, 2]], 'everyMs (20 ms) later by the monotonic clock: a line');
});
