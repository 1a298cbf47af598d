// The OpenIGTLink bridge over real sockets, a bare peer built on the codec:
// pixel conversions and sub-volumes as the pipeline reads them, GET_/STT_/
// STP_ as the standard describes, every bad input answered with the STATUS of
// its typed error (and the connection kept unless its framing is lost), and
// the limits. The stand-in for the ML pipeline echoes pixels it was given.
import t, { type Test } from 'tap';
import net from 'node:net';
import { StreamManager, type ServerFrame } from '../../src/runtime/streams.js';
import type { FrameResult } from '../../src/transport/types.js';
import { encodeIgtl, HEADER_SIZE } from '../../src/transport/igtl/codec.js';
import { IgtlBridge } from '../../src/transport/igtl/bridge.js';
import { IgtlError } from '../../src/transport/igtl/errors.js';
import { IGTL_DEFAULTS, type OutputType } from '../../src/transport/igtl/options.js';
import { serveSchema } from '../../src/config/serve-schema.js';
import { ConfigError, parseServeConfig } from '../../src/config/index.js';
import { fillPolygon } from '../../src/transport/igtl/geometry.js';
import { parseImage, parseStatus, parseString, encodeImage, encodeStatus } from '../../src/transport/igtl/messages.js';
import { imageMessage, RawPeer } from '../helpers/igtl-client.js';
import { within } from '../helpers/wait.js';

/** Echoes pixel 0 (as an unsigned little-endian value of the stream's format) and the last pixel, as area and EF. */
function standIn(f: ServerFrame): FrameResult {
  const { width: w, height: h, format } = f.config;
  const bpp = format === 'GRAY16' ? 2 : 1;
  const at = (i: number) => (bpp === 2 ? f.pixels[2 * i] | (f.pixels[2 * i + 1] << 8) : f.pixels[i]);
  return { view: 'A4C', quality: 0.7, lvAreaMm2: at(0), ef: at(w * h - 1), flags: 0, contour: [0, 0, 2, 0, 2, 2, 0, 2] };
}

async function setup(t: Test, o: ConstructorParameters<typeof IgtlBridge>[0] extends infer X ? Partial<X> : never = {}) {
  const manager = new StreamManager({ handler: async (f) => standIn(f) });
  const bridge = new IgtlBridge({ streams: manager, port: 0, ...o });
  await bridge.start();
  const peers: RawPeer[] = [];
  const connect = async () => { const p = await RawPeer.connect(bridge.port); peers.push(p); return p; };
  t.teardown(async () => { for (const p of peers) p.destroy(); await bridge.close(); });
  return { manager, bridge, connect };
}

const isType = (type: string, device?: string) => (m: { header: { type: string; device: string } }) => m.header.type === type && (device === undefined || m.header.device === device);
const summaryOf = (m: { content: Uint8Array }) => JSON.parse(parseString(m.content).text) as Record<string, unknown>;
const statusOf = (m: { content: Uint8Array }) => parseStatus(m.content);

t.test('pixels as the pipeline reads them: big-endian and signed 16-bit converted, int8 shifted, sub-volumes patched into the last frame', async (t) => {
  const { connect } = await setup(t);
  const p = await connect();
  // uint16 big-endian: 0x1234 at pixel 0, 0xabcd at the last.
  const be = new Uint8Array(2 * 4 * 3);
  be.set([0x12, 0x34], 0);
  be.set([0xab, 0xcd], be.length - 2);
  p.send(encodeIgtl({ type: 'IMAGE', device: 'be16', headerVersion: 1, content: encodeImage({ components: 1, scalarType: 5, endian: 'big', coordinates: 'LPS', size: [4, 3, 1], matrix: [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], pixels: be }) }));
  t.match(summaryOf(await p.next(isType('STRING'))), { device: 'be16', lvAreaMm2: 0x1234, ef: 0xabcd });
  // int16 little-endian -2 and 5: +32768.
  const s16 = new Uint8Array(new Int16Array([-2, 0, 0, 0, 0, 5]).buffer);
  p.send(encodeIgtl({ type: 'IMAGE', device: 's16', headerVersion: 1, content: encodeImage({ components: 1, scalarType: 4, endian: 'little', coordinates: 'LPS', size: [3, 2, 1], matrix: [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], pixels: s16 }) }));
  t.match(summaryOf(await p.next(isType('STRING'))), { device: 's16', lvAreaMm2: 32766, ef: 32773 });
  // int8 -128 and 127: +128.
  p.send(imageMessage('s8', 2, 2, 0, { scalarType: 2, pixels: Uint8Array.of(0x80, 0, 0, 0x7f) }));
  t.match(summaryOf(await p.next(isType('STRING'))), { device: 's8', lvAreaMm2: 0, ef: 255 });
  // A full 4x4 frame of 9, then a 2x1 sub-volume of 200 at (2, 3): the last pixel becomes 200, the first stays 9.
  p.send(imageMessage('sub', 4, 4, 9));
  t.match(summaryOf(await p.next(isType('STRING'))), { device: 'sub', lvAreaMm2: 9, ef: 9 });
  p.send(imageMessage('sub', 4, 4, 0, { subOffset: [2, 3, 0], subSize: [2, 1, 1], pixels: Uint8Array.of(200, 200) }));
  t.match(summaryOf(await p.next(isType('STRING'))), { device: 'sub', lvAreaMm2: 9, ef: 200 });
});

t.test('GET_STATUS, GET_<type>, STT_ and STP_ as the standard describes', async (t) => {
  const { connect } = await setup(t, { results: ['IMAGE', 'STRING'] });
  const p = await connect();
  p.send({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) });
  t.match(statusOf(await p.next(isType('STATUS'))), { code: 1, message: '{"server":"sonoedge","streams":[]}' });
  p.send({ type: 'GET_IMAGE', device: 'LVLabel', headerVersion: 1, content: new Uint8Array(0) });
  t.match(statusOf(await p.next(isType('STATUS'))), { code: 4, errorName: 'NOT_FOUND', message: 'Expected a IMAGE result of device "LVLabel" to have been sent but none has' });
  p.send(imageMessage('US', 8, 6, 1));
  const label = await p.next(isType('IMAGE', 'LVLabel'));
  t.same(parseImage(label.content).size, [8, 6, 1]);
  await p.next(isType('STRING', 'Summary'));
  p.send({ type: 'GET_IMAGE', device: 'LVLabel', headerVersion: 1, content: new Uint8Array(0) });
  t.same(Buffer.from((await p.next(isType('IMAGE', 'LVLabel'))).content), Buffer.from(label.content), 'GET_IMAGE: the last label map again');
  p.send({ type: 'STP_IMAGE', device: '', headerVersion: 1, content: new Uint8Array(0) });
  t.same([...(await p.next(isType('RTS_IMAGE'))).content], [0], 'RTS_IMAGE: 0, success');
  p.send({ type: 'STT_POINT', device: '', headerVersion: 1, content: new Uint8Array(0) });
  t.same([...(await p.next(isType('RTS_POINT'))).content], [0]);
  p.send({ type: 'STT_VIDEO', device: '', headerVersion: 1, content: new Uint8Array(0) });
  t.same([...(await p.next(isType('RTS_VIDEO'))).content], [1], 'a type sonoedge does not send: RTS with 1, error');
  p.send(imageMessage('US', 8, 6, 2));
  await p.next(isType('STRING'));
  await p.next(isType('POINT', 'LVContour'));
  await new Promise((r) => setTimeout(r, 100));
  t.equal(p.received.filter(isType('IMAGE')).length, 0, 'no label maps after STP_IMAGE');
  p.send({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) });
  t.match(statusOf(await p.next(isType('STATUS'))), { code: 1, message: '{"server":"sonoedge","streams":[{"device":"US","stream":1000}]}' });
});

t.test('one result to peers of header versions 1 and 2: each gets it in its own version, the same content and metadata', async (t) => {
  const { connect } = await setup(t, { results: ['IMAGE', 'STRING'] });
  const v2 = await connect();
  const v1 = await connect();
  v2.send({ type: 'GET_STATUS', device: '', headerVersion: 2, content: new Uint8Array(0) });
  await v2.next(isType('STATUS'));
  v1.send(imageMessage('US', 8, 6, 3));
  const [a1, a2] = [await v1.next(isType('IMAGE', 'LVLabel')), await v2.next(isType('IMAGE', 'LVLabel'))];
  const [s1, s2] = [await v1.next(isType('STRING', 'Summary')), await v2.next(isType('STRING', 'Summary'))];
  t.same([a1.header.version, s1.header.version, a2.header.version, s2.header.version], [1, 1, 2, 2]);
  t.same(Buffer.from(a2.content), Buffer.from(a1.content), 'the same label map to both');
  t.same(summaryOf(s2), summaryOf(s1), 'the same summary to both');
  t.same([...a2.metadata], [['sonoedge.stream', '1000'], ['sonoedge.seq', '1'], ['sonoedge.source', 'US'], ['sonoedge.state', 'ok']]);
  t.same([a2.messageId, s2.messageId], [1, 1]);
  // A second connection of a version already served gets the same bytes.
  const v2b = await connect();
  v2b.send({ type: 'GET_STATUS', device: '', headerVersion: 2, content: new Uint8Array(0) });
  await v2b.next(isType('STATUS'));
  v1.send(imageMessage('US', 8, 6, 4));
  const [b2, b2b] = [await v2.next(isType('STRING', 'Summary')), await v2b.next(isType('STRING', 'Summary'))];
  t.same(summaryOf(b2b), summaryOf(b2));
  t.match(summaryOf(b2), { seq: 2, lvAreaMm2: 4 });
});

t.test('options in code: an unknown name is a TypeError naming the closest known one; labelValue and device names as given, cut to 20 bytes at a character boundary', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  t.throws(() => new IgtlBridge({ streams, lableValue: 7 } as never), {
    name: 'TypeError', code: 'ERR_SONOEDGE_UNKNOWN_OPTION',
    message: 'Unknown option lableValue; did you mean labelValue? (known: mode, host, port, headerVersion, results, devices, labelValue, fps, '
      + 'maxClients, maxStreams, streamBase, maxBodyBytes, checkCrc, maxErrorsPerClient, resultQueueLength, maxPendingWriteBytes, reconnectMs, flip, streams, modelRetryMs, log)',
  });
  t.throws(() => new IgtlBridge({ streams, devices: { lable: 'X' } } as never), {
    name: 'TypeError', code: 'ERR_SONOEDGE_UNKNOWN_OPTION', message: 'Unknown option devices.lable; did you mean devices.label? (known: label, summary, contour)',
  });
  // 'Sonde-échographie' is 18 bytes (é is 2): '-è' after it makes 21, and so does 'èx'.
  const { connect } = await setup(t, { labelValue: 7, devices: { label: '{device}-è', summary: '{device}', contour: '{device}èx' } });
  const p = await connect();
  p.send(imageMessage('Sonde-échographie', 8, 6, 1));
  const label = await p.next(isType('IMAGE'));
  t.equal(label.header.device, 'Sonde-échographie-', 'the è across byte 20 cut whole');
  t.same([...parseImage(label.content).pixels], [...fillPolygon([0, 0, 2, 0, 2, 2, 0, 2], 8, 6, 7)], 'labelValue inside the LV, 0 outside');
  t.ok(parseImage(label.content).pixels.includes(7));
  t.equal((await p.next(isType('STRING'))).header.device, 'Sonde-échographie', 'a name of 20 bytes or fewer as it is');
  t.equal((await p.next(isType('POLYDATA'))).header.device, 'Sonde-échographieè', 'the è that ends at byte 20 kept');
});

t.test('options in code: host is an address or a host name, as the serve config\'s igtl.host; a client\'s peer is never 0.0.0.0 or ::', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  const refusal = (o: object) => { try { new IgtlBridge({ streams, ...o }); return undefined; } catch (e) { return e as Error; } };
  const refused = (o: object, message: string, what: string) => {
    const err = refusal(o);
    t.ok(err instanceof IgtlError, `${what}: an IgtlError`);
    t.match(err, { name: 'IgtlError', code: 'ERR_SONOEDGE_IGTL_OPTION', fatal: false }, `${what}: code`);
    t.equal(err?.message, message, what);
  };
  for (const h of ['127.0.0.1', '0.0.0.0', '::', '10.0.0.7', 'fe80::1%eth0', 'localhost', 'cart7.example.org']) t.equal(new IgtlBridge({ streams, host: h }).options.host, h, `server, ${h}`);
  for (const h of ['127.0.0.1', '::1', '192.168.1.20', 'fe80::1%eth0', 'plus.local', 'plus_server']) t.equal(new IgtlBridge({ streams, mode: 'client', host: h }).options.host, h, `client, ${h}`);
  for (const mode of ['server', 'client'] as const) {
    for (const h of ['10.300.0.1', '127.300.0.1', '10.0.0', '10.0.0.01', '1.2.3.4.5', '[::1]', 'plus local', 'plus.local:18944', '-plus', '']) {
      refused({ mode, host: h }, `Expected an IPv4 or IPv6 address or a host name for host but received ${JSON.stringify(h)} of type string`, `${mode}, ${JSON.stringify(h)}`);
    }
    refused({ mode, host: 18944 }, 'Expected an IPv4 or IPv6 address or a host name for host but received 18944 of type number', `${mode}, a number`);
    refused({ mode, host: true }, 'Expected an IPv4 or IPv6 address or a host name for host but received true of type boolean', `${mode}, a boolean`);
    refused({ mode, host: ['127.0.0.1'] }, 'Expected an IPv4 or IPv6 address or a host name for host but received array of length 1', `${mode}, an array`);
  }
  for (const h of ['0.0.0.0', '::', '::0', '0:0::0', '::ffff:0.0.0.0']) {
    refused({ mode: 'client', host: h }, `Expected the peer's address or host name (not an address to listen on) for host but received ${JSON.stringify(h)} of type string`, `client, ${h}`);
  }
});

t.test('options in code: port 0 (a free one) for a server only; a client\'s is the peer\'s, 1..65535', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const p of [0, 1, 65535]) t.equal(new IgtlBridge({ streams, port: p }).options.port, p, `server, ${p}`);
  for (const p of [1, 18944, 65535]) t.equal(new IgtlBridge({ streams, mode: 'client', port: p }).options.port, p, `client, ${p}`);
  const cases: [mode: 'server' | 'client', port: unknown, message: string][] = [
    ['client', 0, "Expected an integer 1..65535 for port in client mode (the peer's port) but received 0"],
    ['client', 65536, "Expected an integer 1..65535 for port in client mode (the peer's port) but received 65536"],
    ['client', '18944', 'Expected an integer 1..65535 for port in client mode (the peer\'s port) but received "18944"'],
    ['server', -1, 'Expected an integer 0..65535 for port but received -1'],
    ['server', 1.5, 'Expected an integer 0..65535 for port but received 1.5'],
    ['server', 65536, 'Expected an integer 0..65535 for port but received 65536'],
  ];
  for (const [mode, port, message] of cases) {
    const err = (() => { try { new IgtlBridge({ streams, mode, port: port as number }); return undefined; } catch (e) { return e as Error; } })();
    t.ok(err instanceof IgtlError, `${mode}, ${JSON.stringify(port)}: an IgtlError`);
    t.match(err, { code: 'ERR_SONOEDGE_IGTL_OPTION' }, `${mode}, ${JSON.stringify(port)}: code`);
    t.equal(err?.message, message, `${mode}, ${JSON.stringify(port)}`);
  }
});

/** new IgtlBridge with o: its IgtlError (class, code, fatal false, exact message), or a failure naming what was accepted. */
function refusedIn(t: Test, o: object, message: string, what: string): void {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  const err = (() => { try { new IgtlBridge({ streams, ...o }); return undefined; } catch (e) { return e as Error; } })();
  t.ok(err instanceof IgtlError, `${what}: an IgtlError`);
  t.match(err, { name: 'IgtlError', code: 'ERR_SONOEDGE_IGTL_OPTION', fatal: false }, `${what}: code`);
  t.equal(err?.message, message, what);
}

t.test('options in code: mode is "server" or "client", nothing else (a misspelt client is not a server)', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  t.equal(new IgtlBridge({ streams }).options.mode, 'server', 'the default');
  for (const mode of ['server', 'client'] as const) t.equal(new IgtlBridge({ streams, mode }).options.mode, mode, mode);
  for (const mode of ['clinet', 'Client', 'SERVER', 'server ', '']) {
    refusedIn(t, { mode }, `Expected "server" or "client" for mode but received ${JSON.stringify(mode)}`, JSON.stringify(mode));
  }
  refusedIn(t, { mode: 1 }, 'Expected "server" or "client" for mode but received 1', 'a number');
  refusedIn(t, { mode: null }, 'Expected "server" or "client" for mode but received null', 'null');
  refusedIn(t, { mode: ['client'] }, 'Expected "server" or "client" for mode but received object', 'an array');
  // Checked before host and port, whose client rules it decides.
  refusedIn(t, { mode: 'clinet', host: '0.0.0.0', port: 0 }, 'Expected "server" or "client" for mode but received "clinet"', 'before host and port');
});

t.test('flip: every image device\'s stream is configured with it; another value is refused', async (t) => {
  const flips: unknown[] = [];
  const manager = new StreamManager({ handler: async (f) => { flips.push(f.config.flip); return standIn(f); } });
  for (const flip of ['horizontal', undefined] as const) {
    const bridge = new IgtlBridge({ streams: manager, port: 0, ...(flip ? { flip } : {}) });
    await bridge.start();
    const p = await RawPeer.connect(bridge.port);
    p.send(imageMessage(`probe-${flip ?? 'none'}`, 4, 3, 1));
    await p.next(isType('STRING'));
    p.destroy();
    await bridge.close();
  }
  t.same(flips, ['horizontal', undefined], 'the flip given, and none by default (the key left out)');
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const v of ['none', 'horizontal', 'vertical', 'both'] as const) t.equal(new IgtlBridge({ streams, flip: v }).options.flip, v, `flip ${v}`);
  for (const [v, shown] of [['mirrored', '"mirrored"'], [null, 'null'], [1, '1']] as const) {
    refusedIn(t, { flip: v }, `Expected one of none, horizontal, vertical, both for flip but received ${shown}`, `flip ${shown}`);
  }
});

t.test('options in code: headerVersion 1 or 2; the numbers in the serve config\'s ranges (integers but fps)', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const v of [1, 2] as const) t.equal(new IgtlBridge({ streams, headerVersion: v }).options.headerVersion, v, `headerVersion ${v}`);
  for (const [v, shown] of [[0, '0'], [3, '3'], [1.5, '1.5'], [NaN, 'NaN'], ['2', '"2"']] as const) {
    refusedIn(t, { headerVersion: v }, `Expected 1 or 2 for headerVersion but received ${shown}`, `headerVersion ${shown}`);
  }
  const integers: [key: string, min: number, max: number][] = [
    ['labelValue', 1, 255], ['maxClients', 1, 1024], ['maxStreams', 1, 1024], ['streamBase', 0, 65535], ['maxBodyBytes', 1024, 2147483647],
    ['maxErrorsPerClient', 1, 1000000], ['resultQueueLength', 1, 4096], ['maxPendingWriteBytes', 4096, 2147483647], ['reconnectMs', 10, 600000],
  ];
  for (const [key, min, max] of integers) {
    const taken = (v: unknown) => (new IgtlBridge({ streams, [key]: v }).options as unknown as Record<string, number>)[key];
    for (const v of [min, max]) t.equal(taken(v), v, `${key} ${v}`);
    t.equal(taken(undefined), (IGTL_DEFAULTS as unknown as Record<string, number>)[key], `${key} undefined: the default`);
    const refusals: [unknown, string][] = [
      [min - 1, String(min - 1)], [max + 1, String(max + 1)], [min + 0.5, String(min + 0.5)], [NaN, 'NaN'], [Infinity, 'Infinity'],
      [String(min), JSON.stringify(String(min))], [null, 'null'],
    ];
    for (const [v, shown] of refusals) refusedIn(t, { [key]: v }, `Expected an integer ${min}..${max} for ${key} but received ${shown}`, `${key} ${shown}`);
  }
  for (const v of [0.1, 29.97, 1000]) t.equal(new IgtlBridge({ streams, fps: v }).options.fps, v, `fps ${v}`);
  for (const [v, shown] of [[0.09, '0.09'], [0, '0'], [-30, '-30'], [1000.5, '1000.5'], [NaN, 'NaN'], [Infinity, 'Infinity'], ['30', '"30"'], [null, 'null']] as const) {
    refusedIn(t, { fps: v }, `Expected a number 0.1..1000 for fps but received ${shown}`, `fps ${shown}`);
  }
});

t.test('options in code: checkCrc is a boolean (the string "false" does not turn the check on)', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const v of [true, false]) t.equal(new IgtlBridge({ streams, checkCrc: v }).options.checkCrc, v, `checkCrc ${v}`);
  for (const [v, shown] of [['false', '"false"'], ['true', '"true"'], [0, '0'], [1, '1'], [null, 'null'], [[], 'object']] as const) {
    refusedIn(t, { checkCrc: v }, `Expected a boolean for checkCrc but received ${shown}`, `checkCrc ${shown}`);
  }
});

t.test('options in code: results is a list of distinct output types (a string is not read letter by letter)', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const r of [[], ['IMAGE'], ['POLYDATA', 'POINT'], ['IMAGE', 'STRING', 'POINT', 'POLYDATA']] as const) {
    t.same(new IgtlBridge({ streams, results: [...r] }).options.results, r, JSON.stringify(r));
  }
  const list = 'Expected a list of distinct IMAGE, STRING, POINT, POLYDATA for results but received';
  for (const [v, shown] of [['IMAGE', '"IMAGE"'], ['', '""'], [1, '1'], [null, 'null'], [{ 0: 'IMAGE', length: 1 }, 'object'], [new Set(['IMAGE']), 'object']] as const) {
    refusedIn(t, { results: v }, `${list} ${shown}`, `results ${shown}`);
  }
  const among = 'Expected results among IMAGE, STRING, POINT, POLYDATA but received';
  for (const [v, shown] of [[['image'], '"image"'], [['IMAGE', 'LABEL'], '"LABEL"'], [['IMAGE', 1], '1'], [[null], 'null'], [[['IMAGE']], 'object']] as const) {
    refusedIn(t, { results: v }, `${among} ${shown}`, `results ${JSON.stringify(v)}`);
  }
  refusedIn(t, { results: ['IMAGE', 'IMAGE'] }, 'Expected distinct results but received "IMAGE" more than once', 'IMAGE twice');
  refusedIn(t, { results: ['STRING', 'POINT', 'STRING', 'POINT'] }, 'Expected distinct results but received "STRING" more than once', 'the first repeat named');
  refusedIn(t, { results: ['POINT', 'POINT', 'LABEL'] }, 'Expected distinct results but received "POINT" more than once', 'in order: the repeat before the unknown type');
});

t.test('options in code: results is copied once checked: the caller\'s list changed later changes nothing', async (t) => {
  const list: string[] = ['IMAGE'];
  const { bridge, connect } = await setup(t, { results: list as OutputType[] });
  list[0] = 'STRING';
  list.push('LABEL', 'STRING');
  t.same(bridge.options.results, ['IMAGE'], 'as given and checked');
  t.not(bridge.options.results, list);
  const p = await connect();
  p.send(imageMessage('US', 8, 6, 1));
  const first = await p.next((m) => m.header.type === 'IMAGE' || m.header.type === 'STRING');
  t.equal(`${first.header.type} ${first.header.device}`, 'IMAGE LVLabel', 'a connection made after the change gets the checked list\'s results');
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  const byDefault = new IgtlBridge({ streams }).options.results;
  t.same(byDefault, IGTL_DEFAULTS.results);
  t.not(byDefault, IGTL_DEFAULTS.results, 'the default list is not shared either');
});

t.test('options in code: each devices name is a string of 1..40 characters (code points, as the serve config counts them)', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const key of ['label', 'summary', 'contour'] as const) {
    for (const v of ['L', '{device}', 'x'.repeat(40), '\u{1F600}'.repeat(40), 'é'.repeat(40)]) {
      t.equal(new IgtlBridge({ streams, devices: { [key]: v } as never }).options.devices[key], v, `devices.${key}: ${v.length} UTF-16 units`);
    }
    const expected = `Expected a string of 1..40 characters for devices.${key} but received`;
    refusedIn(t, { devices: { [key]: '' } }, `${expected} "" (0 characters)`, `devices.${key} ""`);
    refusedIn(t, { devices: { [key]: 'x'.repeat(41) } }, `${expected} "${'x'.repeat(41)}" (41 characters)`, `devices.${key} 41 characters`);
    refusedIn(t, { devices: { [key]: '\u{1F600}'.repeat(41) } }, `${expected} "${'\u{1F600}'.repeat(41)}" (41 characters)`, `devices.${key} 41 emoji`);
    for (const [v, shown] of [[1, '1'], [null, 'null'], [['LVLabel'], 'object'], [true, 'true']] as const) {
      refusedIn(t, { devices: { [key]: v } }, `${expected} ${shown}`, `devices.${key} ${shown}`);
    }
  }
});

t.test('options in code: an option set to undefined is not given (its default applies, as for a spread partial config); null is refused', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  const keys = Object.keys(IGTL_DEFAULTS) as (keyof typeof IGTL_DEFAULTS)[];
  for (const key of keys) {
    t.same(new IgtlBridge({ streams, [key]: undefined }).options[key], IGTL_DEFAULTS[key], `${key}: undefined takes the default`);
  }
  t.same(new IgtlBridge({ streams, ...Object.fromEntries(keys.map((k) => [k, undefined])) }).options, IGTL_DEFAULTS, 'all at once');
  t.same(new IgtlBridge({ streams, devices: { label: undefined, summary: 'S' } as never }).options.devices, { label: 'LVLabel', summary: 'S', contour: 'LVContour' }, 'devices.label');
  // A client is given no port: the default, 18944, not a refusal of undefined.
  t.equal(new IgtlBridge({ streams, mode: 'client', port: undefined }).options.port, 18944, 'a client\'s port');
  // Behaviour too: mode and host undefined listen on 127.0.0.1; results and devices undefined send the default outputs.
  const { bridge, connect } = await setup(t, { mode: undefined, host: undefined, results: undefined, devices: undefined });
  t.equal(bridge.options.mode, 'server', 'mode undefined: a server');
  const p = await connect();
  p.send(imageMessage('US', 8, 6, 3));
  t.equal((await p.next(isType('IMAGE'))).header.device, 'LVLabel', 'the default label map');
  t.equal((await p.next(isType('STRING'))).header.device, 'Summary', 'the default summary');
  t.equal((await p.next(isType('POLYDATA'))).header.device, 'LVContour', 'the default contour');
  refusedIn(t, { mode: null }, 'Expected "server" or "client" for mode but received null', 'mode null');
  refusedIn(t, { host: null }, 'Expected an IPv4 or IPv6 address or a host name for host but received null', 'host null');
  refusedIn(t, { port: null }, 'Expected an integer 0..65535 for port but received null', 'port null');
  refusedIn(t, { headerVersion: null }, 'Expected 1 or 2 for headerVersion but received null', 'headerVersion null');
  refusedIn(t, { fps: null }, 'Expected a number 0.1..1000 for fps but received null', 'fps null');
  t.throws(() => new IgtlBridge({ streams, devices: null } as never), { name: 'TypeError', code: 'ERR_SONOEDGE_ARG_TYPE', message: 'Expected object for devices but received null' }, 'devices null');
});

t.test('options in code: the constructor\'s ranges are the serve config\'s igtl section\'s, option by option', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  const props = serveSchema.properties.igtl.properties as Record<string, { type?: string; minimum?: number; maximum?: number; enum?: readonly unknown[] }>;
  const numeric = Object.entries(props).filter(([key, p]) => key !== 'port' && (p.type === 'integer' || p.type === 'number'));
  t.same(numeric.map(([key]) => key).sort(), ['fps', 'labelValue', 'maxBodyBytes', 'maxClients', 'maxErrorsPerClient', 'maxPendingWriteBytes', 'maxStreams', 'reconnectMs', 'resultQueueLength', 'streamBase'], 'every numeric option but port');
  // A refusal is an IgtlError (a ConfigError for the config); anything else is a crash, not a refusal.
  const accepted = (o: object) => {
    try { new IgtlBridge({ streams, ...o }); return true; } catch (e) { if (e instanceof IgtlError) return false; throw e; }
  };
  for (const [key, p] of numeric) {
    const step = p.type === 'integer' ? 1 : 0.01;
    t.same([p.minimum! - step, p.minimum, p.maximum, p.maximum! + step].map((v) => accepted({ [key]: v })), [false, true, true, false], `${key}: ${p.minimum}..${p.maximum}`);
  }
  t.same(props.headerVersion.enum, [1, 2], 'headerVersion');
  const results = props.results as unknown as { type: string; uniqueItems?: boolean; minItems?: number; items: { enum: string[] } };
  t.equal(results.type, 'array', 'results: a list');
  t.same(results.items.enum, ['IMAGE', 'STRING', 'POINT', 'POLYDATA'], 'results: its types');
  for (const v of results.items.enum) {
    t.same([accepted({ results: [v] }), accepted({ results: [v, v] }), accepted({ results: v })], [true, !results.uniqueItems, false], `results: ${v}, twice, as a string`);
  }
  t.equal(accepted({ results: [] }), (results.minItems ?? 0) === 0, 'results: empty');
  t.equal(accepted({ results: ['LABEL'] }), false, 'results: a type not in the schema');
  // devices: the constructor and the serve config (parseServeConfig, the schema's own validator) take the same names.
  const devices = (props.devices as unknown as { properties: Record<string, { type: string; minLength: number; maxLength: number }> }).properties;
  t.same(Object.keys(devices), ['label', 'summary', 'contour'], 'devices: its names');
  for (const [key, p] of Object.entries(devices)) {
    t.equal(p.type, 'string', `devices.${key}: a string`);
    const byConfig = (v: unknown) => {
      try { parseServeConfig(JSON.stringify({ igtl: { devices: { [key]: v } } }), 'serve.json'); return true; } catch (e) { if (e instanceof ConfigError) return false; throw e; }
    };
    const names = [p.minLength - 1, p.minLength, p.maxLength, p.maxLength + 1].flatMap((n) => ['x'.repeat(n), '\u{1F600}'.repeat(n)]);
    t.same(names.map((v) => accepted({ devices: { [key]: v } })), names.map(byConfig), `devices.${key}: ${p.minLength}..${p.maxLength} characters, as the config`);
    t.same([...names, 7].map(byConfig), [false, false, true, true, true, true, false, false, false], `devices.${key}: the config refuses what it should`);
  }
  t.equal(props.checkCrc.type, 'boolean', 'checkCrc');
  t.same([true, false, 'false', 0].map((v) => accepted({ checkCrc: v })), [true, true, false, false], 'checkCrc: booleans only');
  t.same(props.mode.enum, ['server', 'client'], 'mode');
  t.ok(Object.keys(IGTL_DEFAULTS).every((key) => key in props), 'every option in the schema');
  t.same(Object.keys(props).filter((key) => !(key in IGTL_DEFAULTS)), [], 'every schema option an option, with its default');
});

t.test('bad input: a STATUS with the error\'s code; the connection served on unless its framing is lost', async (t) => {
  const { bridge, connect } = await setup(t, { maxBodyBytes: 1 << 20 });
  const p = await connect();
  const good = imageMessage('US', 8, 6, 3);
  const badCrc = Buffer.from(good);
  badCrc[HEADER_SIZE + 80] ^= 0xff;
  p.send(badCrc);
  t.match(statusOf(await p.next(isType('STATUS', 'US'))), { code: 9, errorName: 'CRC_MISMATCH', message: /^Expected CRC-64 0x[0-9a-f]+ of the 120-byte body of IMAGE from "US"/ });
  p.send(imageMessage('vol', 4, 4, 0, { size: [4, 4, 2], pixels: new Uint8Array(32) }));
  t.match(statusOf(await p.next(isType('STATUS', 'vol'))), { code: 15, errorName: 'UNSUPPORTED', message: 'Expected a 2D image (size k 1) but received 4x4x2 from "vol"' });
  p.send(imageMessage('float', 2, 2, 0, { scalarType: 10, pixels: new Uint8Array(16) }));
  t.match(statusOf(await p.next(isType('STATUS', 'float'))), { code: 15, message: 'Expected 8- or 16-bit integer pixels with 1 component, or 8-bit with 3 or 4, but received 1 component(s) of scalar type 10 from "float"' });
  const wrongSize = encodeIgtl({ type: 'IMAGE', device: 'short', headerVersion: 1, content: encodeImage({ components: 1, scalarType: 3, endian: 'little', coordinates: 'LPS', size: [8, 6, 1], matrix: [1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], pixels: new Uint8Array(40) }) });
  p.send(wrongSize);
  t.match(statusOf(await p.next(isType('STATUS', 'short'))), { code: 0, errorName: 'BAD_BODY_SIZE', message: 'Expected 48 bytes of pixels (8x6x1 voxels x 1 components x 1 bytes) after the image header but received 40 (IMAGE from "short")' });
  p.send(encodeIgtl({ type: 'VIDEO', device: 'cam', headerVersion: 1, content: new Uint8Array(5000) }));
  p.send({ type: 'STATUS', device: 'peer', headerVersion: 1, content: encodeStatus({ code: 1, message: 'hi' }) });
  p.send(good);
  t.match(summaryOf(await p.next(isType('STRING'))), { device: 'US', lvAreaMm2: 3 }, 'after all that, the connection is served');
  t.equal(bridge.stats.skipped, 1, 'the unknown type skipped, unanswered');
  t.same(Object.fromEntries(bridge.errorsByCode), { ERR_SONOEDGE_IGTL_CRC: 1, ERR_SONOEDGE_IGTL_UNSUPPORTED: 2, ERR_SONOEDGE_IGTL_BODY_SIZE: 1 });
  // A huge declared body: refused before allocation, STATUS OVERFLOW, the connection closed (its framing is gone).
  const huge = Buffer.from(good.subarray(0, HEADER_SIZE));
  huge.writeBigUInt64BE(1n << 50n, 42);
  p.send(huge);
  t.match(statusOf(await p.next(isType('STATUS'))), { code: 8, errorName: 'BODY_TOO_LARGE', message: `Expected a body of at most 1048576 bytes but the header of IMAGE from "US" declares ${2 ** 50}` });
  await p.waitClosed();
  const q = await connect();
  q.send(good);
  t.match(summaryOf(await q.next(isType('STRING'))), { device: 'US' }, 'a new connection is served');
  t.equal(bridge.stats.connections, 1);
});

t.test('bad input: a spacing (matrix column length) outside 1e-6..1000 mm is BAD_FIELD naming the axis and value; nothing applied, others served on', async (t) => {
  const { bridge, connect } = await setup(t);
  const p = await connect();
  const other = await connect();
  /** An IMAGE whose i and j columns are (si, 0, 0) and (0, sj, 0): spacing si, sj. */
  const spaced = (device: string, si: number, sj: number, fill = 1) => imageMessage(device, 8, 6, fill, { matrix: [si, 0, 0, 0, sj, 0, 0, 0, 1, 0, 0, 0] });
  const summaryFor = async (peer: RawPeer, device: string) => summaryOf(await peer.next((m) => isType('STRING')(m) && summaryOf(m).device === device));
  p.send(spaced('US', 0.5, 0.5, 4));
  t.match(await summaryFor(p, 'US'), { lvAreaMm2: 4 });
  const refused: [string, number, number, string][] = [
    ['US', 2000, 0.5, 'along i (the length of the matrix\'s i column) but received 2000'],
    ['US', 0.5, 0, 'along j (the length of the matrix\'s j column) but received 0'],
    ['US', 2 ** -24, 0.5, `along i (the length of the matrix's i column) but received ${2 ** -24}`],
    ['US', 0.5, 2 ** 100, `along j (the length of the matrix's j column) but received ${2 ** 100}`],
    ['new', 1e-7, 1, `along i (the length of the matrix's i column) but received ${Math.fround(1e-7)}`],
  ];
  for (const [device, si, sj, why] of refused) {
    p.send(spaced(device, si, sj));
    t.same(statusOf(await p.next(isType('STATUS', device))), {
      code: 0, subcode: 0n, errorName: 'BAD_FIELD', message: `Expected a spacing of 0.000001..1000 mm per pixel ${why} from ${JSON.stringify(device)}`,
    }, `${si} x ${sj}`);
  }
  // Non-finite: the matrix itself is refused first (parseImage), with the same code.
  p.send(spaced('US', Infinity, 0.5));
  t.match(statusOf(await p.next(isType('STATUS', 'US'))), { code: 0, errorName: 'BAD_FIELD', message: /^Expected a finite matrix but received Infinity, 0, 0, 0, 0.5/ });
  p.send(spaced('US', 0.5, NaN));
  t.match(statusOf(await p.next(isType('STATUS', 'US'))), { code: 0, errorName: 'BAD_FIELD', message: /^Expected a finite matrix but received 0.5, 0, 0, 0, NaN/ });
  t.equal(bridge.errorsByCode.get('ERR_SONOEDGE_IGTL_FIELD'), 7);
  t.same(bridge.devices.map((d) => [d.device, d.spacing]), [['US', [0.5, 0.5]]], 'the stream keeps its geometry; no stream for the refused new device');
  // The connection is served on, at the range's ends too (as float32 holds them), and so is another one.
  p.send(spaced('US', 0.5, 0.5, 5));
  t.match(await summaryFor(p, 'US'), { lvAreaMm2: 5 });
  p.send(spaced('ends', 1e-6, 1000, 6));
  t.match(await summaryFor(p, 'ends'), { lvAreaMm2: 6 });
  // The stream is given the spacing clamped into the range in double precision (float32's 1e-6 lies just under it),
  // the range the pipeline checks again when its models load.
  t.same(bridge.devices.find((d) => d.device === 'ends')?.spacing, [1e-6, 1000]);
  other.send(spaced('US2', 0.3, 0.3, 7));
  t.match(await summaryFor(other, 'US2'), { lvAreaMm2: 7 });
  t.equal(bridge.stats.connections, 2);
});

/** `m` with its 20-byte device name field replaced by `name` (NUL-padded), the CRC still right: bytes no encoder writes. */
function withDeviceBytes(m: Uint8Array, name: number[]): Buffer {
  const b = Buffer.from(m);
  b.fill(0, 14, 34);
  b.set(name, 14);
  return b;
}

t.test('bad input: a device name of invalid UTF-8 is answered (a STATUS naming it, cut to 20 bytes at a character boundary), never a crash', async (t) => {
  // 0xFF is never UTF-8: each reads as U+FFFD, 3 bytes written back, so 20 of them read as 60 bytes of name, where a
  // name has 20. Each reply below that echoes the name threw 'Expected a device name of at most 20 bytes' from
  // encodeIgtl, uncaught in the socket's data handler: the process died, every peer with it.
  const { bridge, connect } = await setup(t, { maxBodyBytes: 1 << 20, results: ['STRING'] });
  const p = await connect();
  const ff = Array<number>(20).fill(0xff);
  const cut = '\uFFFD'.repeat(6); // 18 bytes; a seventh would take 21
  const badCrc = withDeviceBytes(imageMessage('x', 8, 6, 3), ff);
  badCrc[HEADER_SIZE + 80] ^= 0xff;
  p.send(badCrc);
  const s = await p.next(isType('STATUS'));
  t.equal(s.header.device, cut, 'the STATUS names the device as read, cut to 20 bytes');
  t.match(statusOf(s), { code: 9, errorName: 'CRC_MISMATCH', message: new RegExp(`^Expected CRC-64 0x[0-9a-f]{16} of the 120-byte body of IMAGE from "${cut}" but the header says 0x[0-9a-f]{16}; the message is discarded$`) });
  // A truncated 3-byte sequence (E2 82, half a euro sign) after 18 ASCII bytes: one U+FFFD, 21 bytes; the name cut before it.
  const half = [...Buffer.from('Sonde-echographie-'), 0xe2, 0x82];
  p.send(withDeviceBytes(imageMessage('x', 4, 4, 0, { size: [4, 4, 2], pixels: new Uint8Array(32) }), half));
  const u = await p.next(isType('STATUS'));
  t.equal(u.header.device, 'Sonde-echographie-');
  t.match(statusOf(u), { code: 15, errorName: 'UNSUPPORTED', message: 'Expected a 2D image (size k 1) but received 4x4x2 from "Sonde-echographie-"' });
  // The other replies that echo a peer's device name: GET_STATUS, GET_<type> not found, RTS_.
  p.send(withDeviceBytes(encodeIgtl({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) }), ff));
  const g = await p.next(isType('STATUS'));
  t.equal(g.header.device, cut);
  t.match(statusOf(g), { code: 1, message: '{"server":"sonoedge","streams":[]}' });
  p.send(withDeviceBytes(encodeIgtl({ type: 'GET_POINT', device: '', headerVersion: 1, content: new Uint8Array(0) }), ff));
  const nf = await p.next(isType('STATUS'));
  t.equal(nf.header.device, cut);
  t.match(statusOf(nf), { code: 4, errorName: 'NOT_FOUND', message: `Expected a POINT result of device "${cut}" to have been sent but none has` });
  p.send(withDeviceBytes(encodeIgtl({ type: 'STT_STRING', device: '', headerVersion: 1, content: new Uint8Array(0) }), ff));
  const rts = await p.next(isType('RTS_STRING'));
  t.equal(rts.header.device, cut);
  t.same([...rts.content], [0]);
  // An IMAGE so named is a stream like any other, under the name as read.
  p.send(withDeviceBytes(imageMessage('x', 8, 6, 5), ff));
  t.match(summaryOf(await p.next(isType('STRING', 'Summary'))), { device: cut, lvAreaMm2: 5 });
  t.same(bridge.devices.map((d) => d.device), [cut]);
  t.same(Object.fromEntries(bridge.errorsByCode), { ERR_SONOEDGE_IGTL_CRC: 1, ERR_SONOEDGE_IGTL_UNSUPPORTED: 1 });
  t.notOk(p.closed, 'non-fatal errors: the connection goes on');
  // And another peer is served.
  const q = await connect();
  q.send(imageMessage('US', 8, 6, 3));
  t.match(summaryOf(await q.next(isType('STRING', 'Summary'))), { device: 'US', lvAreaMm2: 3 }, 'a second peer is served');
  t.equal(bridge.stats.connections, 2);
});

t.test('limits: image devices past maxStreams refused with a STATUS; a peer past maxErrorsPerClient disconnected; maxClients', async (t) => {
  const { bridge, connect, manager } = await setup(t, { maxStreams: 2, maxErrorsPerClient: 3, maxClients: 2 });
  const p = await connect();
  p.send(imageMessage('a', 4, 4, 1));
  p.send(imageMessage('b', 4, 4, 1));
  p.send(imageMessage('c', 4, 4, 1));
  t.match(statusOf(await p.next(isType('STATUS', 'c'))), { code: 11, errorName: 'STREAM', message: 'Expected at most 2 image devices at once but received one more ("c")' });
  t.same(manager.ids.sort(), [1000, 1001]);
  const q = await connect();
  const r = await connect();
  await r.waitClosed();
  t.pass('a third connection is closed at once (maxClients 2)');
  const bad = Buffer.from(imageMessage('x', 4, 4, 1));
  bad[HEADER_SIZE + 75] ^= 1;
  for (let i = 0; i < 4; i++) q.send(bad);
  await q.waitClosed();
  t.equal(q.received.filter(isType('STATUS')).length, 4, 'each one answered, then closed');
  p.destroy();
  await new Promise((res) => setTimeout(res, 100));
  t.equal(manager.size, 0, 'the streams of a closed connection are closed');
  t.equal(bridge.stats.connections, 0);
});

t.test('a device whose models fail to load: STATUS with why; its next IMAGEs of that geometry refused without a new load until modelRetryMs', async (t) => {
  let loads = 0;
  const manager = new StreamManager({ handler: async (f) => standIn(f), prepare: async () => { loads++; throw new Error('no such model'); } });
  const bridge = new IgtlBridge({ streams: manager, port: 0, modelRetryMs: 300 });
  await bridge.start();
  const p = await RawPeer.connect(bridge.port);
  t.teardown(async () => { p.destroy(); await bridge.close(); });
  p.send(imageMessage('US', 8, 6, 1));
  t.match(statusOf(await p.next(isType('STATUS', 'US'))), { code: 11, errorName: 'STREAM', message: 'Expected the models to load for "US" (8x6 GRAY8) but they failed: no such model; the stream is closed' });
  p.send(imageMessage('US', 8, 6, 1));
  t.match(statusOf(await p.next(isType('STATUS', 'US'))), { code: 11, message: /^Expected models for "US" \(8x6 GRAY8\) but they failed to load \(no such model\); tried again 1 s from now$/ });
  t.equal(loads, 1, 'no second load within modelRetryMs');
  await new Promise((r) => setTimeout(r, 350));
  p.send(imageMessage('US', 8, 6, 1));
  await p.next(isType('STATUS', 'US'));
  t.equal(loads, 2, 'tried again after modelRetryMs');
  t.equal(manager.size, 0);
});

t.test('options in code: modelRetryMs an integer 10..600000 (as reconnectMs); undefined its default, 5 s; null refused', async (t) => {
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  for (const v of [10, 5000, 600000, undefined]) t.doesNotThrow(() => new IgtlBridge({ streams, modelRetryMs: v }), `modelRetryMs ${v}`);
  const refusals: [unknown, string][] = [
    [9, '9'], [0, '0'], [-1, '-1'], [600001, '600001'], [10.5, '10.5'], [NaN, 'NaN'], [Infinity, 'Infinity'], ['5000', '"5000"'], [null, 'null'], [[300], 'object'],
  ];
  for (const [v, shown] of refusals) refusedIn(t, { modelRetryMs: v }, `Expected an integer 10..600000 for modelRetryMs but received ${shown}`, `modelRetryMs ${shown}`);
  // Undefined is the default, as a device whose models fail says (null became 5000 too, unchecked).
  const manager = new StreamManager({ handler: async (f) => standIn(f), prepare: async () => { throw new Error('no such model'); } });
  const bridge = new IgtlBridge({ streams: manager, port: 0, modelRetryMs: undefined });
  await bridge.start();
  const p = await RawPeer.connect(bridge.port);
  t.teardown(async () => { p.destroy(); await bridge.close(); });
  p.send(imageMessage('US', 8, 6, 1));
  await p.next(isType('STATUS', 'US'));
  p.send(imageMessage('US', 8, 6, 1));
  t.match(statusOf(await p.next(isType('STATUS', 'US'))), { code: 11, message: 'Expected models for "US" (8x6 GRAY8) but they failed to load (no such model); tried again 5 s from now' });
});

const GET_LABEL = encodeIgtl({ type: 'GET_IMAGE', device: 'LVLabel', headerVersion: 1, content: new Uint8Array(0) });

/** A bridge (maxPendingWriteBytes 64 KiB, IMAGE results) and a peer that got the label map of a size x size image, then stopped reading. */
async function deafPeer(t: Test, size: number) {
  const { bridge, connect } = await setup(t, { maxPendingWriteBytes: 64 * 1024, results: ['IMAGE'] });
  const p = await connect();
  p.send(imageMessage('US', size, size, 1));
  await p.next(isType('IMAGE', 'LVLabel'));
  p.socket.pause();
  return { bridge, p };
}

t.test('a peer that asks without reading its replies is not read until it does; nothing is lost', async (t) => {
  const { bridge, p } = await deafPeer(t, 256);
  for (let i = 0; i < 300; i++) p.send(GET_LABEL);
  p.send({ type: 'GET_STATUS', device: 'last', headerVersion: 1, content: new Uint8Array(0) });
  await within(() => bridge.stats.readsPaused > 0, 10000);
  t.ok(bridge.stats.readsPaused >= 1, 'reading paused while 300 label maps (19 MiB) wait for a peer that reads none');
  p.socket.resume();
  await p.next(isType('STATUS', 'last'), 20000, 'the reply to the last request');
  t.equal(p.received.filter(isType('IMAGE', 'LVLabel')).length, 300, 'every reply arrives once the peer reads');
});

t.test('start(): a port in use is ERR_SONOEDGE_LISTEN naming igtl.port (it was a bare EADDRINUSE); close() then resolves and a second start works', async (t) => {
  const held = net.createServer();
  await new Promise<void>((resolve) => held.listen(0, '127.0.0.1', resolve));
  const port = (held.address() as net.AddressInfo).port;
  const streams = new StreamManager({ handler: async (f) => standIn(f) });
  const bridge = new IgtlBridge({ streams, port });
  await t.rejects(bridge.start(), {
    name: 'Error', code: 'ERR_SONOEDGE_LISTEN',
    message: `Expected to listen for the OpenIGTLink server (igtl.port) on 127.0.0.1:${port} but could not: listen EADDRINUSE: address already in use 127.0.0.1:${port}`,
  });
  await bridge.close();
  await new Promise<void>((resolve) => held.close(() => resolve()));
  const again = new IgtlBridge({ streams, port });
  await again.start();
  t.teardown(() => again.close());
  t.equal(again.port, port, 'the freed port is taken by a second bridge');
  const p = await RawPeer.connect(port);
  t.teardown(() => p.destroy());
  p.send(imageMessage('US', 16, 16, 1));
  t.equal(summaryOf(await p.next(isType('STRING'))).device, 'US', 'and it serves');
});

t.test('close(): every peer told (STATUS 19, shutting down) and disconnected, one that reads nothing too, its streams closed', async (t) => {
  const manager = new StreamManager({ handler: async (f) => standIn(f) });
  const bridge = new IgtlBridge({ streams: manager, port: 0, maxPendingWriteBytes: 64 * 1024 });
  await bridge.start();
  const p = await RawPeer.connect(bridge.port);
  const deaf = await RawPeer.connect(bridge.port);
  t.teardown(() => { p.destroy(); deaf.destroy(); });
  p.send(imageMessage('US', 16, 16, 1));
  await p.next(isType('STRING'));
  deaf.socket.pause();
  for (let i = 0; i < 200; i++) deaf.send(imageMessage('deaf', 256, 256, 1));
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  await bridge.close();
  t.match(statusOf(await p.next(isType('STATUS'))), { code: 19, errorName: 'SHUTTING_DOWN' });
  await p.waitClosed();
  await deaf.waitClosed(10000);
  t.pass(`the deaf peer cut off too (${Date.now() - t0} ms)`);
  t.equal(manager.size, 0);
});

t.test('a peer whose framing is lost but that reads nothing and never closes is destroyed after the grace (500 ms)', async (t) => {
  const { bridge, p } = await deafPeer(t, 512);
  // In one write: 100 label maps asked for (25 MiB, more than the socket buffers hold), then a header past maxBodyBytes.
  const huge = Buffer.from(GET_LABEL);
  huge.writeBigUInt64BE(1n << 50n, 42);
  p.send(Buffer.concat([...Array<Buffer>(100).fill(GET_LABEL), huge]));
  t.ok(await within(() => bridge.errorsByCode.get('ERR_SONOEDGE_IGTL_TOO_LARGE') === 1, 10000), 'the header past maxBodyBytes rejected');
  const t0 = Date.now();
  // Bytes the bridge no longer reads: destroying the socket resets the connection, which the peer sees.
  for (let i = 0; i < 200; i++) p.send(imageMessage('US', 256, 256, 1));
  await p.waitClosed(5000);
  const ms = Date.now() - t0;
  t.ok(ms >= 400 && ms < 2000, `cut off after the grace, not before (${ms} ms)`);
  t.equal(bridge.stats.connections, 0);
});
