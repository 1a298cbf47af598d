// A bounded fuzz run of the OpenIGTLink bridge over real TCP sockets: valid
// messages mutated (a flipped byte anywhere: type and device names, version,
// body size, CRC, image header, pixels, metadata), truncated headers and
// bodies with the connection closed mid-message, declared sizes wrong both
// ways, unknown types, random bytes; all while a well-behaved peer streams
// images and must get a result for every one. The frame handler is a
// stand-in for the ML pipeline only; with SONOEDGE_IGTL_FUZZ_NATIVE=1 (the
// addon-sanitize suite runs it so, under ASan) every frame the bridge makes
// also goes through the native preprocessing. SONOEDGE_FUZZ_LONG=1 runs 50
// times longer; SONOEDGE_FUZZ_SEED=<n> (decimal or 0x hex) draws other inputs,
// and the test's name gives the seed it ran with, to run a failure again.
import t from 'tap';
import { Preprocessor } from '../../src/preprocess/index.js';
import { StreamManager, type ServerFrame } from '../../src/runtime/streams.js';
import { encodeIgtl, HEADER_SIZE } from '../../src/transport/igtl/codec.js';
import { crc64 } from '../../src/transport/igtl/crc64.js';
import { IgtlBridge } from '../../src/transport/igtl/bridge.js';
import { encodeString, parseString } from '../../src/transport/igtl/messages.js';
import { imageMessage, RawPeer } from '../helpers/igtl-client.js';
import { within } from '../helpers/wait.js';

const LONG = process.env.SONOEDGE_FUZZ_LONG === '1';
const NATIVE = process.env.SONOEDGE_IGTL_FUZZ_NATIVE === '1';
const preprocessors = new Map<string, { pre: Preprocessor; out: Float32Array }>();
/** The frame as the bridge hands it to the pipeline, through the addon's preprocessing (one preprocessor per geometry). */
async function preprocess(f: ServerFrame): Promise<void> {
  const { width, height, format } = f.config;
  const key = `${width}x${height}:${format}`;
  let p = preprocessors.get(key);
  if (p === undefined) {
    const pre = new Preprocessor({ input: { width, height, format }, output: { width: 112, height: 112, dtype: 'float32', layout: 'NCHW' }, resize: 'area' });
    p = { pre, out: pre.createOutput() as Float32Array };
    preprocessors.set(key, p);
  }
  await p.pre.runAsync(f.pixels, p.out);
}
const ROUNDS = LONG ? 50000 : 1000;
// mulberry32, seeded: the same inputs every run of a seed.
const SEED = process.env.SONOEDGE_FUZZ_SEED === undefined ? 0x16f1 : Number(process.env.SONOEDGE_FUZZ_SEED);
if (!Number.isInteger(SEED)) throw new Error(`Expected an integer for SONOEDGE_FUZZ_SEED but received ${JSON.stringify(process.env.SONOEDGE_FUZZ_SEED)}`);
let seed = SEED | 0;
const rand = (n: number) => {
  seed = (seed + 0x6d2b79f5) | 0;
  let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
  return (((x ^ (x >>> 14)) >>> 0) % n);
};

const VALID = [
  imageMessage('Fuzz', 16, 12, 7),
  imageMessage('Fuzz', 16, 12, 9, { headerVersion: 2 }),
  imageMessage('Fuzz2', 8, 8, 1, { scalarType: 5, pixels: new Uint8Array(128) }),
  encodeIgtl({ type: 'IMAGE', device: 'Meta', headerVersion: 2, metadata: [['k', 'v'], ['unit', 'mm']], content: imageMessage('x', 4, 4, 1).subarray(HEADER_SIZE) }),
  encodeIgtl({ type: 'STRING', device: 'Note', headerVersion: 2, content: encodeString('hello') }),
  encodeIgtl({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) }),
  encodeIgtl({ type: 'STT_POINT', device: '', headerVersion: 1, content: new Uint8Array(0) }),
  encodeIgtl({ type: 'GET_IMAGE', device: 'LVLabel', headerVersion: 2, content: new Uint8Array(0) }),
];

/** One fuzz input: a valid message mutated, a truncation, a lie about size, an unknown type or noise. */
function mutate(): { bytes: Buffer; thenClose: boolean } {
  const base = Buffer.from(VALID[rand(VALID.length)]);
  switch (rand(9)) {
    case 0: { // a flipped byte in the header
      base[rand(HEADER_SIZE)] ^= 1 << rand(8);
      return { bytes: base, thenClose: false };
    }
    case 1: { // bytes flipped in the body (its CRC then wrong), or in the image header with the CRC recomputed by a lying peer
      const body = base.length - HEADER_SIZE;
      const span = rand(2) === 0 ? Math.min(body, 84) : body;
      for (let k = 1 + rand(3); k > 0; k--) if (span > 0) base[HEADER_SIZE + rand(span)] ^= 1 + rand(255);
      if (rand(2) === 0) base.writeBigUInt64BE(crc64(base.subarray(HEADER_SIZE)), 50);
      return { bytes: base, thenClose: false };
    }
    case 2: // truncated anywhere, then the connection closed
      return { bytes: base.subarray(0, rand(base.length)), thenClose: true };
    case 3: { // body size declared wrong (smaller, larger, huge)
      const size = Number(base.readBigUInt64BE(42));
      const lie = [0, Math.max(0, size - 1 - rand(8)), size + 1 + rand(64), 2 ** 40 + rand(1000)][rand(4)];
      base.writeBigUInt64BE(BigInt(lie), 42);
      return { bytes: base, thenClose: rand(2) === 0 };
    }
    case 4: { // an unknown type with a body
      const names = ['VIDEO', 'TDATA', 'FOO', 'CAPABILITY', 'GET_CAPABIL', 'BIND', 'NDARRAY'];
      return { bytes: encodeIgtl({ type: names[rand(names.length)], device: 'u', headerVersion: 1, content: new Uint8Array(rand(3000)) }), thenClose: false };
    }
    case 5: // random bytes
      return { bytes: Buffer.from(Array.from({ length: 1 + rand(200) }, () => rand(256))), thenClose: true };
    case 6: { // a valid message split into tiny writes is valid: it must be taken
      return { bytes: base, thenClose: false };
    }
    case 7: { // a device name of any bytes but NUL (not UTF-8, mostly: up to 60 bytes once read as U+FFFD), the CRC right
      base.fill(0, 14, 34);
      for (let k = 14, n = 1 + rand(20); k < 14 + n; k++) base[k] = 1 + rand(255);
      // And a bad body (its CRC then wrong): a STATUS names the device. GET_ and STT_ have none but are answered by name.
      if (base.length > HEADER_SIZE && rand(2) === 0) base[HEADER_SIZE + rand(base.length - HEADER_SIZE)] ^= 0x40;
      return { bytes: base, thenClose: false };
    }
    default: { // a header alone
      return { bytes: base.subarray(0, HEADER_SIZE), thenClose: true };
    }
  }
}

t.test(`fuzz (seed 0x${(SEED >>> 0).toString(16)}): ${ROUNDS} mutated inputs over real sockets; the bridge never crashes and a well-behaved peer gets every result`, async (t) => {
  const manager = new StreamManager({ handler: async (f) => {
    if (NATIVE) await preprocess(f);
    return { view: 'A4C', quality: 0.5, lvAreaMm2: f.seq, flags: 0, contour: [1, 1, 5, 1, 5, 5] };
  } });
  const bridge = new IgtlBridge({ streams: manager, port: 0, maxBodyBytes: 1 << 20, maxStreams: 64, maxClients: 64, maxErrorsPerClient: 16 });
  await bridge.start();
  t.teardown(() => bridge.close());

  const good = await RawPeer.connect(bridge.port);
  let goodResults = 0;
  let stop = false;
  const goodLoop = (async () => {
    for (let i = 1; !stop; i++) {
      good.send(imageMessage('Good', 32, 24, i & 0xff));
      const s = await good.next((m) => m.header.type === 'STRING' && JSON.parse(parseString(m.content).text).device === 'Good', 10000, `the result of good frame ${i}`);
      const summary = JSON.parse(parseString(s.content).text) as { seq: number };
      if (summary.seq !== i) throw new Error(`Expected the result of good frame ${i} but received seq ${summary.seq}`);
      goodResults++;
      good.received.length = 0; // the other devices' results, sent to every connection
    }
  })();

  let sent = 0;
  while (sent < ROUNDS) {
    const fuzzer = await RawPeer.connect(bridge.port);
    for (let k = 0; k < 10 && sent < ROUNDS; k++) {
      const { bytes, thenClose } = mutate();
      // Sometimes in small pieces: the decoder takes any split.
      if (rand(4) === 0) for (let at = 0; at < bytes.length; at += 1 + rand(40)) fuzzer.socket.write(bytes.subarray(at, at + 1 + rand(40)));
      else fuzzer.socket.write(bytes);
      sent++;
      if (thenClose) break;
    }
    await new Promise((r) => setTimeout(r, 5));
    fuzzer.destroy();
  }
  stop = true;
  await goodLoop;
  t.equal(sent, ROUNDS, 'every fuzz input sent');
  t.ok(goodResults >= 5, `the good peer got a result for each of its ${goodResults} frames, in order`);
  const codes = Object.fromEntries(bridge.errorsByCode);
  for (const code of ['HEADER', 'TOO_LARGE', 'CRC']) t.ok(codes[`ERR_SONOEDGE_IGTL_${code}`] > 0, `ERR_SONOEDGE_IGTL_${code} among the rejections: ${JSON.stringify(codes)}`);
  t.ok((codes.ERR_SONOEDGE_IGTL_BODY_SIZE ?? 0) + (codes.ERR_SONOEDGE_IGTL_FIELD ?? 0) > 0, 'and contents that contradict their sizes or ranges');
  t.ok(bridge.stats.skipped > 0, `unknown types skipped: ${bridge.stats.skipped}`);
  // The good peer is still served after all of it.
  good.send(imageMessage('Good', 32, 24, 1));
  await good.next((m) => m.header.type === 'IMAGE' && m.header.device === 'LVLabel');
  good.destroy();
  await within(() => bridge.stats.connections === 0 && manager.size === 0, 5000);
  t.equal(bridge.stats.connections, 0, 'every connection gone');
  t.equal(manager.size, 0, 'every stream of every connection closed');
  if (NATIVE) t.ok(preprocessors.size > 0, `frames of ${preprocessors.size} geometries went through the native preprocessing`);
});
