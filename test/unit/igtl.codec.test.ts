// The OpenIGTLink codec: CRC-64 ECMA-182, the stream decoder at every split
// and every truncation, the errors it tells apart (fatal: framing lost; not:
// one message discarded), and the message contents' bounds.
import t from 'tap';
import { crc64 } from '../../src/transport/igtl/crc64.js';
import { cutUtf8, encodeIgtl, HEADER_SIZE, IgtlDecoder, type IgtlEvent } from '../../src/transport/igtl/codec.js';
import { IgtlError } from '../../src/transport/igtl/errors.js';
import { fillPolygon, pixelToWorld, spacingOf } from '../../src/transport/igtl/geometry.js';
import {
  encodeImage, encodePoints, encodePolyData, encodeStatus, encodeString, parseImage, parsePoints, parsePolyData, parseStatus, parseString,
} from '../../src/transport/igtl/messages.js';

const M = [0.5, 0, 0, 0, 0.7, 0, 0, 0, 1, 10, 20, 30];
const image = (w: number, h: number, pixels = new Uint8Array(w * h).map((_, i) => i & 0xff)) =>
  encodeImage({ components: 1, scalarType: 3, endian: 'little', coordinates: 'LPS', size: [w, h, 1], matrix: M, pixels });

const MESSAGES = [
  encodeIgtl({ type: 'STRING', device: 'Summary', headerVersion: 1, timestampMs: 1_700_000_000_500, content: encodeString('{"view":"A4C"}') }),
  encodeIgtl({ type: 'IMAGE', device: 'Image_Reference', headerVersion: 2, messageId: 9, metadata: [['a', 'b'], ['unit', 'mm²']], content: image(7, 5) }),
  encodeIgtl({ type: 'FOOBAR', device: 'x', headerVersion: 1, content: new Uint8Array(33).fill(7) }),
  encodeIgtl({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) }),
];
const ALL = Buffer.concat(MESSAGES);
const takes = (type: string) => type !== 'FOOBAR';

function summary(events: IgtlEvent[]): string[] {
  return events.map((e) => (e.kind === 'message'
    ? `message ${e.message.header.type} ${e.message.header.device} v${e.message.header.version} id${e.message.messageId} ${[...e.message.metadata].join(';')} ${Buffer.from(e.message.content).toString('hex').slice(0, 64)}`
    : e.kind === 'skipped' ? `skipped ${e.header.type} ${e.header.bodySize}` : `error ${e.error.code}`));
}

t.test('CRC-64 ECMA-182 as OpenIGTLink (and pyigtl\'s crcmod) computes it', async (t) => {
  t.equal(crc64(Buffer.from('123456789')).toString(16), '6c40df5f0b497347', 'the check value');
  t.equal(crc64(new Uint8Array(0)), 0n);
  const big = new Uint8Array(1 << 20).map((_, i) => (i * 31 + 7) & 0xff);
  // Values from pyigtl's CRC64 (crcmod) on the same bytes.
  t.same([0, 1, 7, 8, 9, 15, 16, 17, 100].map((n) => crc64(big.subarray(0, n)).toString(16)),
    ['0', '8e224479f47cb76a', 'b8e13800c8228ecd', 'cf66b6a84486b07e', 'ccf121443792f031', '88d96d9717034d8a', '6555edfd79c02ec0', '40cba3917e295c04', '89f3c68296255a8f']);
  t.equal(crc64(big).toString(16), 'cdb44dfc26a7225d');
  t.equal(crc64(big.subarray(5000)), crc64(big.subarray(5003), crc64(big.subarray(5000, 5003))), 'continues from a given CRC');
});

t.test('the decoder gives the same events for the stream split at every byte', async (t) => {
  const want = summary(new IgtlDecoder({ takes }).push(ALL));
  t.same(want.map((s) => s.split(' ').slice(0, 3).join(' ')), ['message STRING Summary', 'message IMAGE Image_Reference', 'skipped FOOBAR 33', 'message GET_STATUS ']);
  t.match(want[1], /v2 id9 a,b;unit,mm² /);
  for (let cut = 1; cut < ALL.length; cut++) {
    const d = new IgtlDecoder({ takes });
    const got = summary([...d.push(ALL.subarray(0, cut)), ...d.push(ALL.subarray(cut))]);
    if (JSON.stringify(got) !== JSON.stringify(want)) { t.same(got, want, `split at ${cut}`); return; }
  }
  const d = new IgtlDecoder({ takes });
  t.same(summary([...ALL].flatMap((b) => d.push(Uint8Array.of(b)))), want, 'one byte at a time');
  t.ok(d.idle);
});

t.test('a truncated message yields nothing and is told apart from a finished one', async (t) => {
  const m = MESSAGES[1];
  for (let n = 1; n < m.length; n++) {
    const d = new IgtlDecoder();
    const ev = d.push(m.subarray(0, n));
    if (ev.length !== 0 || d.idle || d.dead) { t.fail(`truncated at ${n}: ${summary(ev)}`); return; }
    t.equal(d.push(m.subarray(n)).length, 1);
  }
  t.pass('every truncation length');
});

t.test('a wrong CRC discards that message only; the next is decoded', async (t) => {
  const bad = Buffer.from(MESSAGES[0]);
  bad[HEADER_SIZE + 5] ^= 0x01;
  const ev = new IgtlDecoder().push(Buffer.concat([bad, MESSAGES[3]]));
  t.equal(ev.length, 2);
  const e = ev[0].kind === 'error' ? ev[0].error : undefined;
  t.ok(e instanceof IgtlError);
  t.match(e, { code: 'ERR_SONOEDGE_IGTL_CRC', fatal: false, type: 'STRING', device: 'Summary', status: 9, statusName: 'CRC_MISMATCH' });
  t.match(e!.message, /^Expected CRC-64 0x[0-9a-f]{16} of the 18-byte body of STRING from "Summary" but the header says 0x[0-9a-f]{16}; the message is discarded$/);
  t.equal(ev[1].kind, 'message');
  t.equal(new IgtlDecoder({ checkCrc: false }).push(bad)[0].kind, 'message', 'checkCrc false: taken as it is');
});

t.test('a huge declared body is refused at the header, before any allocation; an unknown type of any size is skipped unread', async (t) => {
  const h = Buffer.from(MESSAGES[0].subarray(0, HEADER_SIZE));
  h.writeBigUInt64BE(1n << 62n, 42);
  const d = new IgtlDecoder({ maxBodyBytes: 1 << 20 });
  const ev = d.push(h);
  t.equal(ev.length, 1);
  t.match(ev[0], { kind: 'error', error: { code: 'ERR_SONOEDGE_IGTL_TOO_LARGE', fatal: true, status: 8 } });
  t.equal((ev[0] as { error: Error }).error.message, `Expected a body of at most 1048576 bytes but the header of STRING from "Summary" declares ${Number.MAX_SAFE_INTEGER}`);
  t.ok(d.dead);
  t.same(d.push(MESSAGES[3]), [], 'a dead decoder takes nothing more');
  const u = Buffer.from(MESSAGES[2].subarray(0, HEADER_SIZE));
  u.writeBigUInt64BE(1n << 40n, 42);
  const s = new IgtlDecoder({ takes, maxBodyBytes: 1024 });
  t.same(summary(s.push(Buffer.concat([u, Buffer.alloc(1 << 16)]))), [`skipped FOOBAR ${2 ** 40}`]);
  t.notOk(s.dead);
  t.equal(s.pending, 0, 'nothing of it held');
});

t.test('a header that is not one loses the framing (fatal); the message names it', async (t) => {
  const garbage = Buffer.from(MESSAGES[0]);
  garbage[3] = 0x07;
  t.match(new IgtlDecoder().push(garbage), [{ kind: 'error', error: { code: 'ERR_SONOEDGE_IGTL_HEADER', fatal: true, status: 0 } }]);
  const v3 = Buffer.from(MESSAGES[0]);
  v3.writeUInt16BE(3, 0);
  const [e] = new IgtlDecoder().push(v3);
  t.equal((e as { error: Error }).error.message, 'Expected header version 1 (OpenIGTLink 1, 2) or 2 (OpenIGTLink 3) but received 3 (STRING from "Summary")');
  const empty = Buffer.from(MESSAGES[0]);
  empty.fill(0, 2, 14);
  t.match(new IgtlDecoder().push(empty), [{ kind: 'error', error: { code: 'ERR_SONOEDGE_IGTL_HEADER', fatal: true } }], 'an empty type name');
});

t.test('extended header and metadata sizes are checked against the body (not fatal)', async (t) => {
  const m = Buffer.from(MESSAGES[1]);
  m.writeUInt32BE(m.readUInt32BE(HEADER_SIZE + 4) + 1, HEADER_SIZE + 4); // metadata body size one too many: the count is read a byte early
  m.writeBigUInt64BE(crc64(m.subarray(HEADER_SIZE)), 50);
  const [e] = new IgtlDecoder().push(m);
  t.match(e, { kind: 'error', error: { code: 'ERR_SONOEDGE_IGTL_BODY_SIZE', fatal: false } });
  t.match((e as { error: Error }).error.message, /^Expected a metadata header of 69634 bytes for 8704 entries but received 18 \(IMAGE from "Image_Reference", header version 2\)$/);
  const short = encodeIgtl({ type: 'STRING', device: 'd', headerVersion: 1, content: new Uint8Array(5) });
  short.writeUInt16BE(2, 0);
  short.writeBigUInt64BE(crc64(short.subarray(HEADER_SIZE)), 50);
  t.match(new IgtlDecoder().push(short), [{ kind: 'error', error: { code: 'ERR_SONOEDGE_IGTL_BODY_SIZE', message: /^Expected a body of at least 12 bytes/ } }]);
});

t.test('IMAGE: every size and field checked; the pixels a view of the content', async (t) => {
  const c = image(7, 5);
  const img = parseImage(c, 'dev');
  t.match(img, { components: 1, scalarType: 3, endian: 'little', coordinates: 'LPS', size: [7, 5, 1], subOffset: [0, 0, 0], subSize: [7, 5, 1] });
  t.same(img.matrix, M.map((x) => Math.fround(x)));
  t.equal(img.pixels.buffer, c.buffer, 'no copy');
  t.throws(() => parseImage(c.subarray(0, c.length - 1), 'dev'), {
    code: 'ERR_SONOEDGE_IGTL_BODY_SIZE', message: 'Expected 35 bytes of pixels (7x5x1 voxels x 1 components x 1 bytes) after the image header but received 34 (IMAGE from "dev")',
  });
  t.throws(() => parseImage(c.subarray(0, 40)), { code: 'ERR_SONOEDGE_IGTL_BODY_SIZE', message: 'Expected at least 72 bytes of image header but received 40 (IMAGE)' });
  const bad = (at: number, v: number) => { const x = Uint8Array.from(c); x[at] = v; return x; };
  t.throws(() => parseImage(bad(3, 9)), { code: 'ERR_SONOEDGE_IGTL_FIELD', message: 'Expected a scalar type of 2, 3, 4, 5, 6, 7, 10, 11 but received 9 (IMAGE)' });
  t.throws(() => parseImage(bad(4, 3)), { code: 'ERR_SONOEDGE_IGTL_FIELD', message: 'Expected endianness 1 (big) or 2 (little) but received 3 (IMAGE)' });
  t.throws(() => parseImage(bad(5, 0)), { code: 'ERR_SONOEDGE_IGTL_FIELD' });
  t.throws(() => parseImage(bad(2, 0)), { code: 'ERR_SONOEDGE_IGTL_FIELD' });
  t.throws(() => parseImage(bad(1, 2)), { code: 'ERR_SONOEDGE_IGTL_FIELD', message: 'Expected image header version 1 but received 2 (IMAGE)' });
  const sub = encodeImage({ components: 1, scalarType: 3, endian: 'little', coordinates: 'LPS', size: [7, 5, 1], matrix: M, subOffset: [5, 0, 0], subSize: [3, 5, 1], pixels: new Uint8Array(15) });
  t.throws(() => parseImage(sub), { code: 'ERR_SONOEDGE_IGTL_FIELD', message: 'Expected a sub-volume inside the 7x5x1 image but received offset 5,0,0 size 3x5x1 (IMAGE)' });
});

t.test('STRING, STATUS, POINT and POLYDATA round trip; their sizes are checked', async (t) => {
  t.same(parseString(encodeString('EF 55 %')), { encoding: 3, text: 'EF 55 %' });
  t.same(parseString(encodeString('área')), { encoding: 106, text: 'área' });
  t.throws(() => parseString(encodeString('abc').subarray(0, 6)), { code: 'ERR_SONOEDGE_IGTL_BODY_SIZE', message: 'Expected 7 bytes for a 3-byte string but received 6 (STRING)' });
  t.same(parseStatus(encodeStatus({ code: 9, errorName: 'CRC_MISMATCH', message: 'bad' })), { code: 9, subcode: 0n, errorName: 'CRC_MISMATCH', message: 'bad' });
  const pts = [{ name: 'LV-0', group: 'LV', rgba: [1, 2, 3, 4] as [number, number, number, number], position: [1.5, -2, 3] as [number, number, number], diameter: 0, owner: 'LVContour' }];
  t.same(parsePoints(encodePoints(pts)), pts);
  t.throws(() => parsePoints(new Uint8Array(137)), { code: 'ERR_SONOEDGE_IGTL_BODY_SIZE' });
  const poly = { points: [0, 0, 0, 1, 0, 0, 1, 1, 0], lines: [[0, 1, 2, 0]] };
  t.same(parsePolyData(encodePolyData(poly)), poly);
  const broken = encodePolyData(poly);
  new DataView(broken.buffer).setUint32(40 + 36 + 8, 3); // an index past the 3 points
  t.throws(() => parsePolyData(broken), { code: 'ERR_SONOEDGE_IGTL_FIELD', message: 'Expected point indices below 3 but received 3 (POLYDATA)' });
  t.throws(() => parsePolyData(encodePolyData(poly).subarray(0, 60)), { code: 'ERR_SONOEDGE_IGTL_BODY_SIZE' });
});

t.test('geometry: spacing from the matrix, pixels to millimetres from the centre, the contour filled at pixel centres', async (t) => {
  t.same(spacingOf([0, 0.5, 0, -0.7, 0, 0, 0, 0, 2, 0, 0, 0]), [0.5, 0.7, 2]);
  const w = pixelToWorld([5, 3, 1], M);
  t.same(w(2, 1), [10, 20, 30], 'the centre voxel is the matrix position');
  t.same(w(0, 0), [9, 19.3, 30]);
  const map = fillPolygon([1, 1, 4, 1, 4, 3, 1, 3], 6, 4, 5);
  t.same([...map], [0, 0, 0, 0, 0, 0, 0, 5, 5, 5, 0, 0, 0, 5, 5, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
  t.same([...fillPolygon([1, 1, 2, 2], 3, 3)], new Array(9).fill(0), 'fewer than 3 points: nothing');
  t.same([...fillPolygon([-5, -5, 10, -5, 10, 10, -5, 10], 2, 2)], [1, 1, 1, 1], 'clipped to the frame');
});

t.test('cutUtf8: at most n bytes of UTF-8, cut at a character boundary, no character dropped that fits', async (t) => {
  t.equal(cutUtf8('LVLabel', 20), 'LVLabel');
  t.equal(cutUtf8('abcdefghijklmnopqrstuvwxyz', 20), 'abcdefghijklmnopqrst');
  t.equal(cutUtf8('Sonde-échographie-è', 20), 'Sonde-échographie-', 'a 2-byte character across byte 20 goes whole');
  t.equal(cutUtf8('Sonde-échographieèx', 20), 'Sonde-échographieè', 'one that ends at byte 20 stays');
  t.equal(cutUtf8('ab€€€€€€€', 20), 'ab€€€€€€', '3-byte characters');
  t.equal(cutUtf8('a🫀🫀🫀🫀🫀', 20), 'a🫀🫀🫀🫀', '4-byte characters (a surrogate pair in JavaScript): never half of one');
  const s = 'aé€🫀bé€🫀c';
  const chars = [...s];
  for (let n = 0; n <= Buffer.byteLength(s) + 1; n++) {
    const r = cutUtf8(s, n);
    const whole = [...r].length;
    const next = chars[whole];
    const ok = s.startsWith(r) && Buffer.byteLength(r) <= n && Buffer.from(r, 'utf8').toString('utf8') === r
      && (next === undefined || Buffer.byteLength(r + next) > n);
    if (!ok) { t.fail(`n ${n}: ${JSON.stringify(r)}`); return; }
  }
  t.pass('every n: a prefix of whole characters, the longest that fits');
});

t.test('a device name that is not UTF-8 reads as U+FFFD, cut to 20 bytes at a character boundary: one that encodeIgtl writes back', async (t) => {
  const header = (name: number[]) => {
    const b = Buffer.from(encodeIgtl({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) }));
    b.set(name, 14);
    return b;
  };
  const ascii = (s: string) => [...Buffer.from(s, 'latin1')];
  const cases: [string, number[], string][] = [
    ['20 bytes of 0xFF (60 bytes as U+FFFD)', Array<number>(20).fill(0xff), '\uFFFD'.repeat(6)],
    ['half a euro sign (E2 82) after 18 ASCII bytes', [...ascii('Sonde-echographie-'), 0xe2, 0x82], 'Sonde-echographie-'],
    ['a lone lead byte (C3) after 19 ASCII bytes', [...ascii('Sonde-echographie-x'), 0xc3], 'Sonde-echographie-x'],
    ['a stray continuation byte (80) between ASCII', [...ascii('US'), 0x80, ...ascii('probe')], 'US\uFFFDprobe'],
    ['20 bytes of UTF-8 as they are', [...Buffer.from('Sonde-échographie-x')], 'Sonde-échographie-x'],
    ['0xFF after 2 euro signs: 6 + 3 bytes', [...Buffer.from('€€'), 0xff], '€€\uFFFD'],
    ['0xFF after 17 ASCII bytes: 20 bytes as U+FFFD, kept whole', [...ascii('Sonde-echographie'), 0xff], 'Sonde-echographie\uFFFD'],
    ['0xFF after 18 ASCII bytes: 21 bytes as U+FFFD, cut', [...ascii('Sonde-echographie-'), 0xff], 'Sonde-echographie-'],
    ['a 4-byte character after 16 ASCII bytes: 20 bytes, kept whole', [...Buffer.from('Sonde-echographi😀')], 'Sonde-echographi😀'],
    ['a 4-byte character after 15 ASCII bytes and 0xFF: 22 bytes as U+FFFD, cut', [...ascii('Sonde-echograph'), 0xff, ...Buffer.from('😀')], 'Sonde-echograph\uFFFD'],
  ];
  for (const [what, name, want] of cases) {
    const events = new IgtlDecoder().push(header(name));
    if (events.length !== 1 || events[0].kind !== 'message') { t.fail(`${what}: ${summary(events).join(', ')}`); continue; }
    const device = events[0].message.header.device;
    t.equal(device, want, what);
    const again = new IgtlDecoder().push(encodeIgtl({ type: 'STATUS', device, headerVersion: 1, content: encodeStatus({ code: 1, message: '' }) }));
    t.equal(again[0].kind === 'message' && again[0].message.header.device, want, `${what}: written back and read again, the same`);
  }
  // The same rule in every fixed text field: a STATUS error name of 20 bytes of 0xFF.
  const status = encodeStatus({ code: 2, message: 'm' });
  status.fill(0xff, 10, 30);
  t.same(parseStatus(status), { code: 2, subcode: 0n, errorName: '\uFFFD'.repeat(6), message: 'm' });
});

t.test('a STATUS message, a variable-length field never written back, is read whole', async (t) => {
  const status = Buffer.from(encodeStatus({ code: 2, message: 'abc_def' }));
  status[33] = 0xff;
  t.same(parseStatus(status), { code: 2, subcode: 0n, errorName: '', message: 'abc\uFFFDdef' }, '0xFF in the middle: 7 bytes read as 9, kept');
  const ff = Buffer.from(encodeStatus({ code: 3, message: 'x'.repeat(40) }));
  ff.fill(0xff, 30, 70);
  t.same(parseStatus(ff).message, '\uFFFD'.repeat(40), '40 bytes of 0xFF: 40 U+FFFD');
});

t.test('a header whose device name is valid UTF-8 is not measured again', async (t) => {
  const b = encodeIgtl({ type: 'GET_STATUS', device: 'Sonde-échographie-x', headerVersion: 1, content: new Uint8Array(0) });
  const byteLength = Buffer.byteLength;
  let calls = 0;
  Buffer.byteLength = ((...a: Parameters<typeof byteLength>) => { calls++; return byteLength(...a); }) as typeof byteLength;
  let events;
  try { events = new IgtlDecoder().push(b); } finally { Buffer.byteLength = byteLength; }
  t.same(summary(events), ['message GET_STATUS Sonde-échographie-x v1 id0  ']);
  t.equal(calls, 0, 'no Buffer.byteLength while decoding');
});
