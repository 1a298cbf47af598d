// ShmRing.open's failures, on real POSIX shared-memory objects under /dev/shm
// (made the way shm_open + ftruncate make them: a file there). Each is the
// RING ProtocolError the firmware gets, and keeps the addon's error: its code
// and errno end the message, and the error itself is the `cause`.
import t from 'tap';
import { closeSync, ftruncateSync, mkdirSync, openSync, readdirSync, rmdirSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { ProtocolError, WireError } from '../../src/protocol/errors.js';
import { encodeRingHeader, ringBytes } from '../../src/protocol/ring.js';
import { ShmRing } from '../../src/transport/shm-ring.js';

const SLOT = 4096;
const unique = (what: string) => `/sonoedge-test-${what}-${process.pid}-${randomBytes(4).toString('hex')}`;

/** What open() threw (it must throw). */
function openError(name: string, slots = 4): ProtocolError & { cause: NodeJS.ErrnoException & { errno: string; size?: number } } {
  try {
    ShmRing.open({ name, slots, slotBytes: SLOT }, SLOT, { seq: 7 }).close();
  } catch (err) {
    return err as never;
  }
  throw new Error(`Expected ShmRing.open("${name}") to throw but it returned a ring`);
}

t.test('a missing object: RING, with ERR_SONOEDGE_SHM_OPEN and ENOENT in the message and as cause', async (t) => {
  const name = unique('none');
  const e = openError(name);
  t.equal(e.constructor, ProtocolError);
  t.same([e.code, e.wireCode, e.seq], ['ERR_SONOEDGE_PROTOCOL_RING', WireError.RING, 7]);
  t.equal(e.message, `Expected an existing shared-memory object for CONFIGURE_STREAM.ring.name but received "${name}", not under /dev/shm `
    + `(ERR_SONOEDGE_SHM_OPEN ENOENT: shm_open ${name}: No such file or directory)`);
  t.ok(e.cause instanceof Error, 'the cause is the addon\'s Error');
  t.same([e.cause.code, e.cause.errno, e.cause.message], ['ERR_SONOEDGE_SHM_OPEN', 'ENOENT', `shm_open ${name}: No such file or directory`]);
});

t.test('an object smaller than the ring: RING, with ERR_SONOEDGE_SHM_SIZE as cause', async (t) => {
  const name = unique('small');
  const file = `/dev/shm${name}`;
  const fd = openSync(file, 'wx+', 0o600);
  t.teardown(() => { closeSync(fd); rmSync(file, { force: true }); });
  const header = encodeRingHeader({ slots: 4, slotBytes: SLOT });
  writeSync(fd, header, 0, header.length, 0);
  ftruncateSync(fd, ringBytes(4, SLOT) - 1);
  const e = openError(name);
  t.equal(e.constructor, ProtocolError);
  t.equal(e.code, 'ERR_SONOEDGE_PROTOCOL_RING');
  t.equal(e.message, `Expected at least ${ringBytes(4, SLOT)} bytes (4096 + slots x slotBytes) in ring "${name}" but received ${ringBytes(4, SLOT) - 1} (ERR_SONOEDGE_SHM_SIZE)`);
  t.same([e.cause.code, e.cause.errno, e.cause.size], ['ERR_SONOEDGE_SHM_SIZE', '', ringBytes(4, SLOT) - 1]);
});

t.test('a directory in place of the object: RING, with ERR_SONOEDGE_SHM_NOT_REGULAR as cause', async (t) => {
  const name = unique('dir');
  mkdirSync(`/dev/shm${name}`);
  t.teardown(() => rmdirSync(`/dev/shm${name}`));
  const e = openError(name);
  t.equal(e.constructor, ProtocolError);
  t.equal(e.code, 'ERR_SONOEDGE_PROTOCOL_RING');
  t.equal(e.message, `Expected a regular file for CONFIGURE_STREAM.ring.name but received "${name}", which is not one (ERR_SONOEDGE_SHM_NOT_REGULAR)`);
  t.same([e.cause.code, e.cause.errno, e.cause.message], ['ERR_SONOEDGE_SHM_NOT_REGULAR', '', `${name} is not a regular file`]);
});

t.test('a frame larger than a slot: BAD_FIELD naming CONFIGURE_STREAM.ring.slotBytes, as the parser words it, before anything is mapped or made', async (t) => {
  // Before, a RangeError with no code ("Expected frameBytes of at most 4096 (slotBytes) but received 4097") thrown after
  // the mapping was made: open() left it mapped; create() left its object in /dev/shm and reported it as a RING error
  // "Expected to map ring ... but received an error: ... (RangeError)"; the socket server would send INTERNAL.
  const expectBadField = (f: () => unknown, what: string) => {
    let err: unknown;
    try { f(); } catch (e) { err = e; }
    t.equal((err as Error | undefined)?.constructor, ProtocolError, `${what}: a ProtocolError`);
    t.same([(err as ProtocolError).code, (err as ProtocolError).wireCode, (err as ProtocolError).seq], ['ERR_SONOEDGE_PROTOCOL_BAD_FIELD', WireError.BAD_FIELD, 9], `${what}: code, wire code, seq`);
    t.equal((err as Error).message, `Expected at least ${SLOT + 1} (frameBytes) for CONFIGURE_STREAM.ring.slotBytes but received ${SLOT} of type number`, what);
  };
  const mine = () => readdirSync('/dev/shm').filter((f) => f.startsWith(`sonoedge-${process.pid}-`)).sort();
  const before = mine();
  expectBadField(() => ShmRing.create({ slots: 2, slotBytes: SLOT }, SLOT + 1, 0o600, { seq: 9 }), 'create');
  t.same(mine(), before, 'create: no object left in /dev/shm');

  const name = unique('fits');
  const file = `/dev/shm${name}`;
  const fd = openSync(file, 'wx+', 0o600);
  t.teardown(() => { closeSync(fd); rmSync(file, { force: true }); });
  const header = encodeRingHeader({ slots: 2, slotBytes: SLOT });
  writeSync(fd, header, 0, header.length, 0);
  ftruncateSync(fd, ringBytes(2, SLOT));
  expectBadField(() => ShmRing.open({ name, slots: 2, slotBytes: SLOT }, SLOT + 1, { seq: 9 }), 'open');

  // A reconfigure that keeps the ring: refused, and the slots keep their frame size.
  const ring = ShmRing.open({ name, slots: 2, slotBytes: SLOT }, 100);
  t.teardown(() => ring.close());
  expectBadField(() => ring.setFrameBytes(SLOT + 1, { seq: 9 }), 'setFrameBytes');
  t.equal(ring.hold(0, 0).length, 100, 'setFrameBytes: the views are as they were');
  ring.setFrameBytes(SLOT);
  t.equal(ring.hold(1, 0).length, SLOT, 'a frame of exactly slotBytes fits');
});
