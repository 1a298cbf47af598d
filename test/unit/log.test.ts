// The runtime's structured logs: JSON lines with level, time and component,
// to a real file (asynchronous writes, flushed by close()) or to the standard
// output of a real process.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, prettyLine } from '../../src/log.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-log-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const readLines = (file: string): Record<string, unknown>[] =>
  readFileSync(file, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);

t.test('a file gets one JSON object a line: level name, ISO time, component, fields, message', async (t) => {
  const file = path.join(dir, 'nested', 'folder', 'serve.log');
  const log = createLogger({ level: 'debug', file });
  const socket = log.child({ component: 'socket' });
  socket.info({ client: 3 }, 'client connected');
  log.child({ component: 'serial' }).warn('port closed');
  socket.debug('frame in');
  socket.trace('below the level: not written');
  socket.error({ err: new TypeError('bad frame') }, 'rejected');
  await log.close();
  const lines = readLines(file);
  t.equal(lines.length, 4);
  t.match(lines[0], { level: 'info', component: 'socket', client: 3, msg: 'client connected', pid: process.pid, hostname: os.hostname() });
  t.match(lines[0].time, ISO);
  t.match(lines[1], { level: 'warn', component: 'serial', msg: 'port closed' });
  t.match(lines[2], { level: 'debug', component: 'socket', msg: 'frame in' });
  t.match(lines[3], { level: 'error', component: 'socket', msg: 'rejected', err: { type: 'TypeError', message: 'bad frame' } });
  t.match((lines[3].err as { stack: string }).stack, /^TypeError: bad frame\n/);
});

t.test('close() writes out everything pending before it resolves, and appends to an existing file', async (t) => {
  const file = path.join(dir, 'many.log');
  for (const run of [0, 1]) {
    const log = createLogger({ file });
    const pipeline = log.child({ component: 'pipeline' });
    for (let i = 0; i < 20000; i++) pipeline.info({ run, i }, 'result');
    await log.close();
  }
  const lines = readLines(file);
  t.equal(lines.length, 40000);
  t.same(lines.map((l) => `${String(l.run)}:${String(l.i)}`).slice(19998, 20002), ['0:19998', '0:19999', '1:0', '1:1']);
  t.ok(lines.every((l, k) => l.i === k % 20000 && l.component === 'pipeline'), 'every line, in order');
});

t.test('after close() a late line from any logger is dropped, not thrown; close() is idempotent', async (t) => {
  const file = path.join(dir, 'late.log');
  const log = createLogger({ file });
  const child = log.child({ component: 'socket' });
  log.info('before');
  const closing = log.close();
  t.equal(log.close(), closing);
  await closing;
  t.doesNotThrow(() => { child.error('late'); log.fatal('later'); });
  t.same(readLines(file).map((l) => l.msg), ['before']);
});

t.test('the level filters', async (t) => {
  const file = path.join(dir, 'level.log');
  const log = createLogger({ level: 'warn', file });
  log.info('no');
  log.warn('yes');
  log.fatal('yes too');
  await log.close();
  t.same(readLines(file).map((l) => [l.level, l.msg]), [['warn', 'yes'], ['fatal', 'yes too']]);
  const silent = path.join(dir, 'silent.log');
  const quiet = createLogger({ level: 'silent', file: silent });
  quiet.fatal('nothing');
  await quiet.close();
  t.equal(readFileSync(silent, 'utf8'), '');
});

t.test('pretty: one human line per entry', async (t) => {
  const file = path.join(dir, 'pretty.log');
  const log = createLogger({ file, pretty: true });
  log.child({ component: 'socket' }).info({ client: 3 }, 'client connected');
  log.warn('no component');
  await log.close();
  const lines = readFileSync(file, 'utf8').split('\n');
  t.match(lines[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO {2}\[socket\] client connected \{"client":3\}$/);
  t.match(lines[1], /^\S+Z WARN {2}no component$/);
  t.equal(lines[2], '');
  t.equal(prettyLine('not json\n'), 'not json\n', 'a line that is not JSON passes as it is');
});

t.test('standard output of a real process: JSON lines, flushed at close, stdout left open', async (t) => {
  const code = [
    `const { createLogger } = await import(${JSON.stringify(path.join(root, 'src', 'log.ts'))});`,
    "const log = createLogger({ level: 'debug' });",
    "for (let i = 0; i < 1000; i++) log.child({ component: 'socket' }).debug({ i }, 'tick');",
    'await log.close();',
    "process.stdout.write('stdout still open\\n');",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { encoding: 'utf8', cwd: root });
  t.equal(r.status, 0, r.stderr);
  const out = r.stdout.split('\n');
  t.equal(out.length, 1002);
  t.match(JSON.parse(out[999]), { level: 'debug', component: 'socket', i: 999, msg: 'tick' });
  t.equal(out[1000], 'stdout still open');
});

t.test('a log file that cannot be opened is an error at once', async (t) => {
  const file = path.join(dir, 'a-folder');
  mkdirSync(file);
  t.throws(() => createLogger({ file }), {
    code: 'ERR_SONOEDGE_CONFIG',
    message: `Expected a writable log file at ${file} but received EISDIR`,
  });
});

t.test('standard output that nobody reads: close(timeoutMs) gives up after timeoutMs, the process exits, the memory held stays bounded', async (t) => {
  // A supervisor that pipes the runtime's stdout and never reads it: the pipe fills. Before, close() never resolved
  // and even process.exit() hung (a blocking write parked in libuv's pool, joined at exit), while pending lines grew
  // without bound in memory. The pipe here is a shell's (blocking), read by nobody (`sleep`).
  const code = [
    `const { createLogger } = await import(${JSON.stringify(path.join(root, 'src', 'log.ts'))});`,
    'const log = createLogger({ maxBufferBytes: 1 << 20 });',
    "for (let i = 0; i < 400000; i++) log.info({ i, pad: 'x'.repeat(200) }, 'line');",
    'const t0 = performance.now();',
    'await log.close(300);',
    'const ms = performance.now() - t0;',
    "process.stderr.write(JSON.stringify({ ms: Math.round(ms), rssMiB: Math.round(process.memoryUsage().rss / 1048576) }) + '\\n');",
    'process.exit(0);',
  ].join('\n');
  const { spawn } = await import('node:child_process');
  const sh = spawn('sh', ['-c', '( "$NODE" --import tsx --input-type=module -e "$CODE"; echo "exit=$?" >&2 ) | sleep 30'], {
    cwd: root, stdio: ['ignore', 'ignore', 'pipe'], detached: true, env: { ...process.env, NODE: process.execPath, CODE: code },
  });
  t.teardown(() => { try { process.kill(-sh.pid!, 'SIGKILL'); } catch { /* gone */ } });
  let err = '';
  const exited = await new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 15000);
    sh.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (/exit=\d+/.test(err)) { clearTimeout(timer); resolve(true); } });
  });
  t.ok(exited, `the process exited (${err.trim()})`);
  const [json, exit] = err.trim().split('\n');
  t.equal(exit, 'exit=0');
  const r = JSON.parse(json) as { ms: number; rssMiB: number };
  t.ok(r.ms >= 290 && r.ms < 2000, `close gave up after ${r.ms} ms`);
  t.ok(r.rssMiB < 200, `RSS ${r.rssMiB} MiB (120 MB of lines offered, at most 1 MiB held)`);
  t.throws(() => createLogger({ maxBufferBytes: 0 }), { code: 'ERR_SONOEDGE_CONFIG', message: 'Expected a positive integer for maxBufferBytes but received 0' });
});
