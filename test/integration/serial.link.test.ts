// The serial link over a real kernel tty: a socat pty pair, node-serialport on
// both ends (the runtime's SerialLink on one, a firmware stand-in reading
// records on the other). The same contract suite also runs over an in-memory
// pair, to show the transport is injected; the pty run is the one that counts.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { ptyPair } from '../helpers/pty.js';
import { EventEmitter } from 'node:events';
import { SerialPort } from 'serialport';
import { frameRecord, SerialDecoder, RecordType, type HeartbeatRecord, type SerialRecord, type CommandRecord } from '../../src/protocol/serial.js';
import { ResultFlag, ResultState, RuntimeState, ViewClass } from '../../src/protocol/constants.js';
import { WireError } from '../../src/protocol/errors.js';
import type { ResultBody } from '../../src/protocol/messages.js';
import { SerialLink, type PortLike, type RuntimeSnapshot } from '../../src/transport/serial-link.js';
import { within } from '../helpers/wait.js';

const hasSocat = spawnSync('sh', ['-c', 'command -v socat']).status === 0;

const result = (seq: number): ResultBody => ({
  stream: 0, seq, t: 0, view: 'PLAX', confidence: 0.9, quality: 0.7, state: 'uncertain', idScore: 0.6, lvAreaMm2: 1500.5, ef: null,
  efCi: null, edSeq: null, esSeq: null, flags: 4 | ResultFlag.UNCERTAIN,
  latency: { queueMs: 0, totalMs: 6.25, stages: {} },
});

interface Firmware { records: SerialRecord[]; write(b: Buffer): void; close(): Promise<void> }
interface Harness { link: SerialLink; fw: Firmware; runtime: RuntimeSnapshot; commands: CommandRecord[] }

type Transport = (rt: () => RuntimeSnapshot, onCommand: (c: CommandRecord) => number) => Promise<{ link: SerialLink; fw: Firmware; done: () => Promise<void> }>;

const ptyTransport: Transport = async (runtime, onCommand) => {
  const { a, b, proc } = await ptyPair();
  const link = new SerialLink({ path: a, baudRate: 115200, resultRate: 20, heartbeatMs: 100, runtime, onCommand });
  await link.open();
  const fwPort = new SerialPort({ path: b, baudRate: 115200, autoOpen: false });
  await new Promise<void>((res, rej) => fwPort.open((e) => (e ? rej(e) : res())));
  const dec = new SerialDecoder();
  const records: SerialRecord[] = [];
  fwPort.on('data', (d: Buffer) => { for (const ev of dec.push(d)) if (ev.kind === 'record') records.push(ev.record); });
  const fw: Firmware = {
    records, write: (buf) => fwPort.write(buf),
    close: () => new Promise<void>((r) => fwPort.close(() => r())),
  };
  return { link, fw, done: async () => { await link.close(); await fw.close(); proc.kill('SIGTERM'); } };
};

const memoryTransport: Transport = async (runtime, onCommand) => {
  const toFw = new EventEmitter();
  const toRt = new EventEmitter();
  const port: PortLike = { write: (d) => setImmediate(() => toFw.emit('data', d)), on: (e, fn) => toRt.on(e, fn), close: (cb) => cb?.() };
  const link = new SerialLink({ port, resultRate: 20, heartbeatMs: 100, runtime, onCommand });
  await link.open();
  const dec = new SerialDecoder();
  const records: SerialRecord[] = [];
  toFw.on('data', (d: Buffer) => { for (const ev of dec.push(d)) if (ev.kind === 'record') records.push(ev.record); });
  return { link, fw: { records, write: (b) => setImmediate(() => toRt.emit('data', b)), close: async () => {} }, done: () => link.close() };
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function contract(name: string, transport: Transport, skip: string | false) {
  t.test(`serial link contract: ${name}`, { skip }, async (t) => {
    const runtime: RuntimeSnapshot = { state: 'running', modelSet: 1, streaming: true, modelLoaded: true, framesProcessed: 10, framesDropped: 1, faultCode: 0 };
    const commands: CommandRecord[] = [];
    const { link, fw, done } = await transport(() => runtime, (c) => { commands.push(c); return c.kind === 'CMD_SELECT_MODEL_SET' && c.modelSet === 9 ? 15 : 0; });
    t.teardown(done);
    const beats = () => fw.records.filter((r) => r.kind === 'HEARTBEAT').length;

    t.ok(await within(() => beats() >= 2, 3000), 'heartbeats arrive');
    const hb = fw.records.find((r) => r.kind === 'HEARTBEAT')!;
    t.match(hb, { state: RuntimeState.running, modelSet: 1, flags: 3, framesProcessed: 10, framesDropped: 1, faultCode: 0 });
    // The PACS bits (2: the outbox's last try failed; 3: objects need an operator) follow the snapshot; absent: 0.
    const lastFlags = () => (fw.records.filter((r) => r.kind === 'HEARTBEAT').at(-1) as HeartbeatRecord).flags;
    runtime.pacsFailing = true;
    t.ok(await within(() => lastFlags() === 0b0111, 3000), 'bit 2 with pacsFailing');
    runtime.pacsAttention = true;
    t.ok(await within(() => lastFlags() === 0b1111, 3000), 'bits 2 and 3');
    runtime.pacsFailing = false;
    runtime.pacsAttention = false;
    t.ok(await within(() => lastFlags() === 3, 3000), 'both clear again');

    // results: newest wins between send slots (20 per second here)
    for (let i = 1; i <= 50; i++) link.write(result(i));
    t.ok(await within(() => fw.records.some((r) => r.kind === 'RESULT'), 3000), 'a result record arrives');
    await sleep(150);
    const results = fw.records.filter((r) => r.kind === 'RESULT');
    t.equal(results.length, 1, 'one record for 50 results offered within one slot');
    t.match(results[0], {
      seq: 50, view: ViewClass.PLAX, confidence: 0.9, quality: 0.7, lvAreaMm2: 1500.5, ef: null, latencyUs: 6250, flags: 4 | ResultFlag.UNCERTAIN,
      resultState: ResultState.uncertain, idScore: 0.6,
    });
    t.equal(link.stats.resultsReplaced, 49);

    // commands, acknowledged; line noise before one costs nothing
    fw.write(Buffer.concat([Buffer.from([0x13, 0x37, 0xff, 0x55]), frameRecord({ kind: 'CMD_START_STREAM', cmdSeq: 5, stream: 2 })]));
    fw.write(frameRecord({ kind: 'CMD_SELECT_MODEL_SET', cmdSeq: 6, modelSet: 9 }));
    t.ok(await within(() => fw.records.filter((r) => r.kind === 'ACK').length >= 3, 3000), 'three ACKs');
    t.same(commands.map((c) => [c.kind, c.cmdSeq]), [['CMD_START_STREAM', 5], ['CMD_SELECT_MODEL_SET', 6]]);
    t.same(fw.records.filter((r) => r.kind === 'ACK'), [
      { kind: 'ACK', cmdType: 0, status: WireError.BAD_COBS, cmdSeq: 0 },   // the noise, answered; the command after it is not lost
      { kind: 'ACK', cmdType: RecordType.CMD_START_STREAM, status: 0, cmdSeq: 5 },
      { kind: 'ACK', cmdType: RecordType.CMD_SELECT_MODEL_SET, status: 15, cmdSeq: 6 },
    ]);
    t.equal(link.stats.rejected, 1, 'the noise was one rejected frame');

    // faulted: the heartbeat stops, STATUS still answers
    runtime.state = 'faulted';
    runtime.faultCode = 19;
    await sleep(50);
    const before = beats();
    await sleep(400);
    t.equal(beats(), before, 'no heartbeat while faulted');
    fw.write(frameRecord({ kind: 'CMD_REQUEST_STATUS', cmdSeq: 9 }));
    t.ok(await within(() => fw.records.some((r) => r.kind === 'STATUS'), 3000));
    t.match(fw.records.find((r) => r.kind === 'STATUS'), { state: RuntimeState.faulted, cmdSeq: 9, faultCode: 19 });
    runtime.state = 'ready';
    t.ok(await within(() => beats() > before, 3000), 'the heartbeat resumes');
  });
}

contract('socat pty pair (real kernel tty)', ptyTransport, hasSocat ? false : 'socat is not installed (.ci/run installs it)');
contract('in-memory stand-in', memoryTransport, false);

const snapshot: RuntimeSnapshot = { state: 'running', modelSet: 0, streaming: true, modelLoaded: true, framesProcessed: 0, framesDropped: 0, faultCode: 0 };

t.test('serial link: a firmware that never reads holds at most maxPendingBytes in the port, the rest is dropped and counted; close() is prompt', { skip: hasSocat ? false : 'socat is not installed (.ci/run installs it)' }, async (t) => {
  const { a, proc } = await ptyPair();   // the firmware end is never opened: the kernel and socat buffers fill, then the port's queue
  t.teardown(() => { proc.kill('SIGTERM'); });
  const errors: Error[] = [];
  const link = new SerialLink({ path: a, heartbeatMs: 10, resultRate: 1000, runtime: () => snapshot, onError: (e) => errors.push(e) });
  await link.open();
  const offer = setInterval(() => link.write(result(1)), 1);
  t.ok(await within(() => link.stats.recordsDropped > 0, 8000), 'records are dropped once the line is full');
  const sent = link.stats.resultsSent + link.stats.heartbeats;
  const dropped = link.stats.recordsDropped;
  await sleep(500);
  clearInterval(offer);
  t.equal(link.stats.resultsSent + link.stats.heartbeats, sent, 'nothing more is queued while the firmware reads nothing');
  t.ok(link.stats.recordsDropped > dropped + 100, `dropped and counted: ${link.stats.recordsDropped}`);
  const t0 = performance.now();
  await link.close();
  t.ok(performance.now() - t0 < 1500, 'close() does not wait for the queued records');
  t.same(errors, [], 'writes cancelled by close() are not reported as a port failure');
});

t.test('serial link: a port that fails is reported once, then written no more; the runtime is not thrown at', async (t) => {
  const events = new EventEmitter();
  const written: Buffer[] = [];
  const port: PortLike = { write: (d) => written.push(d), on: (e, fn) => events.on(e, fn), close: (cb) => cb?.() };
  const errors: string[] = [];
  const link = new SerialLink({ port, heartbeatMs: 10, runtime: () => snapshot, onError: (e) => errors.push(e.message) });
  await link.open();
  t.ok(await within(() => written.length >= 3, 3000), 'heartbeats go out');
  events.emit('error', new Error('EIO: i/o error, write'));
  events.emit('error', new Error('EBADF: bad file descriptor'));
  const n = written.length;
  await sleep(100);
  t.equal(written.length, n, 'nothing is written after the failure (the heartbeat stops: the firmware sees a fault)');
  t.same(errors, ['EIO: i/o error, write'], 'reported once');
  t.equal(link.stats.errors, 2, 'every error counted');
  await link.close();
  // Without onError the error is only counted: an EventEmitter 'error' with a listener never throws.
  const bare = new SerialLink({ port: { ...port, on: (e, fn) => events.on(e, fn) }, heartbeatMs: 10, runtime: () => snapshot });
  await bare.open();
  t.doesNotThrow(() => events.emit('error', new Error('EIO')));
  t.equal(bare.stats.errors, 1);
  await bare.close();
});

t.test('serial link: every rejected input is answered (an ACK with the error code) and reported, both rate-limited', async (t) => {
  const events = new EventEmitter();
  const records: SerialRecord[] = [];
  const dec = new SerialDecoder();
  const port: PortLike = { write: (d) => { for (const ev of dec.push(d)) if (ev.kind === 'record') records.push(ev.record); }, on: (e, fn) => events.on(e, fn), close: (cb) => cb?.() };
  const reports: Array<[string, number]> = [];
  const link = new SerialLink({ port, heartbeatMs: 60000, runtime: () => snapshot, onCommand: () => 0, onRejected: (e, suppressed) => reports.push([e.wireName, suppressed]) });
  await link.open();
  const raw = (bytes: number[]) => frameRecord(Buffer.from(bytes));
  const badCrc = frameRecord({ kind: 'CMD_START_STREAM', cmdSeq: 40, stream: 0 });
  badCrc[badCrc.length - 2] ^= 0x01;
  events.emit('data', Buffer.concat([
    badCrc,                                                   // BAD_CRC: nothing of it is trusted
    Buffer.from([0, 0x05, 0x11, 0]),                          // BAD_COBS
    Buffer.concat([Buffer.from([0]), Buffer.alloc(70, 0x55), Buffer.from([0])]),   // no delimiter within 64 bytes
    raw([0x10, 1, 41, 0, 0, 0, 0, 0, 0, 0]),                  // a CMD_START_STREAM of 10 bytes
    raw([0x20, 1, 42, 0, 0, 0, 0, 0]),                        // a command type this runtime does not know
    raw([0x11, 2, 43, 0, 0, 0, 0, 0]),                        // a version-2 CMD_STOP_STREAM
    frameRecord({ kind: 'HEARTBEAT', state: 1, modelSet: 0, flags: 0, cmdSeq: 0, uptimeMs: 0, framesProcessed: 0, framesDropped: 0, faultCode: 0, beat: 1 }),
    frameRecord({ kind: 'CMD_REQUEST_STATUS', cmdSeq: 44 }),  // and a good command still goes through
  ]));
  await sleep(20);
  const acks = records.filter((r) => r.kind === 'ACK');
  t.same(acks, [
    { kind: 'ACK', cmdType: 0, status: WireError.BAD_CRC, cmdSeq: 0 },
    { kind: 'ACK', cmdType: 0, status: WireError.BAD_COBS, cmdSeq: 0 },
    { kind: 'ACK', cmdType: 0, status: WireError.BAD_RECORD_LENGTH, cmdSeq: 0 },
    { kind: 'ACK', cmdType: 0x10, status: WireError.BAD_RECORD_LENGTH, cmdSeq: 41 },
    { kind: 'ACK', cmdType: 0x20, status: WireError.UNKNOWN_TYPE, cmdSeq: 42 },
    { kind: 'ACK', cmdType: 0x11, status: WireError.UNSUPPORTED_VERSION, cmdSeq: 43 },
    { kind: 'ACK', cmdType: RecordType.HEARTBEAT, status: WireError.UNSUPPORTED, cmdSeq: 0 },
    { kind: 'ACK', cmdType: RecordType.CMD_REQUEST_STATUS, status: 0, cmdSeq: 44 },
  ]);
  t.equal(link.stats.rejected, 7);
  t.same(reports, [['BAD_CRC', 0]], 'reported once a second, with how many were not');
  // A flood of noise is answered at most maxNacksPerSecond (default 20) times a second: noise never floods the line back.
  events.emit('data', Buffer.concat(Array.from({ length: 50 }, () => Buffer.from([0, 0x05, 0x11, 0]))));
  await sleep(20);
  t.equal(records.filter((r) => r.kind === 'ACK' && r.status !== 0).length, 20);
  t.equal(link.stats.rejected, 57);
  await sleep(1000);
  events.emit('data', Buffer.from([0, 0x05, 0x11, 0]));
  await sleep(20);
  t.same(reports, [['BAD_CRC', 0], ['BAD_COBS', 56]]);
  t.equal(records.filter((r) => r.kind === 'ACK' && r.status !== 0).length, 21, 'a new second, a new allowance');
  await link.close();
});

t.test('serial link: a bad option is a TypeError or RangeError ERR_SONOEDGE_SERIAL_OPTION at construction, naming the option', async (t) => {
  const runtime = () => ({ state: 'ready', modelSet: 0, streaming: false, modelLoaded: true, framesProcessed: 0, framesDropped: 0, faultCode: 0 }) as RuntimeSnapshot;
  const port: PortLike = { write: () => true, on: () => undefined, close: (cb) => cb?.() };
  const T = TypeError;
  const R = RangeError;
  // Before, each of these was a TypeError or RangeError with no code, or (null options, a path of another type, no
  // runtime, a heartbeatMs of 0, a reopenMinMs above reopenMaxMs, NaN limits) taken and failing later: a raw TypeError
  // from the constructor, a link retrying a path it can never open, a runtime() call throwing in a timer, a 1 ms
  // heartbeat, a first wait silently cut to reopenMaxMs, no drop limit.
  const cases: [options: unknown, cls: ErrorConstructor, message: string][] = [
    [null, T, 'Expected an object for serial link options but received null'],
    [undefined, T, 'Expected an object for serial link options but received undefined'],
    [{ runtime }, T, 'Expected path or port for the serial link but received neither'],
    [{ path: '', runtime }, T, 'Expected path or port for the serial link but received neither'],
    [{ path: 5, runtime }, T, 'Expected a device path string for path but received 5 of type number'],
    [{ path: '/dev/ttyS9' }, T, 'Expected function for runtime but received undefined'],
    [{ port, runtime, baudRate: '115200' }, T, 'Expected a positive integer for baudRate but received "115200" of type string'],
    [{ port, runtime, baudRate: 0 }, R, 'Expected a positive integer for baudRate but received 0 of type number'],
    [{ port, runtime, resultRate: '30' }, T, 'Expected number in (0, 1000] for resultRate but received "30" of type string'],
    [{ port, runtime, resultRate: 0 }, R, 'Expected number in (0, 1000] for resultRate but received 0'],
    [{ port, runtime, resultRate: 1001 }, R, 'Expected number in (0, 1000] for resultRate but received 1001'],
    // 1000/resultRate ms between sends: above 2^31-1 ms Node's timer fires after 1 ms (a record every millisecond).
    [{ port, runtime, resultRate: 4.6e-7 }, R, 'Expected number in [4.656612875245797e-7, 1000] for resultRate (at most 2147483647 ms between results) but received 4.6e-7'],
    [{ port, runtime, resultRate: Number.MIN_VALUE }, R, 'Expected number in [4.656612875245797e-7, 1000] for resultRate (at most 2147483647 ms between results) but received 5e-324'],
    [{ port, runtime, heartbeatMs: '500' }, T, 'Expected a number 1..2147483647 for heartbeatMs but received "500" of type string'],
    [{ port, runtime, heartbeatMs: 0 }, R, 'Expected a number 1..2147483647 for heartbeatMs but received 0 of type number'],
    [{ port, runtime, heartbeatMs: 2 ** 31 }, R, 'Expected a number 1..2147483647 for heartbeatMs but received 2147483648 of type number'],
    [{ port, runtime, reopenMaxMs: 0 }, R, 'Expected a positive number for reopenMaxMs but received 0'],
    [{ port, runtime, reopenMaxMs: NaN }, R, 'Expected a positive number for reopenMaxMs but received NaN'],
    [{ port, runtime, reopenMaxMs: 2 ** 31 }, R, 'Expected at most 2147483647 for reopenMaxMs but received 2147483648 of type number'],
    [{ port, runtime, reopenMinMs: 0.5 }, R, 'Expected a positive number for reopenMinMs but received 0.5'],
    [{ port, runtime, reopenMinMs: 900, reopenMaxMs: 100 }, R, 'Expected at most reopenMaxMs (100) for reopenMinMs but received 900 of type number'],
    [{ port, runtime, reopenMinMs: 6000 }, R, 'Expected at most reopenMaxMs (5000) for reopenMinMs but received 6000 of type number'],
    [{ port, runtime, maxPendingBytes: NaN }, R, 'Expected a number >= 0 for maxPendingBytes but received NaN of type number'],
    [{ port, runtime, maxPendingBytes: '4096' }, T, 'Expected a number >= 0 for maxPendingBytes but received "4096" of type string'],
    [{ port, runtime, maxNacksPerSecond: -1 }, R, 'Expected a number >= 0 for maxNacksPerSecond but received -1 of type number'],
  ];
  for (const [options, cls, message] of cases) {
    t.throws(() => new SerialLink(options as never), { name: cls.name, code: 'ERR_SONOEDGE_SERIAL_OPTION', message }, message);
  }
  // Taken: the default first wait (250 ms) shrinks to a shorter reopenMaxMs; a first wait equal to the longest; a path with no port;
  // the slowest result rate whose interval a timer keeps (one result every 2147483647 ms).
  for (const options of [{ port, runtime, reopenMaxMs: 100 }, { port, runtime, reopenMinMs: 100, reopenMaxMs: 100 }, { path: '/dev/ttyS9', runtime }, { port, runtime, maxPendingBytes: 0, maxNacksPerSecond: 0 }, { port, runtime, resultRate: 1000 / (2 ** 31 - 1) }]) {
    t.doesNotThrow(() => new SerialLink(options), JSON.stringify(Object.keys(options)));
  }
});
