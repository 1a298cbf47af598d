// A real PACS: Orthanc (Debian package) started here on loopback with a
// temporary config and storage. The outbox stores captured objects to it by
// C-STORE and they are found again by C-FIND and by its REST API; Orthanc is
// killed mid-transfer: what it did not acknowledge waits in pending/, survives
// a restart of the outbox (the runtime), and goes when Orthanc is back;
// nothing is lost and a duplicate send leaves one instance. AE titles: a
// wrong called AE title is refused with a coded error naming it. Each kind
// of C-STORE status, answered by pynetdicom's Storage SCP
// (test/helpers/storescp_peer.py), is told as the outbox acts on it.
import t from 'tap';
import { unlinkSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Outbox } from '../../src/dicom/outbox.js';
import { LocalFileError, PacsClient, storeOutcome, type StoreResult } from '../../src/dicom/store.js';
import { captureUids, writeCapture, type ClipRecord, type WrittenObject } from '../../src/dicom/writer.js';
import { freePort } from '../helpers/net.js';
import { ORTHANC, killOrthanc as kill, orthancInstances as instances, startOrthanc, type Pacs } from '../helpers/orthanc.js';
import { pynetdicomMissing, startStoreScp } from '../helpers/storescp.js';

const STUDY = '1.2.826.0.1.3680043.8.498.77';
/** A capture of `frames` 320x240 frames (big enough that a batch is still in flight when Orthanc is killed). */
function capture(frames: number): WrittenObject[] {
  const w = 320;
  const h = 240;
  const r: ClipRecord = {
    study: { PatientName: 'Doe^John', PatientID: 'P-7', StudyInstanceUID: STUDY },
    frames: { width: w, height: h, format: 'GRAY8', frames: Array.from({ length: frames }, (_, k) => Uint8Array.from({ length: w * h }, (_, i) => (i + k * 13) & 255)) },
    frameTimeMs: 33.3, spacingMm: [0.3, 0.3], seqs: Array.from({ length: frames }, (_, k) => k), acquiredAt: new Date(),
    measurements: { view: 'A4C', qualityMean: 0.8, qualityMin: 0.7, ef: { ef: 58.25, efRaw: 58.25, ci: [50, 66], quality: 'ok', method: 'beats', beats: 2, edvMl: 110, esvMl: 46, edFrame: 0, esFrame: 1 } },
    models: [{ id: 'm@1', variant: 'fp32', sha256: '0'.repeat(64), manifestSha256: '1'.repeat(64) }],
    contours: [],
  };
  return writeCapture(r, captureUids(r.study));
}


/** A temporary folder with an Orthanc running in it; both go at the end of the test. */
async function orthancIn(t: { teardown: (fn: () => unknown) => void }): Promise<{ dir: string; pacs: Pacs }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pacs-'));
  const pacs = await startOrthanc(dir);
  t.teardown(async () => {
    await kill(pacs);
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, pacs };
}

/** sonoedge's client of that Orthanc, with short timeouts. */
const clientOf = (pacs: Pacs) => new PacsClient({ host: '127.0.0.1', port: pacs.dicom, calledAet: 'ORTHANC', callingAet: 'SONOEDGE', connectTimeoutMs: 1000, associationTimeoutMs: 3000 });
t.test('storeOutcome: statuses the outbox acts on', async (t) => {
  t.same([0x0000, 0xb000, 0xb007, 0xa700, 0xa9ff, 0xc000, 0x0122].map(storeOutcome), ['stored', 'stored', 'stored', 'retry', 'refused', 'refused', 'refused']);
  // PS3.4 B.2.3 (C-STORE) and PS3.7 Annex C (the status classes): a warning (0001, Bxxx, 0107, 0116) means the PACS
  // stored the object; before, a warning outside B000/B006/B007 moved an object the PACS holds into failed/ as refused.
  const outcomes = (statuses: number[]) => statuses.map((s) => `0x${s.toString(16).padStart(4, '0')} ${storeOutcome(s)}`);
  t.same(outcomes([0xb006, 0xb001, 0xbfff, 0x0001, 0x0107, 0x0116]), ['0xb006 stored', '0xb001 stored', '0xbfff stored', '0x0001 stored', '0x0107 stored', '0x0116 stored'], 'warnings: stored');
  t.same(outcomes([0xa701, 0xa7ff, 0x0110, 0x0213]), ['0xa701 retry', '0xa7ff retry', '0x0110 retry', '0x0213 retry'], 'out of resources, processing failure, resource limitation: tried again');
  t.equal(storeOutcome(0x0212), 'refused', 'mistyped argument: the object\'s own, the same on every try (retried for ever before)');
  t.equal(storeOutcome(0x0111), 'stored', 'duplicate SOP instance: the PACS holds this object already (sent again under its UID)');
  t.same(outcomes([0xa900, 0xa9ff, 0xcfff, 0xa800, 0x0124, 0xfe00, 0xff00]),
    ['0xa900 refused', '0xa9ff refused', '0xcfff refused', '0xa800 refused', '0x0124 refused', '0xfe00 refused', '0xff00 refused'],
    'does not match the SOP class, cannot understand, not authorised, other failures and what a C-STORE never answers: refused');
});

t.test('PACS options are checked', async (t) => {
  t.throws(() => new PacsClient({ host: '127.0.0.1', port: 104, calledAet: 'A\\B' }), { code: 'ERR_SONOEDGE_PACS', message: 'Expected an AE title of 1 to 16 characters, not all spaces, without backslash for pacs.calledAet but received "A\\\\B" of type string' });
  t.throws(() => new PacsClient({ host: '127.0.0.1', port: 0, calledAet: 'X' }), { code: 'ERR_SONOEDGE_PACS', message: 'Expected a TCP port 1..65535 for pacs.port but received 0 of type number' });
  t.throws(() => new PacsClient({ host: '127.0.0.1', port: 104, calledAet: 'X', tls: { ca: '/nonexistent/ca.pem' } }), { code: 'ERR_SONOEDGE_PACS', message: 'Expected a readable PEM file for pacs.tls.ca but received "/nonexistent/ca.pem" (ENOENT)' });
});

t.test('PACS options: host is the PACS\'s address or host name, as the serve config\'s dicom.pacs.host', async (t) => {
  for (const h of ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1%eth0', 'pacs', 'pacs.hospital.example', 'orthanc_1']) {
    t.equal(new PacsClient({ host: h, port: 104, calledAet: 'PACS' }).options.host, h, h);
  }
  const refused: [host: unknown, message: string][] = [
    ...['10.300.0.1', '127.300.0.1', '10.0.0', '10.0.0.01', '1.2.3.4.5', '[::1]', 'pacs host', 'pacs:104', '-pacs', '']
      .map((h): [string, string] => [h, `Expected an IPv4 or IPv6 address or a host name for pacs.host but received ${JSON.stringify(h)} of type string`]),
    [104, 'Expected an IPv4 or IPv6 address or a host name for pacs.host but received 104 of type number'],
    ...['0.0.0.0', '::', '::0', '::ffff:0.0.0.0']
      .map((h): [string, string] => [h, `Expected the PACS's address or host name (not an address to listen on) for pacs.host but received ${JSON.stringify(h)} of type string`]),
  ];
  for (const [host, message] of refused) {
    const err = (() => { try { new PacsClient({ host: host as string, port: 104, calledAet: 'PACS' }); return undefined; } catch (e) { return e as Error; } })();
    t.ok(err instanceof RangeError, `${JSON.stringify(host)}: a RangeError`);
    t.match(err, { code: 'ERR_SONOEDGE_PACS' }, `${JSON.stringify(host)}: code`);
    t.equal(err?.message, message, JSON.stringify(host));
  }
});

t.test('a PACS nobody listens for: the coded error says the connection failed and why, without dcmjs-dimse\'s log decoration', async (t) => {
  const port = await freePort();
  const client = new PacsClient({ host: '127.0.0.1', port, calledAet: 'NOBODY', connectTimeoutMs: 1000 });
  // Before: 'the connection failed:  -> Connection error: connect ECONNREFUSED ...' (dcmjs-dimse's log line: its log id,
  // empty before an association, an arrow and a label), shown as is by /health's outbox.lastError and sonoedge status.
  await t.rejects(client.echo(), {
    code: 'ERR_SONOEDGE_PACS',
    message: `Expected the PACS NOBODY@127.0.0.1:${port} to take the association but the connection failed: connect ECONNREFUSED 127.0.0.1:${port}`,
  });
});

t.test('Orthanc: store, query back, outage mid-transfer, restart, duplicate', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pacs-'));
  let pacs = await startOrthanc(dir);
  t.teardown(async () => {
    await kill(pacs);
    await rm(dir, { recursive: true, force: true });
  });
  const opts = { host: '127.0.0.1', port: pacs.dicom, calledAet: 'ORTHANC', callingAet: 'SONOEDGE', connectTimeoutMs: 1000, associationTimeoutMs: 3000 };
  const client = new PacsClient(opts);
  await client.echo();

  // A wrong called AE title: refused, coded, named.
  await t.rejects(new PacsClient({ ...opts, calledAet: 'NOTORTHANC' }).echo(), {
    code: 'ERR_SONOEDGE_PACS',
    message: `Expected the PACS NOTORTHANC@127.0.0.1:${pacs.dicom} to take the association but it was rejected (result 1, source 1, reason 7: called AE title not recognised)`,
  });

  // 1. Stored and found again.
  const boxDir = path.join(dir, 'outbox');
  let box = await Outbox.open({ dir: boxDir, sender: client, batch: 4, retryMinMs: 100, retryMaxMs: 400 });
  const first = capture(4);
  const sent: string[] = [];
  box.on('sent', (n: string) => sent.push(n));
  const allSent = (n: number) => new Promise<void>((resolve) => { const check = () => (sent.length >= n ? resolve() : setTimeout(check, 20)); check(); });
  for (const o of first) await box.put(o, `${o.kind}-${o.sopInstanceUid}.dcm`);
  await allSent(2);
  t.same(await box.pending(), [], 'nothing pending once Orthanc acknowledged both');
  const found = await client.findImages({ StudyInstanceUID: STUDY, SOPInstanceUID: '', SOPClassUID: '' });
  t.same(found.map((f) => f.SOPInstanceUID).sort(), first.map((o) => o.sopInstanceUid).sort(), 'C-FIND finds the clip and the SR in the input\'s study');
  t.same(await instances(pacs), first.map((o) => o.sopInstanceUid).sort(), 'so does the REST API');

  // 2. Orthanc killed while a batch is in flight: what it did not acknowledge stays pending.
  const many = [capture(30), capture(30), capture(30)].flat();
  let killed = false;
  box.on('sent', () => {
    if (!killed) {
      killed = true;
      void kill(pacs);
    }
  });
  const retried = new Promise<string>((resolve) => box.once('retry', (err: string) => resolve(err)));
  for (const o of many) await box.put(o, `${o.kind}-${o.sopInstanceUid}.dcm`);
  t.match(await retried, /^Expected the PACS ORTHANC@127\.0\.0\.1:\d+ to take the association but|answered \d of \d files/, 'the failure is named');
  const waiting = await box.pending();
  t.ok(waiting.length >= 1 && waiting.length < many.length + 1, `objects wait in pending/ (${waiting.length} of ${many.length})`);

  // 3. The runtime stops (the outbox closes) and starts again over the same folder while the PACS is still down.
  await box.close();
  box = await Outbox.open({ dir: boxDir, sender: client, batch: 4, retryMinMs: 100, retryMaxMs: 400 });
  t.same(await box.pending(), waiting, 'a restart finds pending/ as it was');
  // The reopened outbox tries at once and fails: that 'retry' may come before a listener could be added, and its
  // next try's timer is unref'd (it keeps no process alive), so wait on the count, with a timer of the test's own.
  for (let i = 0; i < 200 && box.stats.retries === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(box.stats.retries >= 1, 'the reopened outbox tried the PACS that is still down');

  // 4. Orthanc returns (same storage, same ports): everything goes, exactly once.
  pacs = await startOrthanc(dir, { http: pacs.http, dicom: pacs.dicom });
  await box.flush();
  for (let i = 0; i < 100 && (await box.pending()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(await box.pending(), [], 'nothing pending once Orthanc is back');
  const all = [...first, ...many].map((o) => o.sopInstanceUid).sort();
  t.same(await instances(pacs), all, 'every object is in the PACS once: nothing lost');

  // 5. A duplicate send (an acknowledgement lost in a crash) is harmless.
  const again = many[0];
  await box.put(again, `${again.kind}-${again.sopInstanceUid}.dcm`);
  await box.flush();
  for (let i = 0; i < 100 && (await box.pending()).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(await instances(pacs), all, 'still one instance per SOP Instance UID');
  await box.close();
  t.same(await readdir(path.join(boxDir, 'failed')), [], 'nothing refused');
});

t.test('a PACS that refuses the object: failed/ with the reason, the rest go on', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pacs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const refusing = { where: 'TEST@stand-in', store: async (files: string[], on: (r: { file: string; status: number; outcome: 'stored' | 'refused' | 'retry' }) => void) => {
    for (const f of files) on({ file: f, status: f.includes('sr-') ? 0xa900 : 0, outcome: f.includes('sr-') ? 'refused' : 'stored' });
  } };
  const box = await Outbox.open({ dir, sender: refusing });
  const objs = capture(2);
  for (const o of objs) await box.put(o, `${o.kind}-${o.sopInstanceUid}.dcm`);
  await box.flush();
  const failed = await readdir(path.join(dir, 'failed'));
  t.equal(failed.length, 2);
  t.match(failed.sort()[1], /sr-.*\.dcm\.txt$/);
  t.same([box.stats.sent, box.stats.failed, box.stats.pending], [1, 1, 0]);
  await box.close();
  // An outbox over a folder it cannot write is a coded error.
  await writeFile(path.join(dir, 'file'), '');
  await t.rejects(Outbox.open({ dir: path.join(dir, 'file', 'box') }), { code: 'ERR_SONOEDGE_OUTBOX', message: `Expected an outbox folder sonoedge can write at ${path.join(dir, 'file', 'box')} but ENOTDIR` });
});

t.test('a real Storage SCP (pynetdicom) answering each kind of C-STORE status: each file\'s status, outcome and Error Comment as it answered', { skip: pynetdicomMissing() ?? false }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pacs-status-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // One association, one file per status, in this order (the peer answers its Nth C-STORE with the Nth status).
  const statuses = [0x0000, 0xb000, 0xb006, 0xb007, 0xb001, 0xa700, 0xa7ff, 0x0110, 0xa900, 0xc000, 0x0122];
  const objs = Array.from({ length: Math.ceil(statuses.length / 2) }, () => capture(1)).flat().slice(0, statuses.length);
  const files: string[] = [];
  for (const [i, o] of objs.entries()) {
    files.push(path.join(dir, `${String(i).padStart(2, '0')}-${o.kind}.dcm`));
    await writeFile(files[i], o.bytes);
  }
  const scp = await startStoreScp({ port: await freePort(), aet: 'REFUSER', nth: Object.fromEntries(statuses.map((s, i) => [i + 1, s])), comment: 'chosen by the test' });
  t.teardown(() => scp.stop());
  const client = new PacsClient({ host: '127.0.0.1', port: scp.port, calledAet: 'REFUSER', connectTimeoutMs: 2000, associationTimeoutMs: 5000 });
  const results: StoreResult[] = [];
  await client.store(files, (r) => results.push(r));
  const hex = (s: number) => `0x${s.toString(16).padStart(4, '0')}`;
  t.same(results.map((r) => [path.basename(r.file), hex(r.status), r.outcome, r.comment ?? null]), [
    ['00-clip.dcm', '0x0000', 'stored', null],
    ['01-sr.dcm', '0xb000', 'stored', 'chosen by the test'],
    ['02-clip.dcm', '0xb006', 'stored', 'chosen by the test'],
    ['03-sr.dcm', '0xb007', 'stored', 'chosen by the test'],
    ['04-clip.dcm', '0xb001', 'stored', 'chosen by the test'],
    ['05-sr.dcm', '0xa700', 'retry', 'chosen by the test'],
    ['06-clip.dcm', '0xa7ff', 'retry', 'chosen by the test'],
    ['07-sr.dcm', '0x0110', 'retry', 'chosen by the test'],
    ['08-clip.dcm', '0xa900', 'refused', 'chosen by the test'],
    ['09-sr.dcm', '0xc000', 'refused', 'chosen by the test'],
    ['10-clip.dcm', '0x0122', 'refused', 'chosen by the test'],
  ]);
  t.same(scp.stores.map((x) => [x.n, x.sopClass, x.sopInstance, x.callingAet, hex(x.status)]),
    objs.map((o, i) => [i + 1, o.sopClassUid, o.sopInstanceUid, 'SONOEDGE', hex(statuses[i])]), 'the peer received each file once, as sent, and answered its status');
});

t.test('Orthanc: a pending file that cannot be read here (a folder in its place, deleted) is a local file error, not the PACS; the rest are stored', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const { dir, pacs } = await orthancIn(t);
  const client = clientOf(pacs);
  const boxDir = path.join(dir, 'outbox');
  const pending = path.join(boxDir, 'pending');
  await mkdir(pending, { recursive: true });
  // As pending/ holds them when the sender reads them: a folder put where a file was, a name whose file is gone
  // (a link to nothing: listed, but ENOENT on reading), and a clip that is there.
  const [clip] = capture(2);
  const folder = '00000000000001-000000-folder.dcm';
  const gone = '00000000000001-000001-gone.dcm';
  const there = '00000000000001-000002-clip.dcm';
  await mkdir(path.join(pending, folder));
  await symlink(path.join(dir, 'nothing.dcm'), path.join(pending, gone));
  await writeFile(path.join(pending, there), clip.bytes);
  const fileErrors: unknown[][] = [];
  const box = await Outbox.open({ dir: boxDir, sender: client, retryMinMs: 60_000 });
  box.on('fileError', (...a: unknown[]) => fileErrors.push(a));
  const [error, delayMs, cause] = await new Promise<unknown[]>((resolve) => box.once('retry', (...a: unknown[]) => resolve(a)));
  t.teardown(() => box.close());
  // Before, reading the folder threw before any association: nothing was stored and the retry said the PACS.
  t.same([delayMs, cause], [60_000, 'local'], 'a local retry, not the PACS');
  t.same(await instances(pacs), [clip.sopInstanceUid], 'Orthanc stored the clip that was there');
  const where = `ORTHANC@127.0.0.1:${pacs.dicom}`;
  const read = (name: string, why: string) => `Expected to read ${name} in the outbox's pending/ to send it to the PACS ${where} but received ${why}; it was not sent and stays in pending/ while it is there`;
  t.same(fileErrors, [
    [folder, 'EISDIR', read(folder, 'EISDIR: illegal operation on a directory, read')],
    [gone, 'ENOENT', read(gone, `ENOENT: no such file or directory, open '${path.join(pending, gone)}'`)],
  ]);
  t.equal(error, fileErrors[0][2]);
  t.same((await box.pending()).sort(), [gone, folder].sort(), 'the clip left pending/; what cannot be read stays while it is there');
  t.same([box.stats.sent, box.stats.failed], [1, 0]);
});

t.test('Orthanc: a pending file that cannot be read in maxReadFailures tries in a row goes to failed/ with its reason, once; the rest are stored', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const { dir, pacs } = await orthancIn(t);
  const client = clientOf(pacs);
  const boxDir = path.join(dir, 'outbox');
  const pending = path.join(boxDir, 'pending');
  await mkdir(pending, { recursive: true });
  // Tests run as root, whom permission bits do not stop: a folder under a pending file's name cannot be read (EISDIR).
  const [clip, sr] = capture(2);
  const folder = '00000000000001-000000-folder.dcm';
  await mkdir(path.join(pending, folder));
  await writeFile(path.join(pending, '00000000000001-000001-clip.dcm'), clip.bytes);
  const box = await Outbox.open({ dir: boxDir, sender: client, retryMinMs: 60_000, maxReadFailures: 2 });
  t.teardown(() => box.close());
  const events: unknown[][] = [];
  for (const e of ['fileError', 'unreadable', 'retry']) box.on(e, (...a: unknown[]) => events.push([e, ...a]));
  await box.flush();
  await writeFile(path.join(pending, '00000000000001-000002-sr.dcm'), sr.bytes);
  await box.flush();
  // Before, the folder was a fileError and a 'local' retry on every try, for as long as the process ran.
  const read = `Expected to read ${folder} in the outbox's pending/ to send it to the PACS ${client.where} but received EISDIR: illegal operation on a directory, read`;
  const moved = path.join(boxDir, 'failed', folder);
  t.same(events, [
    ['fileError', folder, 'EISDIR', `${read}; it was not sent and stays in pending/ while it is there`],
    ['retry', `${read}; it was not sent and stays in pending/ while it is there`, 60_000, 'local', 'EISDIR'],
    ['unreadable', folder, 'EISDIR', `${read} in 2 tries in a row; it was not sent and is moved to ${moved}, beside its reason (${folder}.txt), and not tried again`, moved],
  ]);
  t.same(await instances(pacs), [clip.sopInstanceUid, sr.sopInstanceUid].sort(), 'Orthanc stored the clip, then the SR queued behind the folder');
  t.same([await box.pending(), (await readdir(path.join(boxDir, 'failed'))).sort()], [[], [folder, `${folder}.txt`]]);
  t.same([box.stats.sent, box.stats.failed, box.stats.pending, box.stats.lastError], [2, 1, 0, null]);
});

t.test('serve\'s DICOM service: a pending file unreadable in 3 tries in a row is logged once as moved to failed/ (no PACS needed: nothing is readable, so no association)', async (t) => {
  const { DicomService } = await import('../../src/dicom/service.js');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-pacs-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const box = path.join(dir, 'sonoedge', 'outbox');
  const folder = '00000000000001-000000-folder.dcm';
  await mkdir(path.join(box, 'pending', folder), { recursive: true });
  const logs: [string, string, object][] = [];
  const log = {
    info: (o: object, m: string) => logs.push(['info', m, o]), warn: (o: object, m: string) => logs.push(['warn', m, o]), error: (o: object, m: string) => logs.push(['error', m, o]),
  };
  const svc = await DicomService.start({
    dir: path.join(dir, 'sonoedge'), pacs: { host: '127.0.0.1', port: 1, calledAet: 'NOWHERE', retryMinMs: 60_000 },
  }, log);
  t.teardown(() => svc.close());
  for (let i = 0; i < 3; i++) await svc.outbox!.flush();
  const read = `Expected to read ${folder} in the outbox's pending/ to send it to the PACS NOWHERE@127.0.0.1:1 but received EISDIR: illegal operation on a directory, read`;
  const file = path.join(box, 'failed', folder);
  const local = 'local file error in the outbox (not the PACS): the file stays in pending/ and is tried again';
  const stays = { name: folder, code: 'EISDIR', error: `${read}; it was not sent and stays in pending/ while it is there` };
  t.same(logs, [['error', local, stays], ['error', local, stays], ['error', 'dicom object unreadable on this machine: moved to failed/, not sent and not tried again', {
    name: folder, code: 'EISDIR', file,
    error: `${read} in 3 tries in a row; it was not sent and is moved to ${file}, beside its reason (${folder}.txt), and not tried again`,
  }]]);
  t.same(await readdir(path.join(box, 'failed')), [folder, `${folder}.txt`].sort());
});

t.test('Orthanc: a pending file removed after the batch began (read again when its turn comes) stops the batch as a local file error; nothing of it is stored, the process goes on', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const { dir, pacs } = await orthancIn(t);
  const client = clientOf(pacs);
  const pending = path.join(dir, 'outbox', 'pending');
  await mkdir(pending, { recursive: true });
  const objs = capture(2);
  const names = objs.map((o, i) => `00000000000001-00000${i}-${o.kind}.dcm`);
  for (const [i, o] of objs.entries()) await writeFile(path.join(pending, names[i]), o.bytes);
  // The real client; the second file goes once the client has read every header, before the association is up
  // (dcmjs-dimse reads the whole file again when the file's turn comes).
  const racing = {
    where: client.where,
    store(files: string[], onResult: (r: StoreResult) => void, onFileError?: (file: string, err: NodeJS.ErrnoException) => void) {
      const sent = client.store(files, onResult, onFileError);
      unlinkSync(files[1]);
      return sent;
    },
  };
  const fileErrors: unknown[][] = [];
  const box = await Outbox.open({ dir: path.join(dir, 'outbox'), sender: racing, retryMinMs: 60_000 });
  box.on('fileError', (...a: unknown[]) => fileErrors.push(a));
  const [, delayMs, cause] = await new Promise<unknown[]>((resolve) => box.once('retry', (...a: unknown[]) => resolve(a)));
  t.teardown(() => box.close());
  // Before, the read threw inside dcmjs-dimse (an uncaught exception: the process ended) and the association hung
  // until its timeout, then said the PACS.
  t.same([delayMs, cause], [60_000, 'local'], 'a local retry, not the PACS');
  t.same(await instances(pacs), [objs[0].sopInstanceUid], 'Orthanc stored the first file, and nothing of the removed one');
  t.same(fileErrors, [[names[1], 'ENOENT', `Expected to read ${names[1]} in the outbox's pending/ to send it to the PACS ${client.where} but received ENOENT: no such file or directory, open '${path.join(pending, names[1])}'; it was not sent and stays in pending/ while it is there`]]);
  t.same([await box.pending(), box.stats.sent], [[], 1]);

  // PacsClient alone: the batch rejects with a LocalFileError naming the file.
  await writeFile(path.join(dir, 'a.dcm'), objs[0].bytes);
  await writeFile(path.join(dir, 'b.dcm'), objs[1].bytes);
  const told: unknown[] = [];
  const sent = client.store([path.join(dir, 'a.dcm'), path.join(dir, 'b.dcm')], (r) => told.push([path.basename(r.file), r.outcome]), (f, e) => told.push([path.basename(f), e.code]));
  unlinkSync(path.join(dir, 'b.dcm'));
  await t.rejects(sent, new LocalFileError(path.join(dir, 'b.dcm'), Object.assign(new Error(`ENOENT: no such file or directory, open '${path.join(dir, 'b.dcm')}'`), { code: 'ENOENT' })));
  await t.rejects(sent, { name: 'LocalFileError', local: true, code: 'ENOENT', file: path.join(dir, 'b.dcm') });
  t.same(told, [['a.dcm', 'stored'], ['b.dcm', 'ENOENT']]);
  t.same(await instances(pacs), [objs[0].sopInstanceUid], 'still nothing of the removed file');
});

/** The result a pipeline gives a PLAX frame of good quality, as the DICOM service takes it. */
const plaxView = (seq: number) => ({
  seq, acquiredAt: 0, view: { label: 'PLAX', confidence: 1, shown: 'PLAX', shownConfidence: 1, changed: false, probabilities: [] },
  quality: { score: 0.8, smoothed: 0.8, good: true }, state: 'ok' as const, idScore: null, idScoreRaw: null, frameState: 'ok' as const,
});

/** One clip captured by a DICOM service: 5 PLAX frames of 4x4 GRAY8 on stream 3; its summary. */
async function captureClip(svc: Awaited<ReturnType<typeof import('../../src/dicom/service.js').DicomService.start>>) {
  svc.open(3, { stream: 3, width: 4, height: 4, format: 'GRAY8', spacing: [0.4, 0.4], fps: 40 }, undefined, () => []);
  for (let i = 0; i < 5; i++) svc.offer(3, new Uint8Array(16).fill(i), plaxView(i));
  const [s] = await svc.finish(3);
  return s;
}

/** Tests run as root, whom permission bits do not stop: a regular file where the outbox's sent/ was makes the move there fail (ENOTDIR). */
async function blockSent(box: string): Promise<void> {
  await rm(path.join(box, 'sent'), { recursive: true });
  await writeFile(path.join(box, 'sent'), 'not a folder');
}

t.test('serve\'s DICOM service: a stream\'s capture goes to Orthanc through the outbox', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const { DicomService } = await import('../../src/dicom/service.js');
  const { dir, pacs } = await orthancIn(t);
  const logs: string[] = [];
  const log = { info: (_o: object, m: string) => logs.push(m), warn: (_o: object, m: string) => logs.push(m), error: (_o: object, m: string) => logs.push(m) };
  const svc = await DicomService.start({
    dir: path.join(dir, 'sonoedge'), capture: { seconds: 0.1 }, study: { PatientID: 'CFG-1', StudyInstanceUID: STUDY },
    pacs: { host: '127.0.0.1', port: pacs.dicom, calledAet: 'ORTHANC', callingAet: 'SONOEDGE', retryMinMs: 100 },
  }, log);
  svc.open(3, { stream: 3, width: 4, height: 4, format: 'BGR8', spacing: [0.4, 0.4], fps: 40 }, undefined, () => []);
  svc.open(4, { stream: 4, width: 4, height: 4, format: 'GRAY8', spacing: [0.4, 0.4], fps: 40, sector: { angleStart: -0.6, angleEnd: 0.6, depthStart: 0, depthEnd: 100 } } as never, undefined, () => []);
  for (let i = 0; i < 5; i++) svc.offer(3, new Uint8Array(48).fill(i), plaxView(i));
  const [s] = await svc.finish(3);
  t.same([s.view, s.frames, s.ef, s.studyInstanceUid], ['PLAX', 4, null, STUDY]);
  await svc.close();
  t.same(await instances(pacs), s.objects.map((o) => o.sopInstanceUid).sort(), 'the clip and its SR are in the PACS');
  t.ok(logs.includes('stream not captured: its frames are not Cartesian images'), 'a polar stream is not captured, and says so');
  t.ok(logs.includes('clip captured') && logs.includes('dicom object stored'));
});

t.test('serve\'s DICOM service: an object stored by Orthanc that cannot be moved into sent/ (a file there) is logged as a local file error, not as the PACS being down', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const { DicomService } = await import('../../src/dicom/service.js');
  const { dir, pacs } = await orthancIn(t);
  const logs: [string, string, object][] = [];
  const log = {
    info: (o: object, m: string) => logs.push(['info', m, o]), warn: (o: object, m: string) => logs.push(['warn', m, o]), error: (o: object, m: string) => logs.push(['error', m, o]),
  };
  const svc = await DicomService.start({
    dir: path.join(dir, 'sonoedge'), capture: { seconds: 0.1 }, study: { PatientID: 'CFG-2', StudyInstanceUID: STUDY },
    pacs: { host: '127.0.0.1', port: pacs.dicom, calledAet: 'ORTHANC', callingAet: 'SONOEDGE', retryMinMs: 60_000, keepSent: true },
  }, log);
  const box = path.join(dir, 'sonoedge', 'outbox');
  await blockSent(box);
  const retried = new Promise<unknown[]>((resolve) => svc.outbox!.once('retry', (...a: unknown[]) => resolve(a)));
  const s = await captureClip(svc);
  const [, delayMs, cause] = await retried;
  t.same([delayMs, cause], [60_000, 'local']);
  t.same(await instances(pacs), s.objects.map((o) => o.sopInstanceUid).sort(), 'Orthanc stored the clip and its SR');
  const names = await svc.outbox!.pending();
  t.equal(names.length, 2, 'both stay in pending/ for the next try');
  const where = `ORTHANC@127.0.0.1:${pacs.dicom}`;
  // Before, one line said the PACS was not reachable, with the rename's error as its reason.
  t.same(logs.filter(([, m]) => m !== 'clip captured'), names.map((name) => ['error', 'local file error in the outbox (not the PACS): the file stays in pending/ and is tried again', {
    name, code: 'ENOTDIR',
    error: `Expected to move ${name}, stored by the PACS ${where}, into sent/ but received ENOTDIR: not a directory, rename '${path.join(box, 'pending', name)}' -> '${path.join(box, 'sent', name)}'; it stays in pending/ and is sent again`,
  }]));

  // The folder back: the next try moves both into sent/ (Orthanc keeps one instance of each).
  logs.length = 0;
  await rm(path.join(box, 'sent'));
  await mkdir(path.join(box, 'sent'));
  await svc.outbox!.flush();
  t.same([await svc.outbox!.pending(), (await readdir(path.join(box, 'sent'))).sort()], [[], names]);
  t.same(logs, names.map((name) => ['info', 'dicom object stored', { name, pacs: where }]));
  await svc.close();
});

t.test('serve config dicom.pacs.maxReadFailures and maxMoveFailures reach the outbox: a folder in pending/ goes to failed/ at its first try, and objects Orthanc stored that cannot go into sent/ are held back at theirs, each logged once', { skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed' }, async (t) => {
  const { DicomService } = await import('../../src/dicom/service.js');
  const { parseServeConfig } = await import('../../src/config/index.js');
  const { dir, pacs } = await orthancIn(t);
  const box = path.join(dir, 'sonoedge', 'outbox');
  const folder = '00000000000001-000000-folder.dcm';
  await mkdir(path.join(box, 'pending', folder), { recursive: true });
  const config = parseServeConfig(`dicom:\n  dir: sonoedge\n  capture:\n    seconds: 0.1\n  pacs:\n    host: 127.0.0.1\n    port: ${pacs.dicom}\n    calledAet: ORTHANC\n    retryMinMs: 60000\n    keepSent: true\n    maxReadFailures: 1\n    maxMoveFailures: 1\n    heldRetryMs: 60000\n`, path.join(dir, 'serve.yaml'));
  t.same([config.dicom?.pacs?.maxReadFailures, config.dicom?.pacs?.maxMoveFailures, config.dicom?.pacs?.heldRetryMs], [1, 1, 60000]);
  const logs: [string, string, object][] = [];
  const log = {
    info: (o: object, m: string) => logs.push(['info', m, o]), warn: (o: object, m: string) => logs.push(['warn', m, o]), error: (o: object, m: string) => logs.push(['error', m, o]),
  };
  // Before, the service handed both keys to PacsClient with the PACS's options, which refused them as unknown keys.
  const svc = await DicomService.start(config.dicom!, log);
  t.teardown(() => svc.close());
  await svc.outbox!.flush();
  const where = `ORTHANC@127.0.0.1:${pacs.dicom}`;
  const read = `Expected to read ${folder} in the outbox's pending/ to send it to the PACS ${where} but received EISDIR: illegal operation on a directory, read`;
  const failed = path.join(box, 'failed', folder);
  t.same(logs, [['error', 'dicom object unreadable on this machine: moved to failed/, not sent and not tried again', {
    name: folder, code: 'EISDIR', file: failed,
    error: `${read} in 1 tries in a row; it was not sent and is moved to ${failed}, beside its reason (${folder}.txt), and not tried again`,
  }]], 'maxReadFailures 1: moved at the first try');
  logs.length = 0;
  await blockSent(box);
  const s = await captureClip(svc);
  await svc.outbox!.flush();
  t.same(await instances(pacs), s.objects.map((o) => o.sopInstanceUid).sort(), 'Orthanc stored the clip and its SR');
  const names = await svc.outbox!.pending();
  t.equal(names.length, 2, 'both stay in pending/ (nothing deleted)');
  t.same(logs.filter(([, m]) => m !== 'clip captured'), names.map((name) => ['error', 'dicom object answered by the PACS but not movable on this machine: left in pending/, not sent again; its move is tried again every heldRetryMs', {
    name, code: 'ENOTDIR', file: path.join(box, 'pending', name),
    error: `Expected to move ${name}, stored by the PACS ${where}, into sent/ but received ENOTDIR: not a directory, rename '${path.join(box, 'pending', name)}' -> '${path.join(box, 'sent', name)}' `
      + `in 1 tries in a row; it stays at ${path.join(box, 'pending', name)}, is not sent again while this process runs and its move is tried again every 60000 ms (a restart sends it again)`,
  }]), 'maxMoveFailures 1: held back at the first try, no local file error, no retry');
  logs.length = 0;
  await svc.outbox!.flush();
  t.same([logs, svc.outbox!.stats.retries, svc.outbox!.stats.nextTryAt], [[], 0, null], 'not sent again');
});
