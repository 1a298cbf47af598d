// `sonoedge serve` with a `dicom` section, as a cart runs it: a spawned serve,
// a socket client streaming the bundled A4C cine with the patient and study in
// its CONFIGURE_STREAM. The best clip per view is captured while the frames
// run and written when the stream closes (CLOSE_STREAM) or the runtime stops
// (SIGTERM): the clip and its SR pass dciodvfy, are in the study and of the
// patient the stream named (a stream that names none takes the config's
// `dicom.study`), and the SR's EF, read by highdicom, is the last EF the
// client received for the clip. A bad study block is refused with BAD_FIELD
// naming the attribute. With `dicom.pacs`, the objects reach a real Orthanc
// while serve runs, and the outbox's figures (an object held back after
// maxMoveFailures included) are in /metrics, /health and `sonoedge status`
// until a restart sends it again (heldRetryMs left at its 10 minutes). With a PACS nobody listens for, the failure
// (and why: the coded error's message) is in all three while the capture
// waits, and is gone once an Orthanc listens on that port and stores it.
// With a PACS answering the status a test chooses (pynetdicom's Storage SCP,
// test/helpers/storescp_peer.py): refused objects go to failed/ beside their
// reasons, "out of resources" waits and is tried again until the PACS stores
// it, and a warning is stored as a success is; each in all three.
import t from 'tap';
import type { Test } from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseExposition } from '../../src/cli/status.js';
import { SOP_CLASS } from '../../src/dicom/writer.js';
import { tinyCapture } from '../helpers/capture.js';
import { MODELS_DIR } from '../../src/model/package.js';
import { MessageType } from '../../src/protocol/constants.js';
import { msg, type ConfigureStream, type ResultBody } from '../../src/protocol/messages.js';
import { RemoteError, SocketClient } from '../../src/transport/socket-client.js';
import { PY, ROOT, validateAndReadBack } from '../helpers/dicom-check.js';
import { ORTHANC, killOrthanc, orthancInstances, startOrthanc } from '../helpers/orthanc.js';
import { readSampleCine, SAMPLE_SPACING_MM } from '../helpers/sample.js';
import { freePort } from '../helpers/net.js';
import { pynetdicomMissing, startStoreScp, type StoreScpOptions } from '../helpers/storescp.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { until } from '../helpers/wait.js';

const CLI = path.join(ROOT, 'dist', 'cli', 'main.js');
const STUDY_UID = '1.2.826.0.1.3680043.8.498.1414';
const STUDY = {
  PatientID: 'P-14', PatientName: 'Doe^Jane', PatientBirthDate: '19700101', PatientSex: 'F', AccessionNumber: 'ACC-14',
  StudyInstanceUID: STUDY_UID, StudyID: 'S14', ReferringPhysicianName: 'Ref^Doc', OperatorsName: 'Op^Sono',
};

/** A spawned serve with `dicom` as its config's dicom section (YAML), its exit, its stderr and its log. */
async function serve(t: { teardown: (fn: () => unknown) => void }, dir: string, dicom: string) {
  const sock = path.join(dir, 's.sock');
  const log = path.join(dir, 'serve.log');
  const file = path.join(dir, 'serve.yaml');
  await writeFile(file, `socket:
  path: ${sock}
${BUNDLED_MODELS_YAML}logging:
  file: ${log}
${dicom}`);
  const child = spawn(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  await until(() => (existsSync(sock) ? true : undefined), 'the socket to appear');
  // Whole lines only: read while serve writes, the file may end in half a line (JSON.parse failed on it: a flaky test).
  const logLines = async () => {
    const text = await readFile(log, 'utf8');
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>);
  };
  return { child, exited, stderr: () => stderr, sock, logLines };
}

/**
 * Streams the 16-frame sample on `stream` in lockstep (each frame's result before the next frame: no frame is
 * replaced, so every frame is in the clip) and returns the results the client received.
 */
async function streamSample(c: SocketClient, stream: number, frames: Uint8Array[]): Promise<ResultBody[]> {
  const results: ResultBody[] = [];
  const on = (m: { header: { type: number }; body: unknown }) => {
    if (m.header.type === MessageType.RESULT && (m.body as ResultBody).stream === stream) results.push(m.body as ResultBody);
  };
  c.on('message', on);
  for (let i = 0; i < frames.length; i++) {
    c.sendFrame(stream, i, frames[i]);
    await until(() => (results.length === i + 1 ? true : undefined), `the result of frame ${i} of stream ${stream}`);
  }
  c.off('message', on);
  return results;
}

// 16 frames at 32 fps are 0.5 s: with `seconds: 0.5` the clip is the whole cine.
const geometry = (stream: number, study?: Record<string, string>): ConfigureStream => ({
  stream, width: 256, height: 256, format: 'GRAY8', spacing: [SAMPLE_SPACING_MM, SAMPLE_SPACING_MM], fps: 32, ...(study ? { study } : {}),
});
const lastEf = (rs: ResultBody[]) => [...rs].reverse().find((r) => r.ef !== null)?.ef;

/** A client streams the sample on `stream` in STUDY, then goes away: its stream closes and its capture (clip and SR) goes to the outbox. */
async function captureAndLeave(sock: string, stream: number, name: string): Promise<void> {
  const { frames } = await readSampleCine();
  const c = await SocketClient.connect(sock);
  await c.hello(name);
  await c.configure(geometry(stream, STUDY));
  await c.subscribe({});
  await streamSample(c, stream, frames);
  await c.close();
}

/** The PACS outbox's families in serve's /metrics, by name less `sonoedge_pacs_outbox_` (`pending`, `sent_total`...). */
async function outboxMetrics(port: number): Promise<Record<string, number>> {
  const families = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  return Object.fromEntries([...families].filter(([k]) => k.startsWith('sonoedge_pacs_outbox_')).map(([k, v]) => [k.slice('sonoedge_pacs_outbox_'.length), v[0].value]));
}

/** `sonoedge status --port PORT` from dist/, with --json and without (each exits 0): the outbox it shows, and its table's `pacs outbox` line. */
function statusOutbox(t: Test, port: number): { json: Record<string, unknown> | null; line: string | undefined } {
  const run = (...flags: string[]) => {
    const r = spawnSync(process.execPath, [CLI, 'status', '--port', String(port), ...flags], { encoding: 'utf8' });
    t.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  return { json: (JSON.parse(run('--json')) as { outbox: Record<string, unknown> | null }).outbox, line: run().split('\n').find((l) => l.startsWith('pacs outbox')) };
}

t.test('serve captures each stream\'s clip and SR into dicom.dir, in the study its CONFIGURE_STREAM names', { skip: existsSync(CLI) ? false : 'dist/ is not built (npx tsc -p tsconfig.json)' }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-serve-dicom-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'dicom');
  const s = await serve(t, dir, `dicom:
  dir: ${out}
  capture: { mode: seconds, seconds: 0.5 }
  study: { PatientID: CFG-1, PatientName: Config^Default }
`);
  const { frames } = await readSampleCine();
  const c = await SocketClient.connect(s.sock);
  await c.hello('serve-dicom-test');

  // A study block that would make an invalid object is refused, naming the attribute; nothing is configured.
  const refused = async (study: Record<string, unknown>) => {
    const err = await c.request((seq) => msg.configure(seq, geometry(9, study as Record<string, string>))).then(() => undefined, (e: unknown) => e);
    t.type(err, RemoteError);
    return [(err as RemoteError).code, (err as RemoteError).message];
  };
  t.same(await refused({ StudyInstanceUID: '1.2.840.01' }), ['ERR_SONOEDGE_REMOTE_BAD_FIELD',
    'Expected a DICOM UID (1..64 characters of digits and dots, no empty or zero-led component) for CONFIGURE_STREAM.study.StudyInstanceUID but received "1.2.840.01" of type string']);
  t.same(await refused({ AccessionNumber: 'A'.repeat(17) }), ['ERR_SONOEDGE_REMOTE_BAD_FIELD',
    `Expected a DICOM SH value (at most 16 characters, no backslash or control character) for CONFIGURE_STREAM.study.AccessionNumber but received "${'A'.repeat(17)}" of type string`]);
  t.same(await refused({ PatientId: 'X' }), ['ERR_SONOEDGE_REMOTE_BAD_FIELD',
    'Expected only the keywords PatientID, PatientName, PatientBirthDate, PatientSex, AccessionNumber, StudyInstanceUID, StudyID, StudyDate, StudyTime, StudyDescription, ReferringPhysicianName, OperatorsName for CONFIGURE_STREAM.study but received the key "PatientId"; did you mean PatientID?']);

  // Stream 1 names its study; closed with CLOSE_STREAM: its capture is written while serve runs.
  await c.configure(geometry(1, STUDY));
  await c.subscribe({});
  const r1 = await streamSample(c, 1, frames);
  const ef1 = lastEf(r1);
  t.type(ef1, 'number', 'the client received an EF');
  await c.request((seq) => msg.closeStream(seq, { stream: 1 }));
  const captures = path.join(out, 'captures');
  const dcm = async () => (existsSync(captures) ? (await readdir(captures)).filter((f) => f.endsWith('.dcm')).sort() : []);
  const first = await until(async () => { const f = await dcm(); return f.length >= 2 ? f : undefined; }, 'the clip and SR of stream 1');
  t.same(first.map((f) => f.split('-')[0]), ['clip', 'sr'], 'a clip and its SR (no secondary capture unless configured)');

  // Stream 2 names none (the config's dicom.study); serve is stopped with it open: the stop writes it.
  await c.configure(geometry(2));
  const r2 = await streamSample(c, 2, frames);
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
  const all = await dcm();
  t.equal(all.length, 4, 'the stop waited for stream 2\'s clip and SR');
  const log = await s.logLines();
  const captured = log.filter((l) => l.msg === 'clip captured');
  t.same(captured.map((l) => [l.stream, l.view, l.frames]), [[1, 'A4C', 16], [2, 'A4C', 16]], 'one A4C clip per stream: the whole cine');
  t.notOk(log.some((l) => l.msg === 'capture failed'), 'no capture failed');
  t.ok(log.findIndex((l) => l.msg === 'clip captured' && l.stream === 2) < log.findIndex((l) => l.msg === 'runtime stopped'), 'written before the runtime stopped');

  const files = all.map((f) => path.join(captures, f));
  const read = validateAndReadBack(t, files, 'the objects are not read back');
  if (!read) return;
  t.ok(read.every((x) => x.ok), JSON.stringify(read.filter((x) => !x.ok)));
  const ofStream = (n: number) => read.filter((x) => captured[n - 1].objects.includes(path.basename(x.file)));
  const one = ofStream(1);
  const two = ofStream(2);
  t.equal(one.length, 2);
  t.equal(two.length, 2);
  for (const x of one) t.same([x.study, x.patientId, x.patientName], [STUDY_UID, 'P-14', 'Doe^Jane'], `${path.basename(x.file)}: the study and patient stream 1 named`);
  t.equal(two[0].study, two[1].study, 'stream 2\'s clip and SR share a study');
  t.not(two[0].study, STUDY_UID);
  for (const x of two) t.same([x.patientId, x.patientName], ['CFG-1', 'Config^Default'], `${path.basename(x.file)}: the config's dicom.study`);
  const efOf = (objs: Record<string, any>[]) => objs.find((x) => x.sr)!.sr.num.find((n: any) => n.name[0] === '18043-0').value;
  t.equal(efOf(one), ef1, 'stream 1: the SR\'s EF is the last EF the client received');
  t.equal(efOf(two), lastEf(r2), 'stream 2: likewise');
  const clip = one.find((x) => x.shape)!;
  t.same(clip.shape, [16, 256, 256], 'the clip holds the 16 frames as sent');
  const attrs = spawnPy(`import pydicom; d = pydicom.dcmread(${JSON.stringify(clip.file)}); print(d.OperatorsName, d.AccessionNumber, d.StudyID, d.PatientBirthDate, d.PatientSex, d.ReferringPhysicianName)`);
  t.equal(attrs, 'Op^Sono ACC-14 S14 19700101 F Ref^Doc', 'every study attribute the stream sent is in the clip');
});

function spawnPy(code: string): string {
  return spawnSync(PY, ['-c', code], { encoding: 'utf8' }).stdout.trim();
}

t.test('serve sends a stream\'s capture to a real PACS (Orthanc) while it runs', {
  skip: !existsSync(CLI) ? 'dist/ is not built (npx tsc -p tsconfig.json)' : ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed',
}, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-serve-pacs-'));
  const pacs = await startOrthanc(dir);
  t.teardown(async () => {
    await killOrthanc(pacs);
    await rm(dir, { recursive: true, force: true });
  });
  const s = await serve(t, dir, `dicom:
  dir: ${path.join(dir, 'sonoedge')}
  capture: { seconds: 0.5 }
  pacs: { host: 127.0.0.1, port: ${pacs.dicom}, calledAet: ORTHANC, callingAet: SONOEDGE, retryMinMs: 100 }
`);
  await captureAndLeave(s.sock, 5, 'serve-pacs-test');
  const studies = await until(async () => {
    const n = (await (await fetch(`http://127.0.0.1:${pacs.http}/instances`)).json() as string[]).length;
    // Orthanc shows an instance as soon as it has it; the outbox moves the file once the C-STORE is acknowledged.
    const pending = await readdir(path.join(dir, 'sonoedge', 'outbox', 'pending')).catch(() => ['?']);
    if (n < 2 || pending.length > 0) return undefined;
    // Read after both are in (read before, the study could list the clip's series alone).
    return await (await fetch(`http://127.0.0.1:${pacs.http}/studies?expand`)).json() as { MainDicomTags: Record<string, string>; PatientMainDicomTags: Record<string, string>; Series: string[] }[];
  }, 'the clip and SR in Orthanc');
  t.equal(s.child.exitCode, null, 'stored while serve runs');
  t.same(studies.map((x) => [x.MainDicomTags.StudyInstanceUID, x.MainDicomTags.AccessionNumber, x.PatientMainDicomTags.PatientID, x.PatientMainDicomTags.PatientName, x.Series.length]),
    [[STUDY_UID, 'ACC-14', 'P-14', 'Doe^Jane', 2]], 'one study, the stream\'s, with the clip\'s and the SR\'s series');
  t.same(await readdir(path.join(dir, 'sonoedge', 'outbox', 'pending')), [], 'nothing left in the outbox');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
  const log = await s.logLines();
  t.equal(log.filter((l) => l.msg === 'dicom object stored').length, 2);
});

t.test('the PACS outbox in /metrics, /health and sonoedge status: an object Orthanc stored whose move fails is held back (held 1) until a restart sends it again', {
  skip: !existsSync(CLI) ? 'dist/ is not built (npx tsc -p tsconfig.json)' : ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed',
}, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-serve-outbox-'));
  const pacs = await startOrthanc(dir);
  t.teardown(async () => {
    await killOrthanc(pacs);
    await rm(dir, { recursive: true, force: true });
  });
  // A clip left in pending/ by an earlier run, and a folder (not empty) where it must go in sent/: Orthanc stores it,
  // and its move into sent/ fails (EISDIR) at every try.
  const box = path.join(dir, 'sonoedge', 'outbox');
  const study = { PatientID: 'P-H', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1415' };
  const [clip] = tinyCapture(study);
  const name = '00000000000001-000000-clip.dcm';
  await mkdir(path.join(box, 'pending'), { recursive: true });
  await writeFile(path.join(box, 'pending', name), clip.bytes);
  await mkdir(path.join(box, 'sent', name, 'inside'), { recursive: true });
  const port = await freePort();
  const section = `dicom:
  dir: ${path.join(dir, 'sonoedge')}
  pacs: { host: 127.0.0.1, port: ${pacs.dicom}, calledAet: ORTHANC, callingAet: SONOEDGE, retryMinMs: 100, keepSent: true, maxMoveFailures: 2 }
metrics:
  port: ${port}
`;
  const run1 = path.join(dir, 'run1');
  await mkdir(run1);
  const s = await serve(t, run1, section);
  const held = 'dicom object answered by the PACS but not movable on this machine: left in pending/, not sent again; its move is tried again every heldRetryMs';
  // Try 1 fails its move (a local file error, retried after 100 ms), try 2 holds it back.
  const log = await until(async () => { const l = await s.logLines(); return l.some((x) => x.msg === 'metrics listening') && l.some((x) => x.msg === held) ? l : undefined; }, 'the object held back');
  t.same(log.filter((l) => l.name === name).map((l) => [l.msg, l.code]), [
    ['local file error in the outbox (not the PACS): the file stays in pending/ and is tried again', 'EISDIR'],
    [held, 'EISDIR'],
  ], 'one local file error, then held back');
  t.same(await orthancInstances(pacs), [clip.sopInstanceUid], 'Orthanc stored it (once: a SOP Instance UID is stored once)');

  const families = parseExposition(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const outboxFamilies = [...families.keys()].filter((k) => k.startsWith('sonoedge_pacs_outbox_')).sort();
  t.same(outboxFamilies.map((k) => [k, families.get(k)!.map((x) => [x.labels, x.value])]), [
    ['sonoedge_pacs_outbox_failed_total', [[{}, 0]]],
    ['sonoedge_pacs_outbox_held', [[{}, 1]]],
    ['sonoedge_pacs_outbox_in_failed', [[{}, 0]]],
    ['sonoedge_pacs_outbox_last_try_failed', [[{}, 0]]],
    ['sonoedge_pacs_outbox_pending', [[{}, 1]]],
    ['sonoedge_pacs_outbox_retries_total', [[{}, 1]]],
    ['sonoedge_pacs_outbox_sent_total', [[{}, 0]]],
  ], 'held 1 of the 1 pending, 1 retry (try 1\'s local file error), none sent, the last try did not fail');
  t.same(await healthOutbox(port), { pending: 1, held: 1, sent: 0, failed: 0, inFailed: 0, retries: 1, lastError: null, lastErrorCode: null, nextTryAt: null });
  t.same(statusOutbox(t, port), {
    json: { pending: 1, held: 1, sent: 0, failed: 0, inFailed: 0, retries: 1, lastTryFailed: false, lastError: null, lastErrorCode: null },
    line: 'pacs outbox: 1 pending (1 held back, move retried), 0 sent, 0 to failed/ (0 in failed/ now), retried 1 times',
  });
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
  t.same(await readdir(path.join(box, 'pending')), [name], 'still in pending/ after the stop (never deleted)');

  // The cause fixed (the folder gone from sent/), a restart releases it: sent, moved into sent/, nothing held.
  await rm(path.join(box, 'sent', name), { recursive: true });
  const run2 = path.join(dir, 'run2');
  await mkdir(run2);
  const s2 = await serve(t, run2, section);
  await until(async () => ((await s2.logLines()).some((x) => x.msg === 'dicom object stored' && x.name === name) ? true : undefined), 'the object sent after the restart');
  await until(async () => ((await s2.logLines()).some((x) => x.msg === 'metrics listening') ? true : undefined), 'the metrics endpoint');
  const after = await outboxMetrics(port);
  t.same(['pending', 'held', 'sent_total', 'retries_total'].map((k) => after[k]), [0, 0, 1, 0]);
  t.same([await readdir(path.join(box, 'pending')), await readdir(path.join(box, 'sent'))], [[], [name]]);
  t.same(await orthancInstances(pacs), [clip.sopInstanceUid], 'one instance in Orthanc');
  s2.child.kill('SIGTERM');
  t.equal(await s2.exited, 0, s2.stderr());
});

t.test('a PACS nobody listens for: the outbox\'s failure in /metrics, /health (the coded error\'s text) and sonoedge status (why, too); once the PACS (Orthanc) listens there, it recovers', {
  skip: existsSync(CLI) ? false : 'dist/ is not built (npx tsc -p tsconfig.json)',
}, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-serve-unreachable-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  // Ports free now: nothing listens on `dicom` until Orthanc is started on it below.
  const pacsPorts = { http: await freePort(), dicom: await freePort() };
  const port = await freePort();
  const s = await serve(t, dir, `dicom:
  dir: ${path.join(dir, 'sonoedge')}
  capture: { seconds: 0.5 }
  pacs: { host: 127.0.0.1, port: ${pacsPorts.dicom}, calledAet: ORTHANC, callingAet: SONOEDGE, retryMinMs: 100, retryMaxMs: 400 }
metrics:
  port: ${port}
`);
  await until(async () => ((await s.logLines()).some((x) => x.msg === 'metrics listening') ? true : undefined), 'the metrics endpoint');
  await captureAndLeave(s.sock, 6, 'serve-unreachable-test');
  const error = `Expected the PACS ORTHANC@127.0.0.1:${pacsPorts.dicom} to take the association but the connection failed: connect ECONNREFUSED 127.0.0.1:${pacsPorts.dicom}`;
  const failing = await until(async () => { const m = await outboxMetrics(port); return m.pending === 2 && m.last_try_failed === 1 ? m : undefined; }, 'the clip and SR pending, the last try failed');
  t.ok(failing.retries_total >= 1, `retried (${failing.retries_total} times)`);
  t.same({ ...failing, retries_total: 'n' }, { failed_total: 0, held: 0, in_failed: 0, last_try_failed: 1, pending: 2, retries_total: 'n', sent_total: 0 }, 'the clip and SR wait; none sent, none to failed/');
  const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json() as { ok: boolean; outbox: Record<string, unknown> };
  t.ok(health.ok, 'the runtime is healthy: an unreachable PACS is no fault of the runtime');
  t.same([health.outbox.pending, health.outbox.held, health.outbox.sent, health.outbox.failed, health.outbox.lastError], [2, 0, 0, 0, error], 'lastError: the PacsError\'s (ERR_SONOEDGE_PACS) message');
  t.ok((health.outbox.retries as number) >= failing.retries_total, 'retries only grow');
  t.type(health.outbox.nextTryAt, 'number', 'a retry waits');
  // The two runs of status may see different retry counts (a try every 400 ms): each is read from what it printed.
  const shown = statusOutbox(t, port);
  const retries = (shown.json as { retries: number }).retries;
  t.same(shown.json, { pending: 2, held: 0, sent: 0, failed: 0, inFailed: 0, retries, lastTryFailed: true, lastError: error, lastErrorCode: 'ERR_SONOEDGE_PACS' }, 'status --json: the failure and why');
  const retriedInLine = Number(/retried (\d+) times/.exec(shown.line ?? '')?.[1]);
  t.ok(retriedInLine >= retries, 'the table\'s retries');
  t.equal(shown.line, `pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried ${retriedInLine} times; the last try failed, retrying: [ERR_SONOEDGE_PACS] ${error}`, 'status: the failure and why');
  // Not a line per failed try (src/dicom/pacs-log.ts): the first of the run, and one when the delay reaches retryMaxMs
  // (400 ms: the 3rd try); the next is due 10 minutes on. Read once several tries have failed.
  const failedTries = await until(async () => { const m = await outboxMetrics(port); return m.retries_total >= 5 ? m.retries_total : undefined; }, 'five failed tries');
  const warned = (await s.logLines()).filter((l) => /^PACS (still )?not reachable: objects wait in the outbox$/.test(l.msg as string));
  t.same(warned.map((l) => [l.level, l.msg, l.error, l.code, l.delayMs, l.failedTries, l.tries]), [
    ['warn', 'PACS not reachable: objects wait in the outbox', error, 'ERR_SONOEDGE_PACS', 100, 1, 1],
    ['warn', 'PACS still not reachable: objects wait in the outbox', error, 'ERR_SONOEDGE_PACS', 400, 3, 2],
  ], `2 warnings for ${failedTries} failed tries (before: one a try)`);

  await t.test('the PACS comes: the clip and SR are stored while serve runs, the failure is gone from /metrics, /health and status', {
    skip: ORTHANC ? false : 'Orthanc (Debian package orthanc) is not installed',
  }, async (t) => {
    await mkdir(path.join(dir, 'pacs'));
    const pacs = await startOrthanc(path.join(dir, 'pacs'), pacsPorts);
    t.teardown(() => killOrthanc(pacs));
    const recovered = await until(async () => { const m = await outboxMetrics(port); return m.sent_total === 2 && m.last_try_failed === 0 ? m : undefined; }, 'the clip and SR stored, that try done');
    t.ok(recovered.retries_total >= retries, 'the retries counted before stay counted');
    t.same({ ...recovered, retries_total: 'n' }, { failed_total: 0, held: 0, in_failed: 0, last_try_failed: 0, pending: 0, retries_total: 'n', sent_total: 2 });
    t.equal((await orthancInstances(pacs)).length, 2, 'Orthanc holds the clip and the SR');
    t.same(await healthOutbox(port), { pending: 0, held: 0, sent: 2, failed: 0, inFailed: 0, retries: recovered.retries_total, lastError: null, lastErrorCode: null, nextTryAt: null });
    t.same(statusOutbox(t, port), {
      json: { pending: 0, held: 0, sent: 2, failed: 0, inFailed: 0, retries: recovered.retries_total, lastTryFailed: false, lastError: null, lastErrorCode: null },
      line: `pacs outbox: 0 pending, 2 sent, 0 to failed/ (0 in failed/ now), retried ${recovered.retries_total} times`,
    });
    t.same(await readdir(path.join(dir, 'sonoedge', 'outbox', 'failed')), [], 'nothing refused');
    const back = await until(async () => { const l = (await s.logLines()).filter((x) => /^PACS reachable again/.test(x.msg as string)); return l.length > 0 ? l : undefined; }, 'the line that the PACS is back');
    t.same(back.map((l) => [l.level, l.msg, l.failedTries, l.pacs]), [['info', `PACS reachable again after ${recovered.retries_total} failed tries`, recovered.retries_total, `ORTHANC@127.0.0.1:${pacsPorts.dicom}`]], 'one line, counting every failed try');
  });
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
});

const { usMultiframe: SOP_US_MULTIFRAME, comprehensiveSr: SOP_COMPREHENSIVE_SR } = SOP_CLASS;
const peerSkip = () => (!existsSync(CLI) ? 'dist/ is not built (npx tsc -p tsconfig.json)' : pynetdicomMissing() ?? false);

/** serve with metrics and dicom.pacs at a pynetdicom Storage SCP (calledAet PEERSCP) on `pacsPort`, retrying after 100 ms up to 400 ms. */
async function serveToPeer(t: Test, dir: string, pacsPort: number) {
  const port = await freePort();
  const s = await serve(t, dir, `dicom:
  dir: ${path.join(dir, 'sonoedge')}
  capture: { seconds: 0.5 }
  pacs: { host: 127.0.0.1, port: ${pacsPort}, calledAet: PEERSCP, callingAet: SONOEDGE, retryMinMs: 100, retryMaxMs: 400 }
metrics:
  port: ${port}
`);
  await until(async () => ((await s.logLines()).some((x) => x.msg === 'metrics listening') ? true : undefined), 'the metrics endpoint');
  return { ...s, port, box: path.join(dir, 'sonoedge', 'outbox') };
}

/** /health's outbox, every key. */
async function healthOutbox(port: number): Promise<Record<string, unknown>> {
  return (await (await fetch(`http://127.0.0.1:${port}/health`)).json() as { outbox: Record<string, unknown> }).outbox;
}


/**
 * A fresh folder, a pynetdicom Storage SCP started with `peer` on a free port, serve sending to it, and one clip and
 * its SR captured on `stream` (stored as `serve-LABEL-test`) left to the outbox; the folder and the peer go at the end.
 */
async function captureToPeer(t: Test, label: string, peer: Omit<StoreScpOptions, 'port'>, stream: number) {
  const dir = await mkdtemp(path.join(os.tmpdir(), `sonoedge-serve-${label}-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const scp = await startStoreScp({ port: await freePort(), ...peer });
  t.teardown(() => scp.stop());
  const s = await serveToPeer(t, dir, scp.port);
  await captureAndLeave(s.sock, stream, `serve-${label}-test`);
  return { scp, s };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('a PACS (pynetdicom) that refuses the objects themselves (0xA900 does not match the SOP class, 0xC000 cannot understand): both in failed/ beside their reasons, in /metrics, /health and sonoedge status, not tried again', { skip: peerSkip() }, async (t) => {
  // The clip is queued first (its store is the 1st), the SR second.
  const { scp, s } = await captureToPeer(t, 'refused', { aet: 'PEERSCP', status: 0xa900, nth: { 2: 0xc000 }, comment: 'refused by the test' }, 7);
  const done = await until(async () => { const m = await outboxMetrics(s.port); return m.failed_total === 2 ? m : undefined; }, 'the clip and SR refused');
  t.same(done, { failed_total: 2, held: 0, in_failed: 2, last_try_failed: 0, pending: 0, retries_total: 0, sent_total: 0 }, 'both to failed/, nothing pending, no retry: the try did not fail (the PACS answered)');
  await sleep(500); // longer than retryMaxMs: a try again would have come by now
  t.same(scp.stores.map((x) => [x.n, x.sopClass, x.callingAet, x.status]), [[1, SOP_US_MULTIFRAME, 'SONOEDGE', 0xa900], [2, SOP_COMPREHENSIVE_SR, 'SONOEDGE', 0xc000]], 'each sent once, not again');
  const failed = (await readdir(path.join(s.box, 'failed'))).sort();
  t.equal(failed.length, 4, failed.join(' '));
  const [clip, sr] = failed.filter((f) => f.endsWith('.dcm'));
  t.same([failed, await readdir(path.join(s.box, 'pending'))], [[clip, `${clip}.txt`, sr, `${sr}.txt`], []], 'each object beside its reason; pending/ empty');
  t.match(clip, /^\d{14}-\d{6}-clip-/);
  t.match(sr, /^\d{14}-\d{6}-sr-/);
  const where = `PEERSCP@127.0.0.1:${scp.port}`;
  const reasons = [`refused by the PACS ${where} with status 0xa900: refused by the test`, `refused by the PACS ${where} with status 0xc000: refused by the test`];
  t.same([await readFile(path.join(s.box, 'failed', `${clip}.txt`), 'utf8'), await readFile(path.join(s.box, 'failed', `${sr}.txt`), 'utf8')], reasons.map((r) => `${r}\n`));
  for (const [i, f] of [clip, sr].entries()) {
    t.ok((await readFile(path.join(s.box, 'failed', f))).includes(scp.stores[i].sopInstance), `${f} is the object the PACS refused (its SOP Instance UID)`);
  }
  t.same(await healthOutbox(s.port), { pending: 0, held: 0, sent: 0, failed: 2, inFailed: 2, retries: 0, lastError: null, lastErrorCode: null, nextTryAt: null });
  t.same(statusOutbox(t, s.port), {
    json: { pending: 0, held: 0, sent: 0, failed: 2, inFailed: 2, retries: 0, lastTryFailed: false, lastError: null, lastErrorCode: null },
    line: 'pacs outbox: 0 pending, 0 sent, 2 to failed/ (2 in failed/ now), retried 0 times',
  });
  const log = await s.logLines();
  // Sorted by name: the two answers' moves into failed/ run at once, so either refusal may be logged first (under
  // CI's load the SR's was: a flaky test).
  t.same(log.filter((l) => l.msg === 'dicom object refused by the PACS (kept in failed/)').map((l) => [l.level, l.name, l.reason]).sort(),
    [['error', clip, reasons[0]], ['error', sr, reasons[1]]], 'each refusal logged once, as an error, with its reason');
  t.notOk(log.some((l) => l.msg === 'dicom object stored'), 'nothing logged as stored');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
});

t.test('a PACS (pynetdicom) out of resources (0xA700): the objects wait in pending/ and are tried again, the failure and why in /metrics, /health and sonoedge status; once it answers 0x0000 (restarted on its port), both are stored', { skip: peerSkip() }, async (t) => {
  const { scp: busy, s } = await captureToPeer(t, 'busy', { aet: 'PEERSCP', status: 0xa700, comment: 'out of resources (the test)' }, 8);
  // Two tries at least (the second 100 ms after the first).
  const failing = await until(async () => { const m = await outboxMetrics(s.port); return m.pending === 2 && m.last_try_failed === 1 && m.retries_total >= 2 ? m : undefined; }, 'the clip and SR pending, tried twice, the last try failed');
  t.same({ ...failing, retries_total: 'n' }, { failed_total: 0, held: 0, in_failed: 0, last_try_failed: 1, pending: 2, retries_total: 'n', sent_total: 0 }, 'both wait; none sent, none to failed/');
  const pending = (await readdir(path.join(s.box, 'pending'))).sort();
  t.equal(pending.length, 2);
  // The first file of the batch (the clip, queued first) names the failed try.
  const where = `PEERSCP@127.0.0.1:${busy.port}`;
  const error = `the PACS ${where} answered ${pending[0]} with status 0xa700 (try again later): out of resources (the test)`;
  const health = await healthOutbox(s.port);
  t.same({ ...health, retries: 'n', nextTryAt: typeof health.nextTryAt }, { pending: 2, held: 0, sent: 0, failed: 0, inFailed: 0, retries: 'n', lastError: error, lastErrorCode: 'ERR_SONOEDGE_PACS', nextTryAt: 'number' }, 'lastError: the status and its Error Comment; a retry waits');
  t.ok((health.retries as number) >= failing.retries_total, 'retries only grow');
  const shown = statusOutbox(t, s.port);
  const retries = shown.json?.retries as number;
  t.same(shown.json, { pending: 2, held: 0, sent: 0, failed: 0, inFailed: 0, retries, lastTryFailed: true, lastError: error, lastErrorCode: 'ERR_SONOEDGE_PACS' }, 'status --json: the failure, why and its code');
  // The table's own count (read by another run of status).
  const retriedInLine = Number(/retried (\d+) times/.exec(shown.line ?? '')?.[1]);
  t.equal(shown.line, `pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried ${retriedInLine} times; the last try failed, retrying: [ERR_SONOEDGE_PACS] ${error}`);
  t.same(await readdir(path.join(s.box, 'failed')), [], 'nothing to failed/');
  const tried = [...busy.stores];
  t.ok(tried.length >= 4 && tried.every((x) => x.status === 0xa700 && x.callingAet === 'SONOEDGE'), `every try sent both and was answered 0xa700 (${tried.length} stores)`);
  const uids = [...new Set(tried.map((x) => x.sopInstance))].sort();
  t.equal(uids.length, 2, 'the same two objects each time');

  // The PACS restarted on its port, now answering 0x0000: the next try stores both.
  await busy.stop();
  const ok = await startStoreScp({ port: busy.port, aet: 'PEERSCP' });
  t.teardown(() => ok.stop());
  const recovered = await until(async () => { const m = await outboxMetrics(s.port); return m.sent_total === 2 && m.last_try_failed === 0 ? m : undefined; }, 'the clip and SR stored, that try done');
  t.ok(recovered.retries_total >= retries, 'the retries counted before stay counted');
  t.same({ ...recovered, retries_total: 'n' }, { failed_total: 0, held: 0, in_failed: 0, last_try_failed: 0, pending: 0, retries_total: 'n', sent_total: 2 });
  t.same(ok.stores.map((x) => [x.n, x.sopClass, x.status]), [[1, SOP_US_MULTIFRAME, 0], [2, SOP_COMPREHENSIVE_SR, 0]], 'each stored once');
  t.same(ok.stores.map((x) => x.sopInstance).sort(), uids, 'the objects tried before');
  t.same(await healthOutbox(s.port), { pending: 0, held: 0, sent: 2, failed: 0, inFailed: 0, retries: recovered.retries_total, lastError: null, lastErrorCode: null, nextTryAt: null });
  t.same(statusOutbox(t, s.port), {
    json: { pending: 0, held: 0, sent: 2, failed: 0, inFailed: 0, retries: recovered.retries_total, lastTryFailed: false, lastError: null, lastErrorCode: null },
    line: `pacs outbox: 0 pending, 2 sent, 0 to failed/ (0 in failed/ now), retried ${recovered.retries_total} times`,
  });
  t.same([await readdir(path.join(s.box, 'pending')), await readdir(path.join(s.box, 'failed'))], [[], []]);
  // Sorted: the stored objects' removals run at once, so either may be logged first.
  t.same((await s.logLines()).filter((l) => l.msg === 'dicom object stored').map((l) => [l.name, l.pacs]).sort(), pending.map((n) => [n, where]), 'each logged as stored');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
});

t.test('a PACS (pynetdicom) that stores with a warning (0xB000 coercion of data elements; 0xB001, a warning outside C-STORE\'s three): stored, as a success is (before, 0xB001 went into failed/ as refused)', { skip: peerSkip() }, async (t) => {
  const { scp, s } = await captureToPeer(t, 'warning', { aet: 'PEERSCP', status: 0xb000, nth: { 2: 0xb001 }, comment: 'coerced by the test' }, 9);
  const done = await until(async () => { const m = await outboxMetrics(s.port); return m.sent_total + m.failed_total === 2 ? m : undefined; }, 'the clip and SR answered');
  t.same(done, { failed_total: 0, held: 0, in_failed: 0, last_try_failed: 0, pending: 0, retries_total: 0, sent_total: 2 }, 'both counted as sent; no retry, nothing to failed/');
  await sleep(500);
  t.same(scp.stores.map((x) => [x.n, x.sopClass, x.status]), [[1, SOP_US_MULTIFRAME, 0xb000], [2, SOP_COMPREHENSIVE_SR, 0xb001]], 'each sent once');
  t.same([await readdir(path.join(s.box, 'pending')), await readdir(path.join(s.box, 'failed'))], [[], []], 'removed from pending/ (no keepSent), nothing in failed/');
  t.same(await healthOutbox(s.port), { pending: 0, held: 0, sent: 2, failed: 0, inFailed: 0, retries: 0, lastError: null, lastErrorCode: null, nextTryAt: null });
  t.same(statusOutbox(t, s.port).line, 'pacs outbox: 0 pending, 2 sent, 0 to failed/ (0 in failed/ now), retried 0 times');
  const log = await s.logLines();
  const where = `PEERSCP@127.0.0.1:${scp.port}`;
  // Sorted by status: the two removals from pending/ run at once, so either may be logged first.
  t.same(log.filter((l) => /^dicom object stored/.test(l.msg as string)).map((l) => [l.level, l.msg, l.pacs, l.status, l.comment]).sort((a, b) => a[3].localeCompare(b[3])), [
    ['warn', 'dicom object stored with a warning from the PACS', where, '0xb000', 'coerced by the test'],
    ['warn', 'dicom object stored with a warning from the PACS', where, '0xb001', 'coerced by the test'],
  ], 'logged as stored, with the warning and its comment (before: as a plain success)');
  t.notOk(log.some((l) => l.msg === 'dicom object refused by the PACS (kept in failed/)'), 'no refusal');
  s.child.kill('SIGTERM');
  t.equal(await s.exited, 0, s.stderr());
});

t.test('serve with a dicom.dir it cannot write does not start: one coded line, exit 1', { skip: existsSync(CLI) ? false : 'dist/ is not built (npx tsc -p tsconfig.json)' }, async (t) => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sonoedge-serve-dicom-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(path.join(dir, 'file'), '');
  const file = path.join(dir, 'serve.yaml');
  await writeFile(file, `socket:\n  path: ${path.join(dir, 's.sock')}\nmodels:\n  trustStore: ${path.join(MODELS_DIR, 'trust')}\nlogging:\n  file: ${path.join(dir, 'serve.log')}\ndicom:\n  dir: file/dicom\n`);
  const r = spawnSync(process.execPath, [CLI, 'serve', '--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 60000 });
  t.equal(r.status, 1);
  t.equal(r.stderr, `sonoedge serve: [ERR_SONOEDGE_OUTBOX] Expected a folder sonoedge can write captures to at ${path.join(dir, 'file', 'dicom', 'captures')} but could not make it (ENOTDIR)\n`);
  t.notOk(existsSync(path.join(dir, 's.sock')), 'no socket was left behind');
});
