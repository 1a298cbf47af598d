// The socket codec at every boundary: each golden message split at every
// byte, every truncation (incomplete, not an error), wrong CRC, unknown type
// and version, oversized lengths rejected before the body is read, garbage
// before a valid message, bodies that are not MessagePack maps.
import t from 'tap';
import { Packr } from 'msgpackr';
import { buildVectors } from '../../scripts/gen-protocol-fixtures.js';
import {
  decodeMessage, encodeMessage, MessageDecoder, readHeader, type DecodeEvent, type Message,
} from '../../src/protocol/codec.js';
import { HEADER_SIZE, MessageType, Offset } from '../../src/protocol/constants.js';
import { crc32c } from '../../src/protocol/crc.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { msg, parseConfigure, parseResult, parseHello } from '../../src/protocol/messages.js';

const socket = buildVectors().filter((v) => v.kind === 'socket');
const all = Buffer.concat(socket.map((v) => v.bytes));
const strip = (m: Message) => ({ header: m.header, body: m.body, payload: m.payload.toString('hex') });
const messages = (ev: DecodeEvent[]) => ev.filter((e) => e.kind === 'message').map((e) => strip((e as { message: Message }).message));
const errors = (ev: DecodeEvent[]) => ev.filter((e) => e.kind === 'error').map((e) => (e as { error: ProtocolError }).error);
const expected = socket.map((v) => strip(decodeMessage(v.bytes)));

/** Re-signs a header after a test edits it. */
function resign(b: Buffer): Buffer {
  b.writeUInt32LE(crc32c(b, 0, Offset.crc), Offset.crc);
  return b;
}

t.test('header layout', async (t) => {
  const b = encodeMessage({ type: MessageType.PING, seq: 0x01020304, flags: 1, body: {} });
  t.equal(b.subarray(0, 4).toString('ascii'), 'SONO');
  t.equal(b[4], 1, 'version');
  t.equal(b[5], MessageType.PING);
  t.equal(b.readUInt16LE(6), 1, 'flags');
  t.equal(b.readUInt32LE(8), b.length - HEADER_SIZE, 'body length');
  t.equal(b.readUInt32LE(12), 0, 'payload length');
  t.equal(b.readUInt32LE(16), 0x01020304, 'seq');
  t.equal(b.readUInt32LE(20), crc32c(b, 0, 20), 'CRC-32C of bytes 0..19');
  t.same(readHeader(b), { version: 1, type: MessageType.PING, flags: 1, bodyLength: b.length - 24, payloadLength: 0, seq: 0x01020304 });
});

t.test('each golden message split at every byte gives exactly that message', async (t) => {
  for (const [i, v] of socket.entries()) {
    for (let cut = 0; cut <= v.bytes.length; cut++) {
      const d = new MessageDecoder();
      const ev = [...d.push(v.bytes.subarray(0, cut)), ...d.push(v.bytes.subarray(cut))];
      if (ev.length !== 1 || ev[0].kind !== 'message') {
        t.fail(`${v.file} split at ${cut}: ${JSON.stringify(ev)}`);
        continue;
      }
      t.same(strip(ev[0].message), expected[i]);
      t.equal(d.incomplete, false);
    }
  }
  t.end();
});

t.test('the whole stream fed one byte at a time and in 7-byte chunks', async (t) => {
  for (const size of [1, 7, 4096]) {
    const d = new MessageDecoder();
    const ev: DecodeEvent[] = [];
    for (let i = 0; i < all.length; i += size) ev.push(...d.push(all.subarray(i, i + size)));
    t.same(messages(ev), expected, `chunks of ${size}`);
    t.same(errors(ev), []);
    t.same(d.stats, { messages: socket.length, errors: 0, garbageBytes: 0, skippedBytes: 0 });
  }
});

t.test('every truncation is incomplete, never an error', async (t) => {
  for (const v of socket) {
    for (let n = 1; n < v.bytes.length; n++) {
      const d = new MessageDecoder();
      const ev = d.push(v.bytes.subarray(0, n));
      if (ev.length !== 0 || !d.incomplete) t.fail(`${v.file} truncated to ${n}: ${JSON.stringify(ev)}`);
      const end = d.end();
      if (!(end instanceof ProtocolError) || !end.incomplete || end.code !== 'ERR_SONOEDGE_PROTOCOL_INCOMPLETE') t.fail(`${v.file} end() at ${n}`);
    }
    const err = t.throws(() => decodeMessage(v.bytes.subarray(0, v.bytes.length - 1))) as ProtocolError;
    t.equal(err.incomplete, true, `${v.file}: decodeMessage says incomplete`);
  }
  t.equal(new MessageDecoder().end(), undefined, 'nothing held: no error');
});

t.test('a wrong header CRC is a typed error, then the decoder resynchronises', async (t) => {
  const bad = Buffer.from(socket[0].bytes);
  bad[Offset.seq] ^= 0x40;
  const err = t.throws(() => decodeMessage(bad)) as ProtocolError;
  t.equal(err.code, 'ERR_SONOEDGE_PROTOCOL_BAD_HEADER_CRC');
  t.equal(err.incomplete, false);
  t.match(err.message, /^Expected header CRC-32C 0x[0-9a-f]+ but received 0x[0-9a-f]+$/);
  const d = new MessageDecoder();
  const ev = d.push(Buffer.concat([bad, socket[1].bytes]));
  t.same(errors(ev).map((e) => e.code), ['ERR_SONOEDGE_PROTOCOL_BAD_HEADER_CRC']);
  t.same(messages(ev), [expected[1]], 'the next message is decoded');
  t.equal(d.stats.garbageBytes, bad.length);
});

t.test('every single-byte corruption of a header is caught', async (t) => {
  const v = socket.find((x) => x.name === 'frame')!;
  for (let i = 0; i < HEADER_SIZE; i++) {
    const b = Buffer.from(v.bytes);
    b[i] ^= 0x01;
    const d = new MessageDecoder();
    const ev = d.push(Buffer.concat([b, socket[0].bytes]));
    const codes = errors(ev).map((e) => e.code);
    t.same(codes, [i < 4 ? 'ERR_SONOEDGE_PROTOCOL_BAD_MAGIC' : 'ERR_SONOEDGE_PROTOCOL_BAD_HEADER_CRC'], `byte ${i}`);
    t.same(messages(ev), [expected[0]], `byte ${i}: the next message survives`);
  }
});

t.test('unknown type and unknown version are skipped whole with a typed error', async (t) => {
  const unk = resign(Buffer.from(socket[0].bytes));
  unk[Offset.type] = 0x7f;
  resign(unk);
  const ver = Buffer.from(socket[0].bytes);
  ver[Offset.version] = 2;
  resign(ver);
  for (const [b, code, re] of [[unk, 'UNKNOWN_TYPE', /^Expected a known message type but received 0x7f$/],
    [ver, 'UNSUPPORTED_VERSION', /^Expected protocol version 1 but received 2$/]] as const) {
    const d = new MessageDecoder();
    const ev = d.push(Buffer.concat([b, socket[2].bytes]));
    t.equal(errors(ev)[0].code, `ERR_SONOEDGE_PROTOCOL_${code}`);
    t.match(errors(ev)[0].message, re);
    t.equal(errors(ev)[0].seq, 1, 'the error names the sequence number');
    t.same(messages(ev), [expected[2]]);
    t.equal(d.stats.skippedBytes, b.length - HEADER_SIZE);
  }
});

t.test('an oversized length is rejected from the header alone, its bytes skipped unread', async (t) => {
  const d = new MessageDecoder({ maxMessageSize: 1000 });
  const big = encodeMessage({ type: MessageType.FRAME, seq: 5, body: { stream: 0, seq: 1, t: 0 }, payload: Buffer.alloc(5000, 0x53) });
  const ev = d.push(big.subarray(0, HEADER_SIZE));
  t.equal(ev.length, 1, 'rejected as soon as the header is in');
  const e = (ev[0] as { error: ProtocolError }).error;
  t.equal(e.code, 'ERR_SONOEDGE_PROTOCOL_MESSAGE_TOO_LARGE');
  t.match(e.message, /^Expected at most 1000 body and payload bytes but received a header announcing 50\d\d$/);
  const rest = [...d.push(big.subarray(HEADER_SIZE, 3000)), ...d.push(big.subarray(3000)), ...d.push(socket[0].bytes)];
  t.same(messages(rest), [expected[0]], 'the payload (full of "S" bytes) is skipped, not parsed');
  t.equal(d.stats.skippedBytes, big.length - HEADER_SIZE);
  const huge = resign(Buffer.from(socket[0].bytes.subarray(0, HEADER_SIZE)));
  huge.writeUInt32LE(0xffffffff, Offset.bodyLength);
  resign(huge);
  const d2 = new MessageDecoder();
  t.equal((d2.push(huge)[0] as { error: ProtocolError }).error.code, 'ERR_SONOEDGE_PROTOCOL_MESSAGE_TOO_LARGE', '4 GiB announced');
  t.throws(() => new MessageDecoder({ maxMessageSize: -1 }), RangeError);
});

t.test('payload on a message type without one is rejected', async (t) => {
  const b = encodeMessage({ type: MessageType.PING, seq: 3, body: {}, payload: Buffer.alloc(4) });
  t.equal((t.throws(() => decodeMessage(b)) as ProtocolError).code, 'ERR_SONOEDGE_PROTOCOL_BAD_BODY');
});

t.test('garbage before a valid message: one error, then the message', async (t) => {
  const garbage = Buffer.from('SOSONSON\x00\xffSONxSONO', 'latin1');
  for (let cut = 0; cut <= garbage.length + 30; cut++) {
    const stream = Buffer.concat([garbage, socket[4].bytes]);
    const d = new MessageDecoder();
    const ev = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    t.same(errors(ev).map((e) => e.code), ['ERR_SONOEDGE_PROTOCOL_BAD_MAGIC'], `cut ${cut}`);
    t.same(messages(ev), [expected[4]]);
    t.equal(d.stats.garbageBytes, garbage.length);
  }
});

t.test('a body that is not MessagePack, or not a map, is BAD_BODY; framing stays intact', async (t) => {
  const junk = Buffer.from([0xc1]);
  const head = Buffer.alloc(HEADER_SIZE);
  head.write('SONO', 'ascii');
  head[4] = 1;
  head[5] = MessageType.HELLO;
  head.writeUInt32LE(1, 8);
  resign(head);
  const d = new MessageDecoder();
  const ev = d.push(Buffer.concat([head, junk, socket[0].bytes]));
  t.equal(errors(ev)[0].code, 'ERR_SONOEDGE_PROTOCOL_BAD_BODY');
  t.same(messages(ev), [expected[0]]);
  const arr = encodeMessage({ type: MessageType.HELLO, seq: 1, body: [1, 2] });
  t.throws(() => decodeMessage(arr), { code: 'ERR_SONOEDGE_PROTOCOL_BAD_BODY', message: 'Expected a MessagePack map as the body of HELLO but received array of length 2' });
  t.throws(() => parseHello({ versions: 1, client: 'x' }), { code: 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD' });
});

t.test('body fields are checked with exact messages', async (t) => {
  const base = { stream: 0, width: 64, height: 48, format: 'GRAY8', spacing: [0.2, 0.2], fps: 30 };
  t.same(parseConfigure(base), { ...base, stride: undefined, uvOffset: undefined });
  t.same(parseConfigure({ ...base, spacing: [1e-6, 1000] }).spacing, [1e-6, 1000], 'SPACING_RANGE_MM\'s ends are taken');
  for (const flip of ['none', 'horizontal', 'vertical', 'both']) t.equal(parseConfigure({ ...base, flip }).flip, flip, `flip ${flip}`);
  t.equal(parseConfigure({ ...base, flip: 'none', sector: { angleStart: -0.5, angleEnd: 0.5, depthStart: 0, depthEnd: 10 } }).flip, 'none', 'flip none with a sector');
  t.same(decodeMessage(encodeMessage(msg.configure(1, { ...parseConfigure(base), flip: 'vertical' }))).body, { ...base, flip: 'vertical' }, 'flip goes on the wire');
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ width: -3 }, 'Expected integer 1..16384 for CONFIGURE_STREAM.width but received -3 of type number'],
    [{ format: 'GREY8' }, 'Expected one of GRAY8, GRAY16, RGB8, BGR8, RGBA8, BGRA8, YUYV, NV12 for CONFIGURE_STREAM.format but received "GREY8" of type string'],
    [{ spacing: [0.2] }, 'Expected array of 2 finite numbers for CONFIGURE_STREAM.spacing but received array of length 1'],
    [{ spacing: [0, 0.2] }, 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[0] but received 0 of type number'],
    [{ spacing: [0.2, -0.2] }, 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[1] but received -0.2 of type number'],
    [{ spacing: [9.9e-7, 0.2] }, 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[0] but received 9.9e-7 of type number'],
    [{ spacing: [0.2, 1000.5] }, 'Expected number in [0.000001, 1000] (mm per pixel) for CONFIGURE_STREAM.spacing[1] but received 1000.5 of type number'],
    [{ spacing: [0.2, NaN] }, 'Expected finite number for CONFIGURE_STREAM.spacing[1] but received NaN of type number'],
    [{ spacing: [Infinity, 0.2] }, 'Expected finite number for CONFIGURE_STREAM.spacing[0] but received Infinity of type number'],
    [{ spacing: ['0.2', 0.2] }, 'Expected finite number for CONFIGURE_STREAM.spacing[0] but received "0.2" of type string'],
    [{ stride: 10 }, 'Expected integer >= 64 (width * bytes per pixel) for CONFIGURE_STREAM.stride but received 10 of type number'],
    [{ fps: 'thirty' }, 'Expected finite number in [0.1, 1000] for CONFIGURE_STREAM.fps but received "thirty" of type string'],
    [{ fps: NaN }, 'Expected finite number in [0.1, 1000] for CONFIGURE_STREAM.fps but received NaN of type number'],
    [{ fps: Infinity }, 'Expected finite number in [0.1, 1000] for CONFIGURE_STREAM.fps but received Infinity of type number'],
    [{ sector: { angleStart: -0.5, angleEnd: 0.5, depthStart: NaN, depthEnd: 10 } }, 'Expected finite number >= 0 for CONFIGURE_STREAM.sector.depthStart but received NaN of type number'],
    [{ sector: { angleStart: -0.5, angleEnd: 0.5, depthStart: 0, depthEnd: -1 } }, 'Expected finite number >= 0 for CONFIGURE_STREAM.sector.depthEnd but received -1 of type number'],
    [{ flip: 'mirrored' }, 'Expected one of none, horizontal, vertical, both for CONFIGURE_STREAM.flip but received "mirrored" of type string'],
    [{ flip: true }, 'Expected one of none, horizontal, vertical, both for CONFIGURE_STREAM.flip but received true of type boolean'],
    [{ flip: 'vertical', sector: { angleStart: -0.5, angleEnd: 0.5, depthStart: 0, depthEnd: 10 } }, 'Expected CONFIGURE_STREAM.flip none with sector (polar frames are drawn apex up by their angles) but received "vertical"'],
    [{ roi: { x: 60, y: 0, width: 10, height: 10 } }, 'Expected CONFIGURE_STREAM.roi inside the 64x48 frame but received x 60, y 0, width 10, height 10'],
    [{ sector: { angleStart: 0.5, angleEnd: -0.5, depthStart: 0, depthEnd: 10 } }, 'Expected CONFIGURE_STREAM.sector with angleStart < angleEnd and depthStart < depthEnd but received {"angleStart":0.5,"angleEnd":-0.5,"depthStart":0,"depthEnd":10}'],
  ];
  for (const [patch, message] of cases) {
    const err = t.throws(() => parseConfigure({ ...base, ...patch }, { seq: 9 })) as ProtocolError;
    t.equal(err.message, message);
    t.equal(err.code, 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD');
    t.equal(err.seq, 9);
  }
  t.throws(() => parseResult({ stream: 0 }), { code: 'ERR_SONOEDGE_PROTOCOL_BAD_BODY', message: 'Expected a MessagePack map for RESULT.latency but received undefined' });
});

t.test('RESULT: state, idScore, efCi, edSeq and esSeq', async (t) => {
  const base = decodeMessage(socket.find((x) => x.name === 'result-mask')!.bytes).body as Record<string, unknown>;
  t.match(parseResult(base), { state: 'uncertain', idScore: 0.5625, ef: 55.5, efCi: [50.25, 60.75], edSeq: null, esSeq: 69995 });
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ state: undefined }, 'Expected one of ok, uncertain, unknown for RESULT.state but received undefined'],
    [{ state: 'maybe' }, 'Expected one of ok, uncertain, unknown for RESULT.state but received "maybe" of type string'],
    [{ idScore: 1.5 }, 'Expected finite number in [0, 1] for RESULT.idScore but received 1.5 of type number'],
    [{ efCi: [50] }, 'Expected array of 2 finite numbers for RESULT.efCi but received array of length 1'],
    [{ efCi: [60, 50] }, 'Expected [lo, hi] with lo <= hi for RESULT.efCi but received array of length 2'],
    [{ edSeq: -1 }, 'Expected integer 0..4294967295 for RESULT.edSeq but received -1 of type number'],
  ];
  for (const [patch, message] of cases) {
    t.throws(() => parseResult({ ...base, ...patch }), { code: 'ERR_SONOEDGE_PROTOCOL_BAD_FIELD', message }, message);
  }
});

t.test('bodies are plain MessagePack: a decoder with records off reads them', async (t) => {
  const other = new Packr({ useRecords: false, mapsAsObjects: true });
  const v = socket.find((x) => x.name === 'result-mask')!;
  const m = decodeMessage(v.bytes);
  const body = other.unpack(v.bytes.subarray(HEADER_SIZE, HEADER_SIZE + m.header.bodyLength)) as Record<string, unknown>;
  t.equal(body.view, 'PLAX');
  t.ok(Buffer.isBuffer((body.mask as { data: unknown }).data), 'mask data is MessagePack bin');
  // No msgpackr extension bytes (0xd4..0xd8, 0xc7..0xc9) appear as type tags: checked by the C reader in clients/c.
  t.same(decodeMessage(encodeMessage(msg.ping(1))).body, {}, 'absent optional fields are omitted, not nil');
});
