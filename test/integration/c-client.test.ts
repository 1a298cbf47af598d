// The C client (clients/c) as a real peer: its example program, a separate
// process, streams frames from a raw file over a real Unix socket to the real
// server. The frame handler is a stand-in for the ML pipeline only, except in
// the two tests 'against the live runtime', where the C client talks to the
// real runtime and its models.
import t, { type Test } from 'tap';
import { spawnSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadTrustStore, MODELS_DIR } from '../../src/model/package.js';
import type { ConfigureStream } from '../../src/protocol/messages.js';
import { Runtime } from '../../src/runtime/index.js';
import { SocketServer, type FrameHandler, type SocketServerOptions } from '../../src/transport/socket-server.js';
import { flippedFrame, readSampleCine } from '../helpers/sample.js';
import { until } from '../helpers/wait.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const buildDir = path.join(root, 'build', 'c-client');
const example = path.join(buildDir, 'stream_frames');
const reconfigureExample = path.join(buildDir, 'reconfigure_stream');

function build(): string | undefined {
  for (const tool of ['cmake', 'ninja', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing (.ci/run installs it)`;
  }
  const cfg = spawnSync('cmake', ['-S', path.join(root, 'clients', 'c'), '-B', buildDir, '-G', 'Ninja', '-DCMAKE_BUILD_TYPE=RelWithDebInfo'], { encoding: 'utf8' });
  if (cfg.status !== 0) throw new Error(`cmake configure failed: ${cfg.stderr}`);
  const b = spawnSync('cmake', ['--build', buildDir, '-j', '2', '--target', 'stream_frames', 'reconfigure_stream'], { encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`cmake build failed: ${b.stdout}${b.stderr}`);
  return existsSync(example) && existsSync(reconfigureExample) ? undefined : 'stream_frames or reconfigure_stream was not built';
}

const skip = build();

function run(args: string[], program = example): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(program, args);
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

const scratchDirs: string[] = [];
t.teardown(() => { for (const d of scratchDirs) rmSync(d, { recursive: true, force: true }); });

/** A fresh folder holding `frames.raw` (the given bytes) and the socket path to serve on there; removed at the end. */
function scratch(frames: Uint8Array): { sock: string; raw: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-c-'));
  scratchDirs.push(dir);
  const raw = path.join(dir, 'frames.raw');
  writeFileSync(raw, frames);
  return { sock: path.join(dir, 'rt.sock'), raw };
}

/** Three width x height GRAY8 frames, filled with 10, 20 and 30. */
function threeFrames(width: number, height: number): Buffer {
  const frames = Buffer.alloc(width * height * 3);
  for (let f = 0; f < 3; f++) frames.fill(10 * (f + 1), f * width * height, (f + 1) * width * height);
  return frames;
}

/** A listening SocketServer, closed when the test ends. */
async function serve(t: Test, options: SocketServerOptions): Promise<SocketServer> {
  const server = new SocketServer(options);
  await server.listen();
  t.teardown(() => server.close());
  return server;
}

t.test('the C example streams frames from a raw file and prints results', { skip }, async (t) => {
  const width = 64;
  const height = 48;
  const { sock, raw } = scratch(threeFrames(width, height));
  const seen: number[] = [];
  const standIn: FrameHandler = async (f) => {
    seen.push(f.pixels[0]);
    t.equal(f.pixels.length, width * height);
    t.equal(f.config.format, 'GRAY8');
    return { view: 'PSAX', confidence: 0.75, quality: 0.5, lvAreaMm2: f.pixels[0] * 10, flags: 4 };
  };
  const server = await serve(t, { path: sock, handler: standIn });
  const r = await run([sock, raw, String(width), String(height), '5', '30']);
  t.equal(r.code, 0, `exit status (stderr: ${r.stderr})`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('result '));
  t.equal(lines.length, 5);
  t.match(lines[0], /^result stream=0 seq=1 view=PSAX confidence=0\.7500 quality=0\.5000 state=ok id_score=- lv_area_mm2=100\.00 ef=- ef_ci=- ed=- es=- flags=0x0004 total_ms=[\d.]+ rtt_ms=[\d.]+$/);
  t.match(lines[3], /seq=4 .* lv_area_mm2=100\.00/, 'the file is read in a loop');
  t.same(seen, [10, 20, 30, 10, 20], 'the pixels arrived intact, in order');
  t.match(r.stdout, /hello: version 1, max message 33554432/);
  t.match(r.stdout, /configured: stream 0, 3072 bytes per frame/);
  t.match(r.stdout, /done: 5 frames, 5 results/);
  t.equal(server.stats.framesIn, 5);
});

t.test('the C client reads the in-distribution state, its score, the EF interval and the confirmed ED/ES', { skip }, async (t) => {
  const { sock, raw } = scratch(threeFrames(16, 8));
  const states = ['ok', 'uncertain', 'unknown'] as const;
  await serve(t, { path: sock, handler: async (f) => ({
    view: 'A4C', confidence: 0.75, quality: 0.5, state: states[f.seq - 1], idScore: [0.9375, 0.5625, 0.125][f.seq - 1],
    ...(f.seq === 3 ? { flags: 0x0100 } : { ef: 55.5, efCi: [50.25, 60.75] as [number, number], edSeq: f.seq === 1 ? 0 : null, esSeq: f.seq === 2 ? 1 : null,
      flags: 0x0008 | (f.seq === 1 ? 0x0010 : 0x0020 | 0x0080) }),
  }) });
  const r = await run([sock, raw, '16', '8', '3']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('result ')).map((l) => l.replace(/ total_ms=.*$/, ''));
  t.same(lines, [
    'result stream=0 seq=1 view=A4C confidence=0.7500 quality=0.5000 state=ok id_score=0.9375 lv_area_mm2=nan ef=55.5 ef_ci=50.2..60.8 ed=0 es=- flags=0x0018',
    'result stream=0 seq=2 view=A4C confidence=0.7500 quality=0.5000 state=uncertain id_score=0.5625 lv_area_mm2=nan ef=55.5 ef_ci=50.2..60.8 ed=- es=1 flags=0x00a8',
    'result stream=0 seq=3 view=A4C confidence=0.7500 quality=0.5000 state=unknown id_score=0.1250 lv_area_mm2=nan ef=- ef_ci=- ed=- es=- flags=0x0100',
  ]);
});

t.test('the C client reports a refused configuration with the runtime\'s message', { skip }, async (t) => {
  const { sock, raw } = scratch(Buffer.alloc(16));
  await serve(t, { path: sock, handler: async () => ({}), maxMessageSize: 1000 });
  const r = await run([sock, raw, '4', '4', '1']);
  t.equal(r.code, 0, 'a 16-byte frame fits');
  const r2 = await run([sock, raw, '2000', '2000', '1']);
  t.equal(r2.code, 1);
  t.match(r2.stderr, /configure: the runtime answered with ERROR Expected frames of at most 1000 bytes but received a geometry of 4000000/);
});

t.test('the C client sends the patient and study of a stream (se_configure_study, se_configure_ring_study)', { skip }, async (t) => {
  const { sock, raw } = scratch(threeFrames(8, 4));
  const studies: unknown[] = [];
  await serve(t, { path: sock, handler: async (f) => { studies.push(f.config.study); return {}; } });
  const study = ['PatientID=P-14', 'PatientName=Doe^Jane=山田^花子', 'StudyInstanceUID=1.2.826.0.1.3680043.8.498.1414', 'AccessionNumber=ACC-14', 'PatientSex=F'];
  const r = await run([...study.flatMap((s) => ['--study', s]), sock, raw, '8', '4', '1']);
  t.equal(r.code, 0, r.stderr);
  const r2 = await run(['--shm-runtime', '--study', 'StudyID=S14', sock, raw, '8', '4', '1']);
  t.equal(r2.code, 0, r2.stderr);
  const r3 = await run([sock, raw, '8', '4', '1']);
  t.equal(r3.code, 0, r3.stderr);
  t.same(studies, [
    { PatientID: 'P-14', PatientName: 'Doe^Jane=山田^花子', StudyInstanceUID: '1.2.826.0.1.3680043.8.498.1414', AccessionNumber: 'ACC-14', PatientSex: 'F' },
    { StudyID: 'S14' },
    undefined,
  ], 'each CONFIGURE_STREAM carried its study block (UTF-8 intact), and none without one');
  const bad = await run(['--study', 'StudyInstanceUID=1.2.840.01', sock, raw, '8', '4', '1']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /configure: the runtime answered with ERROR Expected a DICOM UID \(1\.\.64 characters of digits and dots, no empty or zero-led component\) for CONFIGURE_STREAM\.study\.StudyInstanceUID but received "1\.2\.840\.01" of type string/);
});

t.test('the C client sends the stream\'s flip (se_stream_config.flip), and the runtime refuses one it does not know', { skip }, async (t) => {
  const { sock, raw } = scratch(threeFrames(8, 4));
  const flips: unknown[] = [];
  await serve(t, { path: sock, handler: async (f) => { flips.push(f.config.flip); return {}; } });
  for (const args of [['--flip', 'horizontal'], ['--flip', 'both'], []]) {
    const r = await run([...args, sock, raw, '8', '4', '1']);
    t.equal(r.code, 0, r.stderr);
  }
  t.same(flips, ['horizontal', 'both', undefined], 'each CONFIGURE_STREAM carried its flip, and none without one');
  const bad = await run(['--flip', 'mirrored', sock, raw, '8', '4', '1']);
  t.equal(bad.code, 1);
  t.match(bad.stderr, /configure: the runtime answered with ERROR Expected one of none, horizontal, vertical, both for CONFIGURE_STREAM\.flip but received "mirrored" of type string/);
});

t.test('the C client cannot reach a server that is not there', { skip }, async (t) => {
  const r = await run(['/nonexistent/sonoedge.sock', '/dev/null', '4', '4', '1']);
  t.equal(r.code, 1);
  t.match(r.stderr, /connect \/nonexistent\/sonoedge.sock: socket error/);
});

for (const mode of ['--shm', '--shm-runtime'] as const) {
  t.test(`the C example streams frames through a shared-memory ring (${mode}) and every slot comes back`, { skip }, async (t) => {
    const width = 64;
    const height = 48;
    const { sock, raw } = scratch(threeFrames(width, height));
    const seen: Array<[number, number]> = [];
    const standIn: FrameHandler = async (f) => {
      seen.push([f.pixels[0], f.pixels.byteOffset]);
      t.equal(f.pixels.length, width * height);
      return { view: 'PSAX', confidence: 0.75, quality: 0.5, lvAreaMm2: f.pixels[0] * 10, flags: 4 };
    };
    const server = await serve(t, { path: sock, handler: standIn });
    const rings: string[] = [];
    server.on('ringClosed', (_id: number, name: string) => rings.push(name));
    const closed = new Promise((r) => server.once('streamClosed', r));
    const r = await run([mode, sock, raw, String(width), String(height), '10', '30']);
    t.equal(r.code, 0, `exit status (stderr: ${r.stderr})`);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('result '));
    t.equal(lines.length, 10);
    t.match(lines[0], /^result stream=0 seq=1 view=PSAX confidence=0\.7500 quality=0\.5000 state=ok id_score=- lv_area_mm2=100\.00 ef=- ef_ci=- ed=- es=- flags=0x0004 total_ms=[\d.]+ rtt_ms=[\d.]+$/);
    t.same(seen.map((s) => s[0]), [10, 20, 30, 10, 20, 30, 10, 20, 30, 10], 'the pixels arrived intact, in order, from the slots');
    t.same(seen.map((s) => s[1]), Array.from({ length: 10 }, (_, i) => 4096 + (i % 4) * 4096), 'each frame was read in place, round robin over 4 slots');
    const ringLine = new RegExp(`shm: ring (/sonoedge-${mode === '--shm' ? 'example' : '\\d+'}-[0-9a-f\\d]+), 4 slots of 4096 bytes, made by the ${mode === '--shm' ? 'firmware' : 'runtime'}`);
    t.match(r.stdout, ringLine);
    t.match(r.stdout, /slots back: 4 of 4 \(10 releases, 0 bad\)/);
    t.match(r.stdout, /done: 10 frames, 10 results/);
    await closed;
    const name = ringLine.exec(r.stdout)![1];
    t.same(rings, [name], 'the runtime unmapped the ring when the client went');
    t.notOk(existsSync(`/dev/shm${name}`), 'and the ring is unlinked (by the side that made it)');
    t.equal(server.stats.framesIn, 10);
  });
}

t.test('the C client reports a refused ring with the runtime\'s message', { skip }, async (t) => {
  const { sock, raw } = scratch(Buffer.alloc(16));
  await serve(t, { path: sock, handler: async () => ({}), maxStreams: 0 });
  const r = await run(['--shm', sock, raw, '4', '4', '1']);
  t.equal(r.code, 1);
  t.match(r.stderr, /configure: the runtime answered with ERROR Expected at most 0 streams/);
  t.same(readdirSync('/dev/shm').filter((f) => f.startsWith('sonoedge-example-')), [], 'the ring the client made is unlinked on the way out');
});

t.test('the C client against the live runtime: the real pipeline on the bundled A4C frames, through a shared-memory ring', { skip }, async (t) => {
  const { frames } = await readSampleCine();
  const { sock, raw } = scratch(Buffer.concat(frames.slice(0, 8)));
  const rt = await Runtime.start({
    pipeline: { viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')) },
    socket: { path: sock },
  });
  t.teardown(() => rt.close());
  const r = await run(['--shm', rt.server.path, raw, '256', '256', '8', '10']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('result '));
  const done = /done: 8 frames, (\d+) results/.exec(r.stdout);
  t.ok(done && Number(done[1]) === lines.length && lines.length >= 1, r.stdout);
  t.equal(lines.length + rt.server.stats.framesDropped, 8, 'every frame has a result or was dropped (latest wins)');
  for (const l of lines) t.match(l, /^result stream=0 seq=\d+ view=A4C confidence=[01]\.\d{4} quality=0\.\d{4} state=ok id_score=[01]\.\d{3,4} lv_area_mm2=\d+\.\d\d ef=\S+ ef_ci=\S+ ed=\S+ es=\S+ flags=0x[0-9a-f]{4} /);
  t.match(r.stdout, /slots back: 4 of 4/);
  t.equal(rt.server.stats.framesFailed, 0);
});

t.test('the C client against the live runtime: the bundled A4C frames shown mirrored, with --flip horizontal', { skip }, async (t) => {
  const { frames } = await readSampleCine();
  const mirrored = frames.slice(0, 4).map((f) => flippedFrame(f, 'horizontal'));
  const { sock, raw } = scratch(Buffer.concat(mirrored));
  const rt = await Runtime.start({
    pipeline: { viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')) },
    socket: { path: sock },
  });
  t.teardown(() => rt.close());
  const views = async (args: string[]): Promise<string[]> => {
    const r = await run([...args, rt.server.path, raw, '256', '256', '4', '10']);
    t.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter((l) => l.startsWith('result ')).map((l) => /view=(\S+) .* state=(\S+)/.exec(l)!.slice(1).join(' '));
  };
  const flipped = await views(['--flip', 'horizontal']);
  t.ok(flipped.length >= 1 && flipped.every((v) => v === 'A4C ok'), `flipped back: ${flipped.join(', ')}`);
  const asShown = await views([]);
  t.ok(asShown.length >= 1 && asShown.every((v) => v !== 'A4C ok'), `without the flip, never A4C ok: ${asShown.join(', ')}`);
});

t.test('the C client reconfigures its stream mid-session: fps only, then a new size and roi, with a frame in flight each time', { skip }, async (t) => {
  // reconfigure_stream: one connection, three CONFIGURE_STREAMs of stream 0; each phase's last frame is still running
  // when the next CONFIGURE_STREAM goes out. The stand-in's prepare (the runtime's model load) takes 100 ms, so that
  // frame's RESULT comes before the reply, while the C client waits in se_configure.
  const { sock, raw } = scratch(threeFrames(64, 48));
  const seen: string[] = [];
  const prepared: string[] = [];
  const describe = (c: ConfigureStream): string => `${c.width}x${c.height} fps=${c.fps} roi=${c.roi ? Object.values(c.roi).join(',') : '-'}`;
  const server = await serve(t, {
    path: sock,
    prepare: async (_stream, c) => { prepared.push(describe(c)); await new Promise((r) => setTimeout(r, 100)); },
    handler: async (f) => {
      seen.push(`${f.seq} ${describe(f.config)} bytes=${f.pixels.length} pixel=${f.pixels[0]}`);
      return { view: 'A4C', confidence: f.config.fps / 100, quality: 0.5, lvAreaMm2: f.pixels.length, flags: 4 };
    },
  });
  const r = await run([sock, raw, '64x48@30:3', '64x48@50:3', '48x32@50:3:4,4,40,24'], reconfigureExample);
  t.equal(r.code, 0, r.stderr);
  const result = (seq: number, fps: number, bytes: number) =>
    `result stream=0 seq=${seq} view=A4C state=ok confidence=${(fps / 100).toFixed(4)} lv_area_mm2=${bytes}.00 flags=0x0004`;
  t.same(r.stdout.trimEnd().split('\n'), [
    'configured: phase 1 64x48 fps=30 roi=- frame_bytes=3072',
    result(1, 30, 3072), result(2, 30, 3072), result(3, 30, 3072),
    'configured: phase 2 64x48 fps=50 roi=- frame_bytes=3072',
    result(4, 50, 3072), result(5, 50, 3072), result(6, 50, 3072),
    'configured: phase 3 48x32 fps=50 roi=4,4,40,24 frame_bytes=1536',
    result(7, 50, 1536), result(8, 50, 1536), result(9, 50, 1536),
    'ping: ok',
    'done: 9 frames, 9 results, 0 errors',
  ], 'every frame answered, the in-flight ones before the next reply; after each reply every RESULT is of the new configuration');
  t.same(prepared, ['64x48 fps=30 roi=-', '64x48 fps=50 roi=-', '48x32 fps=50 roi=4,4,40,24']);
  t.same(seen, [
    '1 64x48 fps=30 roi=- bytes=3072 pixel=10', '2 64x48 fps=30 roi=- bytes=3072 pixel=20', '3 64x48 fps=30 roi=- bytes=3072 pixel=30',
    '4 64x48 fps=50 roi=- bytes=3072 pixel=10', '5 64x48 fps=50 roi=- bytes=3072 pixel=20', '6 64x48 fps=50 roi=- bytes=3072 pixel=30',
    '7 48x32 fps=50 roi=4,4,40,24 bytes=1536 pixel=10', '8 48x32 fps=50 roi=4,4,40,24 bytes=1536 pixel=20', '9 48x32 fps=50 roi=4,4,40,24 bytes=1536 pixel=30',
  ], 'each frame ran under the configuration it was sent under');
  t.match(server.stats, { framesIn: 9, framesProcessed: 9, framesDropped: 0, framesFailed: 0, errorsSent: 0, rejected: 0, disconnectedForErrors: 0 });
});

for (const mode of ['--shm', '--shm-runtime'] as const) {
  t.test(`the C client reconfigures a stream that sends through a shared-memory ring (${mode}): every slot comes back`, { skip }, async (t) => {
    // --shm: the firmware's ring, sized for the largest phase, named again in every CONFIGURE_STREAM: the runtime
    // keeps it and reads a frame in flight at its own size. --shm-runtime: every CONFIGURE_STREAM asks for a new ring,
    // which the C client maps on the same se_ring (the old one unmapped once the reply came).
    const { sock, raw } = scratch(threeFrames(64, 48));
    const seen: string[] = [];
    const server = await serve(t, {
      path: sock,
      prepare: () => new Promise((r) => setTimeout(r, 100)),
      handler: async (f) => {
        seen.push(`${f.seq} ${f.config.width}x${f.config.height} fps=${f.config.fps} bytes=${f.pixels.length} pixel=${f.pixels[0]}`);
        return { view: 'A4C', confidence: f.config.fps / 100, quality: 0.5, lvAreaMm2: f.pixels.length, flags: 4 };
      },
    });
    const opened: string[] = [];
    const closed: string[] = [];
    server.on('ringClosed', (_id: number, name: string) => closed.push(name));
    const r = await run([mode, sock, raw, '64x48@30:3', '64x48@50:3', '48x32@50:3:4,4,40,24'], reconfigureExample);
    t.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
    const lines = r.stdout.trimEnd().split('\n');
    for (const l of lines) { const m = /^ring: phase \d (\S+), 4 slots of (\d+) bytes, 4 free$/.exec(l); if (m) opened.push(`${m[1]} ${m[2]}`); }
    t.equal(opened.length, 3, lines.join('\n'));
    if (mode === '--shm') t.same(new Set(opened).size, 1, `one ring kept across the reconfigures, 4096-byte slots: ${opened[0]}`);
    else t.same(new Set(opened).size, 3, `a new ring for each CONFIGURE_STREAM: ${opened.join(', ')}`);
    t.ok(opened.every((o) => o.endsWith(' 4096')));
    t.same(lines.filter((l) => l.startsWith('result ')).map((l) => / seq=(\d+) .* lv_area_mm2=(\d+)/.exec(l)!.slice(1).join(' ')), [
      '1 3072', '2 3072', '3 3072', '4 3072', '5 3072', '6 3072', '7 1536', '8 1536', '9 1536',
    ], 'every frame answered, the in-flight ones at their own size');
    t.same(seen, [
      '1 64x48 fps=30 bytes=3072 pixel=10', '2 64x48 fps=30 bytes=3072 pixel=20', '3 64x48 fps=30 bytes=3072 pixel=30',
      '4 64x48 fps=50 bytes=3072 pixel=10', '5 64x48 fps=50 bytes=3072 pixel=20', '6 64x48 fps=50 bytes=3072 pixel=30',
      '7 48x32 fps=50 bytes=1536 pixel=10', '8 48x32 fps=50 bytes=1536 pixel=20', '9 48x32 fps=50 bytes=1536 pixel=30',
    ], 'each frame read from its slot under the configuration it was sent under');
    t.match(lines.slice(-3), ['slots back: 4 of 4', 'ping: ok', 'done: 9 frames, 9 results, 0 errors']);
    await until(() => closed.length === new Set(opened).size, 'the rings closed');
    t.same(closed, [...new Set(opened)].map((o) => o.split(' ')[0]), 'each ring unmapped by the runtime once replaced, the last when the client went');
    for (const name of closed) t.notOk(existsSync(`/dev/shm${name}`), `${name} is unlinked`);
    t.match(server.stats, { framesIn: 9, framesProcessed: 9, framesDropped: 0, framesFailed: 0, errorsSent: 0 });
  });
}

t.test('the C client reconfigures against the live runtime: fps only keeps the loaded models, a new size loads them once more', { skip }, async (t) => {
  const { frames } = await readSampleCine();
  const { sock, raw } = scratch(Buffer.concat(frames.slice(0, 3)));
  const loads: number[] = [];
  const log = {
    info: (o: { width: number }, m: string) => { if (m === 'stream models loaded') loads.push(o.width); },
    warn: () => undefined, error: () => undefined, debug: () => undefined,
  };
  const rt = await Runtime.start({
    pipeline: { viewQuality: path.join(MODELS_DIR, 'view_quality'), segmentation: path.join(MODELS_DIR, 'lv_segmentation'), trustStore: await loadTrustStore(path.join(MODELS_DIR, 'trust')), engine: { intraOpThreads: 1 } },
    socket: { path: sock }, log: log as never,
  });
  t.teardown(() => rt.close());
  const ran: Array<{ seq: number; width: number; fps: number; bytes: number; loads: number }> = [];
  rt.observeFrames((f) => { ran.push({ seq: f.seq, width: f.config.width, fps: f.config.fps, bytes: f.pixels.length, loads: loads.length }); });
  const r = await run([sock, raw, '256x256@30:3', '256x256@50:3', '224x224@50:3'], reconfigureExample);
  t.equal(r.code, 0, `${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.trimEnd().split('\n');
  t.same(lines.filter((l) => l.startsWith('configured: ')), [
    'configured: phase 1 256x256 fps=30 roi=- frame_bytes=65536',
    'configured: phase 2 256x256 fps=50 roi=- frame_bytes=65536',
    'configured: phase 3 224x224 fps=50 roi=- frame_bytes=50176',
  ]);
  const results = lines.filter((l) => l.startsWith('result '));
  t.same(results.map((l) => Number(/ seq=(\d+) /.exec(l)![1])), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'every frame answered, in order');
  for (const l of results) t.match(l, /^result stream=0 seq=\d+ view=\S+ state=(ok|uncertain|unknown) confidence=\S+ lv_area_mm2=\S+ flags=0x[0-9a-f]{4}$/);
  t.notMatch(r.stdout, /^error/m, 'no ERROR');
  t.match(lines.slice(-2), ['ping: ok', 'done: 9 frames, 9 results, 0 errors'], 'the connection is still up');
  // Frame 6 runs on the old models while the new ones load: the load count it sees is a race, the rest are not.
  t.same(ran.map(({ seq, width, fps, bytes }) => `${seq} ${width} ${fps} ${bytes}`), [
    '1 256 30 65536', '2 256 30 65536', '3 256 30 65536', '4 256 50 65536', '5 256 50 65536', '6 256 50 65536', '7 224 50 50176', '8 224 50 50176', '9 224 50 50176',
  ], 'each frame ran under the configuration it was sent under');
  t.same(ran.filter((x) => x.seq !== 6).map((x) => x.loads), [1, 1, 1, 1, 1, 2, 2, 2], 'one load for the first geometry, kept across the fps change; a second for the new size');
  t.same(loads, [256, 224], 'the models loaded twice in all');
  t.match(rt.server.stats, { framesIn: 9, framesProcessed: 9, framesDropped: 0, framesFailed: 0, errorsSent: 0 });
});
