// The runtime's structured logs: JSON lines with level, time and component,
// to a real file (asynchronous writes, flushed by close()) or to the standard
// output of a real process.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLogger, prettyLine } from '../../src/log.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-log-'));
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
