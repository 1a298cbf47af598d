// `sonoedge serve` (dist/, bundled models) with every listening part on (the
// socket's path and TCP, metrics, viewer, OpenIGTLink server): an error of any
// of its servers after listen (what Node emits when accept() fails, emitted
// on each real server by a preload on SIGUSR2: no fd trick makes one on cue)
// is one log line naming the part, and serve serves on: real clients of each
// part are answered afterwards, and SIGTERM still stops it with exit 0.
// Before, the viewer's, the socket's and the OpenIGTLink bridge's (re-emitted
// as 'error' on the bridge, which serve did not listen to) ended the process.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseHelloReply } from '../../src/protocol/messages.js';
import { encodeStatus, parseStatus } from '../../src/transport/igtl/messages.js';
import { SocketClient } from '../../src/transport/socket-client.js';
import { VERSION } from '../../src/version.js';
import { RawPeer } from '../helpers/igtl-client.js';
import { BUNDLED_MODELS_YAML } from '../helpers/serve-config.js';
import { CLI, ROOT } from '../helpers/supervisor.js';
import { until } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-serve-listen-errors-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const PRELOAD = pathToFileURL(path.join(ROOT, 'test', 'helpers', 'accept-errors.mjs')).href;

t.test('serve: an error of each listening server after listen is logged, and every part serves on', async (t) => {
  const sock = path.join(dir, 's.sock');
  const logFile = path.join(dir, 'serve.log');
  const file = path.join(dir, 'serve.yaml');
  writeFileSync(file, `socket:
  path: ${sock}
  tcp: {port: 0}
${BUNDLED_MODELS_YAML}logging:
  file: ${logFile}
metrics:
  port: 0
viewer:
  port: 0
igtl:
  port: 0
`);
  const child = spawn(process.execPath, ['--import', PRELOAD, CLI, 'serve', '--config', file], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const lines = (): Record<string, unknown>[] => {
    try { return readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>); } catch { return []; }
  };
  const logged = (msg: string) => lines().filter((l) => l.msg === msg);
  await until(() => logged('openigtlink listening').length === 1 || child.exitCode !== null, 'serve listening', 120_000);
  t.equal(child.exitCode, null, `serve runs: ${stderr}`);
  const tcpPort = logged('runtime ready')[0].tcpPort as number;
  const metricsPort = logged('metrics listening')[0].port as number;
  const viewerUrl = logged('viewer listening')[0].url as string;
  const igtlPort = logged('openigtlink listening')[0].port as number;

  child.kill('SIGUSR2');
  const expected = ['socket server error', 'metrics endpoint error', 'viewer server error', 'openigtlink server error'];
  const errors = () => lines().filter((l) => expected.includes(l.msg as string));
  await until(() => errors().length === 6 || child.exitCode !== null, 'six logged errors (the socket\'s path, TCP and lock, metrics, viewer, OpenIGTLink)');
  t.equal(child.exitCode, null, `serve still runs after the errors: ${stderr}`);
  const seen = errors().map((l) => {
    const { time: _t, pid: _p, hostname: _h, err, ...rest } = l;
    const { message, code, syscall } = err as Record<string, unknown>;
    return { ...rest, err: { message, code, syscall } };
  }).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const err = { message: 'accept ENOBUFS', code: 'ENOBUFS', syscall: 'accept' };
  const viewerPort = Number(new URL(viewerUrl).port);
  t.same(seen, [
    { level: 'error', component: 'igtl', host: '127.0.0.1', port: igtlPort, msg: 'openigtlink server error', err },
    { level: 'error', component: 'metrics', host: '127.0.0.1', port: metricsPort, msg: 'metrics endpoint error', err },
    { level: 'error', component: 'socket', listener: 'lock', path: sock, msg: 'socket server error', err },
    { level: 'error', component: 'socket', listener: 'path', path: sock, msg: 'socket server error', err },
    { level: 'error', component: 'socket', listener: 'tcp', host: '127.0.0.1', port: tcpPort, msg: 'socket server error', err },
    { level: 'error', component: 'viewer', host: '127.0.0.1', port: viewerPort, msg: 'viewer server error', err },
  ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));

  // Every part answers a new client.
  for (const target of [sock, { port: tcpPort }]) {
    const c = await SocketClient.connect(target);
    t.equal(parseHelloReply((await c.hello('after')).body).server, `sonoedge ${VERSION}`, `the socket over ${typeof target === 'string' ? 'its path' : 'TCP'}`);
    await c.close();
  }
  t.equal((await fetch(`http://127.0.0.1:${metricsPort}/health`)).status, 200, 'metrics /health');
  t.equal((await fetch(viewerUrl)).status, 200, 'the viewer page');
  const peer = await RawPeer.connect(igtlPort);
  peer.send({ type: 'GET_STATUS', device: '', headerVersion: 1, content: new Uint8Array(0) });
  t.same(parseStatus((await peer.next((m) => m.header.type === 'STATUS')).content), {
    code: 1, subcode: 0n, errorName: '', message: '{"server":"sonoedge","streams":[]}',
  }, 'OpenIGTLink GET_STATUS');
  peer.send({ type: 'STATUS', device: 'peer', headerVersion: 1, content: encodeStatus({ code: 1, message: 'bye' }) });
  peer.destroy();

  child.kill('SIGTERM');
  t.equal(await exited, 0, `SIGTERM stops it, exit 0: ${stderr}`);
  t.equal(stderr, '', 'nothing on stderr');
  t.equal(logged('runtime stopped').length, 1);
});
