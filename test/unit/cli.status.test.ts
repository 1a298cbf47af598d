// `sonoedge status`'s reading of the exposition prom-client writes, apart from a running serve.
import t from 'tap';
import { parseExposition, render, summarise } from '../../src/cli/status.js';
import type { CodedError, ErrorCode } from '../../src/errors.js';

t.test('parseExposition reads prom-client\'s NaN ("Nan", a gauge with no samples yet) and infinities; a bad line is coded', async (t) => {
  const f = parseExposition('# HELP x y\nnodejs_eventloop_lag_mean_seconds Nan\na NaN\nb +Inf\nc -Inf\nd{le="+Inf"} 3\n');
  t.ok(Number.isNaN(f.get('nodejs_eventloop_lag_mean_seconds')![0].value));
  t.ok(Number.isNaN(f.get('a')![0].value));
  t.same([f.get('b')![0].value, f.get('c')![0].value, f.get('d')![0].value], [Infinity, -Infinity, 3]);
  t.throws(() => parseExposition('ok 1\nbad nonsense\n'), { code: 'ERR_SONOEDGE_STATUS', message: 'Expected Prometheus sample lines (name{labels} value) but received line 2: "bad nonsense"' });
  // A member of the ErrorCode union (typecheck fails otherwise), on an Error of that class.
  const code: ErrorCode = 'ERR_SONOEDGE_STATUS';
  const err = (() => { try { parseExposition('x y z w v\n'); return undefined; } catch (e) { return e as CodedError; } })();
  t.equal(err?.constructor, Error);
  t.equal(err?.code, code);
});

t.test('summarise: the serial link when serve has one, null when it has none', async (t) => {
  const up = summarise('u', parseExposition('sonoedge_serial_link_up 0\nsonoedge_serial_link_losses_total 2\nsonoedge_serial_reopens_total 1\n'));
  t.same(up.serial, { up: false, losses: 2, reopens: 1 });
  t.equal(summarise('u', parseExposition('sonoedge_clients 0\n')).serial, null);
});

t.test('summarise: the PACS outbox when serve sends to one, null when it does not', async (t) => {
  const text = 'sonoedge_pacs_outbox_pending 3\nsonoedge_pacs_outbox_held 1\nsonoedge_pacs_outbox_last_try_failed 1\n'
    + 'sonoedge_pacs_outbox_sent_total 7\nsonoedge_pacs_outbox_failed_total 2\nsonoedge_pacs_outbox_retries_total 4\nsonoedge_pacs_outbox_in_failed 3\n';
  // failed: moved into failed/ since serve started; inFailed: in failed/ now (earlier runs' too).
  t.same(summarise('u', parseExposition(text)).outbox, { pending: 3, held: 1, sent: 7, failed: 2, inFailed: 3, retries: 4, lastTryFailed: true, lastError: null, lastErrorCode: null });
  t.match(render(summarise('u', parseExposition(text))), /^pacs outbox: 3 pending \(1 held back, move retried\), 7 sent, 2 to failed\/ \(3 in failed\/ now\), retried 4 times; the last try failed, retrying$/m);
  // A serve before sonoedge_pacs_outbox_in_failed: 0.
  t.equal(summarise('u', parseExposition(text.replace('sonoedge_pacs_outbox_in_failed 3\n', ''))).outbox?.inFailed, 0);
  t.same(summarise('u', parseExposition(text.replace('last_try_failed 1', 'last_try_failed 0'))).outbox?.lastTryFailed, false);
  t.equal(summarise('u', parseExposition('sonoedge_clients 0\n')).outbox, null);
});

t.test('summarise and render: why the outbox\'s last try failed, from /health\'s outbox.lastError (/metrics has only the 0 or 1)', async (t) => {
  const text = 'sonoedge_pacs_outbox_pending 2\nsonoedge_pacs_outbox_held 0\nsonoedge_pacs_outbox_last_try_failed 1\n'
    + 'sonoedge_pacs_outbox_sent_total 0\nsonoedge_pacs_outbox_failed_total 0\nsonoedge_pacs_outbox_retries_total 3\n';
  const error = 'Expected the PACS ORTHANC@127.0.0.1:4242 to take the association but the connection failed: connect ECONNREFUSED 127.0.0.1:4242';
  // A /health of a serve before lastErrorCode: the message alone.
  const failing = summarise('u', parseExposition(text), { ok: true, outbox: { pending: 2, lastError: error } });
  t.same(failing.outbox, { pending: 2, held: 0, sent: 0, failed: 0, inFailed: 0, retries: 3, lastTryFailed: true, lastError: error, lastErrorCode: null });
  const line = (s: ReturnType<typeof summarise>) => render(s).split('\n').find((l) => l.startsWith('pacs outbox'));
  t.equal(line(failing), `pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried 3 times; the last try failed, retrying: ${error}`);
  // /health not read (or saying nothing): the line says that the try failed, not why.
  for (const health of [undefined, null, { outbox: null }, { outbox: { lastError: 7 } }]) {
    const s = summarise('u', parseExposition(text), health);
    t.equal(s.outbox?.lastError, null, JSON.stringify(health));
    t.equal(line(s), 'pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried 3 times; the last try failed, retrying', JSON.stringify(health));
  }
  // The last try did not fail: no error shown, whatever /health said a moment before or after.
  const ok = summarise('u', parseExposition(text.replace('last_try_failed 1', 'last_try_failed 0')), { outbox: { lastError: error, lastErrorCode: 'ERR_SONOEDGE_PACS' } });
  t.same([ok.outbox?.lastTryFailed, ok.outbox?.lastError, ok.outbox?.lastErrorCode], [false, null, null]);
  t.equal(line(ok), 'pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried 3 times');
});

t.test('summarise and render: the code of the outbox\'s last error, from /health\'s outbox.lastErrorCode, printed as the CLI prints every error\'s code', async (t) => {
  const text = 'sonoedge_pacs_outbox_pending 2\nsonoedge_pacs_outbox_held 0\nsonoedge_pacs_outbox_last_try_failed 1\n'
    + 'sonoedge_pacs_outbox_sent_total 0\nsonoedge_pacs_outbox_failed_total 0\nsonoedge_pacs_outbox_retries_total 3\n';
  const line = (s: ReturnType<typeof summarise>) => render(s).split('\n').find((l) => l.startsWith('pacs outbox'));
  const pacs = 'Expected the PACS ORTHANC@127.0.0.1:4242 to take the association but the connection failed: connect ECONNREFUSED 127.0.0.1:4242';
  const failing = summarise('u', parseExposition(text), { ok: true, outbox: { pending: 2, lastError: pacs, lastErrorCode: 'ERR_SONOEDGE_PACS' } });
  t.same(failing.outbox, { pending: 2, held: 0, sent: 0, failed: 0, inFailed: 0, retries: 3, lastTryFailed: true, lastError: pacs, lastErrorCode: 'ERR_SONOEDGE_PACS' });
  t.equal(line(failing), `pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried 3 times; the last try failed, retrying: [ERR_SONOEDGE_PACS] ${pacs}`);
  t.equal(JSON.parse(JSON.stringify(failing)).outbox.lastErrorCode, 'ERR_SONOEDGE_PACS', '--json has it');
  // A local file error: the file system's code.
  const local = 'Expected to move a.dcm, stored by the PACS ORTHANC@127.0.0.1:4242, into sent/ but received ENOSPC: no space left on device; it stays in pending/ and is sent again';
  t.equal(line(summarise('u', parseExposition(text), { outbox: { lastError: local, lastErrorCode: 'ENOSPC' } })),
    `pacs outbox: 2 pending, 0 sent, 0 to failed/ (0 in failed/ now), retried 3 times; the last try failed, retrying: [ENOSPC] ${local}`);
  // A code without its message, or not a string, is not shown: the code only ever stands beside its message.
  for (const outbox of [{ lastErrorCode: 'ERR_SONOEDGE_PACS' }, { lastError: null, lastErrorCode: 'ERR_SONOEDGE_PACS' }, { lastError: pacs, lastErrorCode: 7 }]) {
    const s = summarise('u', parseExposition(text), { outbox });
    t.same([s.outbox?.lastError, s.outbox?.lastErrorCode], [outbox.lastError === pacs ? pacs : null, null], JSON.stringify(outbox));
  }
});
