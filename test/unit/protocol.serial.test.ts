// Serial records: layout, COBS, CRC, every split and truncation, and
// resynchronisation within one record after line noise.
import t from 'tap';
import { buildVectors } from '../../scripts/gen-protocol-fixtures.js';
import {
  cobsDecode, cobsEncode, decodeRecord, encodeRecord, frameRecord, MAX_ENCODED_FRAME, RECORD_SIZE, SerialDecoder,
  type ResultRecord, type SerialEvent, type SerialRecord,
} from '../../src/protocol/serial.js';
import { ProtocolError } from '../../src/protocol/errors.js';

const serial = buildVectors().filter((v) => v.kind === 'serial');
const records = (ev: SerialEvent[]) => ev.filter((e) => e.kind === 'record').map((e) => (e as { record: SerialRecord }).record);
const codes = (ev: SerialEvent[]) => ev.filter((e) => e.kind === 'error').map((e) => (e as { error: ProtocolError }).error.code);
const result = (seq: number): ResultRecord => ({
  kind: 'RESULT', stream: 0, seq, view: 1, state: 2, flags: 4, confidence: 0.5, quality: 0.25, lvAreaMm2: 100, ef: null, resultState: 0, idScore: null, latencyUs: 1000, timeMs: seq * 33,
});

t.test('COBS', async (t) => {
  const cases: Array<[number[], number[]]> = [
    [[], [0x01]], [[0x00], [0x01, 0x01]], [[0x00, 0x00], [0x01, 0x01, 0x01]], [[0x11, 0x22, 0x00, 0x33], [0x03, 0x11, 0x22, 0x02, 0x33]],
    [[0x11, 0x00, 0x00, 0x00], [0x02, 0x11, 0x01, 0x01, 0x01]],
  ];
  for (const [raw, enc] of cases) {
    t.same([...cobsEncode(Buffer.from(raw))], enc, `encode ${raw}`);
    t.same([...cobsDecode(Buffer.from(enc))], raw, `decode ${enc}`);
  }
  const long = Buffer.from(Array.from({ length: 600 }, (_, i) => (i % 255) + 1));
  t.same(cobsDecode(cobsEncode(long)), long, '254-byte groups');
  t.notOk(cobsEncode(long).includes(0));
  t.throws(() => cobsDecode(Buffer.from([0x05, 0x11])), { code: 'ERR_SONOEDGE_PROTOCOL_BAD_COBS' });
});

t.test('record sizes and the 64-byte budget', async (t) => {
  t.equal(RECORD_SIZE[0x01], 32);
  const framed = frameRecord(result(1));
  t.ok(framed.length <= 64, `a framed result record is ${framed.length} bytes`);
  t.equal(framed[0], 0);
  t.equal(framed[framed.length - 1], 0);
  t.ok(30 * framed.length <= 384 * 30, '30 fps fits 115200 baud (11520 bytes/s)');
  const r = result(7);
  t.same(decodeRecord(encodeRecord(r)), r);
  const sat = decodeRecord(encodeRecord({ ...r, confidence: 7, lvAreaMm2: -5 })) as ResultRecord;
  t.equal(sat.confidence, 6.5534, 'values saturate below the "none" value');
  t.equal(sat.lvAreaMm2, 0);
});

t.test('each golden record split at every byte', async (t) => {
  for (const v of serial) {
    for (let cut = 0; cut <= v.bytes.length; cut++) {
      const d = new SerialDecoder();
      const ev = [...d.push(v.bytes.subarray(0, cut)), ...d.push(v.bytes.subarray(cut))];
      t.same(ev, [{ kind: 'record', record: v.json.record }], `${v.file} at ${cut}`);
    }
  }
});

t.test('every truncation is incomplete, not an error', async (t) => {
  for (const v of serial) {
    for (let n = 2; n < v.bytes.length; n++) {
      const d = new SerialDecoder();
      t.same(d.push(v.bytes.subarray(0, n)), [], `${v.file} to ${n}`);
      t.equal(d.incomplete, true);
    }
  }
});

t.test('corruption: CRC, unknown type, version, length', async (t) => {
  const v = serial[0];
  for (let i = 1; i < v.bytes.length - 1; i++) {
    const b = Buffer.from(v.bytes);
    b[i] ^= 0x10;
    if (b[i] === 0) continue; // a new delimiter: that is a split, tested below
    const ev = new SerialDecoder().push(Buffer.concat([b, serial[2].bytes]));
    t.equal(codes(ev).length, 1, `byte ${i} flipped: one error`);
    t.same(records(ev), [serial[2].json.record], `byte ${i}: the next record decodes`);
  }
  const raw = (bytes: number[]) => frameRecord(Buffer.from(bytes));
  t.same(codes(new SerialDecoder().push(raw([0x7e, 1, 0, 0]))), ['ERR_SONOEDGE_PROTOCOL_UNKNOWN_TYPE']);
  t.same(codes(new SerialDecoder().push(raw([0x13, 2, 0, 0, 0, 0, 0, 0]))), ['ERR_SONOEDGE_PROTOCOL_UNSUPPORTED_VERSION']);
  t.same(codes(new SerialDecoder().push(raw([0x13, 1, 0, 0]))), ['ERR_SONOEDGE_PROTOCOL_BAD_RECORD_LENGTH']);
  const bad = Buffer.from(serial[0].bytes);
  bad[bad.length - 2] ^= 0x01;
  const err = new SerialDecoder().push(bad)[0] as { error: ProtocolError };
  t.match(err.error.message, /^Expected record CRC-16 0x[0-9a-f]{4} but received 0x[0-9a-f]{4}$/);
});

t.test('resynchronisation within one record after line noise', async (t) => {
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let trial = 0; trial < 200; trial++) {
    const noise = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
    const d = new SerialDecoder();
    // noise in the gap between records: the leading 0x00 of the next record ends it, nothing is lost
    const ev = d.push(Buffer.concat([frameRecord(result(1)), noise, frameRecord(result(2)), frameRecord(result(3))]));
    t.same(records(ev).filter((r) => r.kind === 'RESULT').map((r) => (r as ResultRecord).seq).slice(-2), [2, 3], `trial ${trial}: gap noise costs nothing`);
    // noise inside a record: that record is lost at most, the next decodes
    const rec = frameRecord(result(5));
    const at = 1 + Math.floor(rand() * (rec.length - 2));
    const hit = Buffer.concat([rec.subarray(0, at), noise, rec.subarray(at)]);
    const ev2 = new SerialDecoder().push(Buffer.concat([hit, frameRecord(result(6))]));
    const seqs = records(ev2).filter((r) => r.kind === 'RESULT').map((r) => (r as ResultRecord).seq);
    t.equal(seqs[seqs.length - 1], 6, `trial ${trial}: the record after the noise decodes`);
  }
});

t.test('an overlong frame (no delimiter) is dropped and counted', async (t) => {
  const d = new SerialDecoder();
  const ev = d.push(Buffer.concat([Buffer.alloc(MAX_ENCODED_FRAME * 4, 0x55), frameRecord(result(9))]));
  t.same(codes(ev), ['ERR_SONOEDGE_PROTOCOL_BAD_RECORD_LENGTH']);
  t.same(records(ev), [result(9)]);
  t.equal(d.stats.overlong, 1);
});

t.test('RESULT bytes 22-23: the in-distribution state and score', async (t) => {
  const rec = (resultState: number, idScore: number | null): Buffer => encodeRecord({ ...result(1), resultState, idScore });
  t.same([...rec(0, null).subarray(22, 24)], [0, 0], 'ok without a score: both 0, as runtimes before the field sent them');
  t.same([...rec(2, 0).subarray(22, 24)], [2, 1], 'unknown, score 0: 1 + 0');
  t.same([...rec(1, 1).subarray(22, 24)], [1, 201], 'score 1: 1 + 200');
  t.same([...rec(1, 0.6543).subarray(22, 24)], [1, 132], 'steps of 0.005: 1 + round(130.86)');
  t.same([...rec(0, 1.7).subarray(22, 24)], [0, 201], 'clamped to [0, 1]');
  t.match(decodeRecord(rec(1, 0.6543)), { resultState: 1, idScore: 0.655 });
  t.match(decodeRecord(rec(0, null)), { resultState: 0, idScore: null });
  const bad = (at: number, v: number): Buffer => { const b = rec(0, null); b[at] = v; return b; };
  t.throws(() => decodeRecord(bad(22, 3)), {
    code: 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD', message: 'Expected a result state 0..2 (ok, uncertain, unknown) at byte 22 of a RESULT record but received 3',
  });
  t.throws(() => decodeRecord(bad(23, 202)), {
    code: 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD', message: 'Expected an id score byte 0..201 (0 absent, else 1 + score x 200) at byte 23 of a RESULT record but received 202',
  });
});

t.test('a rejected record says what could be read of it: its type, and a command\'s cmdSeq (for the NACK)', async (t) => {
  const raw = (bytes: number[]): Buffer => Buffer.from(bytes);
  const errorOf = (frame: Buffer): ProtocolError => {
    const ev = new SerialDecoder().push(frame);
    t.equal(ev.length, 1);
    return (ev[0] as { error: ProtocolError }).error;
  };
  const fields = (e: ProtocolError) => [e.wireName, e.type, e.seq];
  // CRC right, record wrong: the type byte and (for a command, 0x10..0x7f) the cmdSeq at bytes 2-3 are known.
  t.same(fields(errorOf(frameRecord(raw([0x10, 1, 0x34, 0x12, 0, 0, 0, 0, 0, 0])))), ['BAD_RECORD_LENGTH', 0x10, 0x1234], 'a CMD_START_STREAM of 10 bytes');
  t.same(fields(errorOf(frameRecord(raw([0x20, 1, 7, 0, 0, 0, 0, 0])))), ['UNKNOWN_TYPE', 0x20, 7], 'a command type this runtime does not know');
  t.same(fields(errorOf(frameRecord(raw([0x11, 2, 9, 0, 1, 0, 0, 0])))), ['UNSUPPORTED_VERSION', 0x11, 9], 'a version-2 CMD_STOP_STREAM');
  t.same(fields(errorOf(frameRecord(raw([0x05, 1, 9, 0, 0, 0, 0, 0])))), ['UNKNOWN_TYPE', 0x05, undefined], 'not a command: no cmdSeq');
  // CRC wrong or framing broken: nothing of it can be trusted.
  const crc = frameRecord({ kind: 'CMD_REQUEST_STATUS', cmdSeq: 3 });
  crc[crc.length - 2] ^= 0x01;
  t.same(fields(errorOf(crc)), ['BAD_CRC', undefined, undefined]);
  t.same(fields(errorOf(raw([0, 0x05, 0x11, 0]))), ['BAD_COBS', undefined, undefined]);
  t.same(fields(errorOf(Buffer.concat([raw([0]), Buffer.alloc(MAX_ENCODED_FRAME + 1, 0x55), raw([0])]))), ['BAD_RECORD_LENGTH', undefined, undefined]);
});
