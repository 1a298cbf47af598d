// OpenIGTLink against a real peer: pyigtl (PyPI) as the client that sends
// images to sonoedge's bridge and as the server sonoedge's client mode
// connects to. The stand-in for the ML pipeline returns a known contour (a
// rectangle in frame pixels) and echoes the frame's first pixel, so the label
// map, the contour in millimetres and the pixel conversions are checked
// exactly; the bridge, the StreamManager, the publisher and the sockets are
// the real ones. Golden bytes: pyigtl's packed messages decode and re-encode
// to the same bytes, and its CRC-64 matches ours.
import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { StreamManager, type ServerFrame } from '../../src/runtime/streams.js';
import type { FrameResult } from '../../src/transport/types.js';
import { crc64 } from '../../src/transport/igtl/crc64.js';
import { IgtlDecoder, encodeIgtl } from '../../src/transport/igtl/codec.js';
import { encodeImage, encodeString, parseImage, parseString } from '../../src/transport/igtl/messages.js';
import { IgtlBridge } from '../../src/transport/igtl/bridge.js';
import { matrixOf, pyigtlMissing, runPeer, writeSpec, type PeerImage, type PeerResult } from '../helpers/igtl.js';
import { freePort } from '../helpers/net.js';
import { VENV_PYTHON } from '../helpers/pydicom-examples.js';
import { spawnSync } from 'node:child_process';

const skip = pyigtlMissing() ?? false;

/** The stand-in's LV: the rectangle from a quarter to three quarters of the frame, in frame pixels. */
function rect(w: number, h: number): { x0: number; y0: number; x1: number; y1: number } {
  return { x0: Math.floor(w / 4), y0: Math.floor(h / 4), x1: Math.floor((3 * w) / 4), y1: Math.floor((3 * h) / 4) };
}

function standIn(f: ServerFrame): FrameResult {
  const { width: w, height: h, format } = f.config;
  const r = rect(w, h);
  const first = format === 'GRAY16' ? f.pixels[0] | (f.pixels[1] << 8) : f.pixels[0];
  return {
    view: 'A4C', confidence: 0.9, quality: 0.8, state: 'ok', idScore: 0.95, lvAreaMm2: first, ef: 55, efCi: [50, 60], flags: 0,
    contour: [r.x0, r.y0, r.x1, r.y0, r.x1, r.y1, r.x0, r.y1],
  };
}

const world = (m: number[][], x: number, y: number) => [0, 1, 2].map((a) => m[a][0] * x + m[a][1] * y + m[a][3]);

function close(t: Test, got: number[][], want: number[][], tol: number, what: string): void {
  const diff = Math.max(...want.flatMap((row, i) => row.map((v, j) => Math.abs(v - got[i][j]))));
  t.ok(diff <= tol, `${what}: within ${tol} (max difference ${diff})`);
}

function frame(w: number, h: number, c: number, bytes: number, first: number[]): Uint8Array {
  const px = new Uint8Array(w * h * c * bytes);
  for (let i = 0; i < px.length; i++) px[i] = (i * 7) & 0xff;
  px.set(first, 0);
  return px;
}

const IMAGES: (PeerImage & { expectFirst: number })[] = [
  { device: 'Image_Reference', dtype: 'u1', shape: [64, 96], pixels: frame(96, 64, 1, 1, [200]), matrix: matrixOf(0.5, 0.7, 30, [10, -20, 5]), headerVersion: 1, expectFirst: 200 },
  { device: 'Image_Reference', dtype: 'u1', shape: [64, 96], pixels: frame(96, 64, 1, 1, [17]), matrix: matrixOf(0.5, 0.7, 30, [12, -20, 5]), headerVersion: 2, timestamp: 1700000000.25, expectFirst: 17 },
  // int16 (pyigtl packs only native byte order; big-endian is in the unit tests), -1000 at pixel 0: read as unsigned, -1000 + 32768.
  { device: 'Probe16', dtype: '<i2', shape: [30, 40], pixels: frame(40, 30, 1, 2, [0x18, 0xfc]), matrix: matrixOf(0.3, 0.3, 0, [0, 0, 0]), ras: true, expectFirst: 31768 },
  { device: 'Color', dtype: 'u1', shape: [32, 48, 3], pixels: frame(48, 32, 3, 1, [90, 1, 2]), matrix: matrixOf(0.25, 0.25, -90, [1, 2, 3]), expectFirst: 90 },
];

function checkResult(t: Test, r: PeerResult, im: (typeof IMAGES)[number]): void {
  const [h, w] = im.shape;
  const { x0, y0, x1, y1 } = rect(w, h);
  t.ok(r.label, `${im.device}: a label map came back`);
  t.ok(r.summary, `${im.device}: a summary came back`);
  if (!r.label || !r.summary) return;
  t.same(r.label.shape, [1, h, w], `${im.device}: the label map has the input's size`);
  t.equal(r.label.dtype, 'uint8');
  t.equal(r.label.ras, im.ras === true, 'the input\'s coordinate system');
  close(t, r.label.matrix, im.matrix, 1e-3, `${im.device}: the label map's matrix (spacing, directions, origin) is the input's`);
  t.equal(r.label.inside, (x1 - x0) * (y1 - y0), 'every pixel centre inside the contour is labelled');
  t.same(r.label.rows, Array.from({ length: h }, (_, y) => (y >= y0 && y < y1 ? x1 - x0 : 0)), 'row by row');
  t.equal(r.label.max, 1, 'label value 1');
  t.equal(r.label.headerVersion, im.headerVersion ?? 1, 'answered in the header version the peer used');
  if (im.headerVersion === 2) {
    t.equal(r.label.metadata['sonoedge.source'], im.device, 'metadata: the source device');
    t.match(r.label.metadata['sonoedge.seq'], /^\d+$/, 'metadata: the frame seq');
    t.equal(r.label.timestamp, im.timestamp, 'the label map carries the input frame\'s timestamp');
  }
  t.match(r.summary, { device: im.device, view: 'A4C', confidence: 0.9, quality: 0.8, state: 'ok', idScore: 0.95, ef: 55, efCi: [50, 60], lvAreaMm2: im.expectFirst });
  if (r.contour) {
    const want = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]].map(([x, y]) => world(im.matrix, x, y));
    close(t, r.contour, want, 1e-3, `${im.device}: the contour in millimetres`);
  }
}

t.test('pyigtl sends images to the bridge (server) and gets label maps in their geometry, summaries and contours', { skip }, async (t) => {
  const manager = new StreamManager({ handler: async (f) => standIn(f) });
  const bridge = new IgtlBridge({ streams: manager, port: 0, results: ['IMAGE', 'STRING', 'POINT'] });
  const seen = new Map<string, (typeof bridge.devices)[number]>();
  manager.on('result', () => { for (const d of bridge.devices) seen.set(d.device, d); });
  await bridge.start();
  t.teardown(() => bridge.close());
  const spec = writeSpec({ port: bridge.port, label: 'LVLabel', summary: 'Summary', contour: 'LVContour', images: IMAGES, timeout: 20 });
  const results = (await runPeer('send', spec)) as PeerResult[];
  t.equal(results.length, IMAGES.length);
  results.forEach((r, i) => checkResult(t, r, IMAGES[i]));
  t.same([...seen.values()].map((d) => [d.device, d.width, d.height, d.format]).sort(),
    [['Color', 48, 32, 'RGB8'], ['Image_Reference', 96, 64, 'GRAY8'], ['Probe16', 40, 30, 'GRAY16']]);
  const spacing = seen.get('Image_Reference')!.spacing;
  t.ok(Math.abs(spacing[0] - 0.5) < 1e-6 && Math.abs(spacing[1] - 0.7) < 1e-6, `spacing from the matrix: ${spacing}`);
  t.equal(bridge.stats.rejected, 0);
  t.equal(bridge.devices.length, 0, 'the peer gone, its streams are closed');
  t.equal(manager.size, 0);
});

t.test('client mode: sonoedge connects to a pyigtl server, takes its images and sends the results back', { skip }, async (t) => {
  const port = await freePort();
  const manager = new StreamManager({ handler: async (f) => standIn(f) });
  const bridge = new IgtlBridge({ streams: manager, mode: 'client', port, reconnectMs: 50, results: ['IMAGE', 'STRING', 'POINT'] });
  const images = [IMAGES[0], IMAGES[3]];
  const spec = writeSpec({ port, label: 'LVLabel', summary: 'Summary', contour: 'LVContour', images, timeout: 20 });
  const peer = runPeer('serve', spec, (o) => { if ((o as { listening?: number }).listening) void bridge.start(); });
  const lines = (await peer) as PeerResult[];
  await bridge.close();
  const results = lines.slice(1);
  t.equal(results.length, 2);
  results.forEach((r, i) => checkResult(t, r, images[i]));
});

t.test('golden bytes: pyigtl\'s IMAGE and STRING (header versions 1 and 2, metadata) decode and re-encode byte for byte; CRC-64 as pyigtl\'s', { skip }, async (t) => {
  const m = matrixOf(0.5, 0.7, 30, [10, -20, 5]);
  const spec = writeSpec({ port: 0, label: '', summary: '', images: [
    { device: 'Image_Reference', dtype: 'u1', shape: [3, 4], pixels: frame(4, 3, 1, 1, [1]), matrix: m, headerVersion: 1, timestamp: 1700000000 },
    { device: 'Probe16', dtype: '<u2', shape: [2, 3], pixels: frame(3, 2, 1, 2, [1, 2]), matrix: m, ras: true, headerVersion: 2, timestamp: 1700000001 },
  ] });
  const s = JSON.parse(readFileSync(spec, 'utf8')) as Record<string, unknown>;
  s.strings = [
    { device: 'Summary', text: '{"view": "A4C"}', timestamp: 1700000002, headerVersion: 1 },
    { device: 'Summary', text: 'ok', timestamp: 1700000003, headerVersion: 2, messageId: 7, metadata: { 'sonoedge.seq': '12', unit: 'mm' } },
  ];
  writeFileSync(spec, JSON.stringify(s));
  const [hexes] = (await runPeer('pack', spec)) as string[][];
  t.equal(hexes.length, 4);
  for (const hex of hexes) {
    const bytes = Buffer.from(hex, 'hex');
    const events = new IgtlDecoder().push(bytes);
    t.equal(events.length, 1);
    const ev = events[0];
    if (ev.kind !== 'message') { t.fail(`expected a message: ${JSON.stringify(ev)}`); continue; }
    const msg = ev.message;
    const content = msg.header.type === 'IMAGE' ? encodeImage(parseImage(msg.content)) : encodeString(parseString(msg.content).text);
    const again = encodeIgtl({
      type: msg.header.type, device: msg.header.device, timestampMs: msg.header.sec * 1000, headerVersion: msg.header.version as 1 | 2,
      messageId: msg.messageId, metadata: msg.metadata, content,
    });
    t.equal(again.toString('hex'), hex, `${msg.header.type} v${msg.header.version} from ${msg.header.device}: identical bytes`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-crc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const data = new Uint8Array(100_003).map((_, i) => (i * 131 + 17) & 0xff);
  writeFileSync(path.join(dir, 'd.bin'), data);
  const r = spawnSync(VENV_PYTHON, [path.join(import.meta.dirname, '..', 'helpers', 'igtl_peer.py'), 'crc', path.join(dir, 'd.bin')], { encoding: 'utf8' });
  t.equal(crc64(data).toString(16).padStart(16, '0'), r.stdout.trim(), 'CRC-64 of 100003 bytes as pyigtl computes it');
});
