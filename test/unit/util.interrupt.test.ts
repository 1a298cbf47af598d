// src/util/interrupt.ts: the signal clean-up, in a child process that interrupts itself, and the folder removal's
// retries on the ENOTEMPTY a write still in flight causes (test/integration/report.write.test.ts interrupts a real
// report write, where that race once failed CI).
import t from 'tap';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removeTreeSync } from '../../src/util/interrupt.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: made up`), { code });

t.test('removeTreeSync: ENOTEMPTY is tried again, up to `tries`; another error at once', async (t) => {
  const calls: string[] = [];
  const failing = (codes: string[]) => (dir: string) => {
    calls.push(dir);
    const code = codes.shift();
    if (code) throw errno(code);
  };
  removeTreeSync('/x', 5, failing(['ENOTEMPTY', 'ENOTEMPTY']));
  t.same(calls, ['/x', '/x', '/x'], 'two ENOTEMPTY, then removed');
  calls.length = 0;
  t.throws(() => removeTreeSync('/x', 3, failing(['ENOTEMPTY', 'ENOTEMPTY', 'ENOTEMPTY', 'ENOTEMPTY'])), { code: 'ENOTEMPTY' });
  t.equal(calls.length, 3, 'no more than 3 tries');
  calls.length = 0;
  t.throws(() => removeTreeSync('/x', 5, failing(['EACCES'])), { code: 'EACCES' });
  t.equal(calls.length, 1, 'EACCES is not tried again');
});

t.test('onInterrupt: a clean-up that throws is reported and the signal still ends the process', async (t) => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const script = `
      import { onInterrupt } from ${JSON.stringify(path.join(root, 'dist', 'util', 'interrupt.js'))};
      onInterrupt(() => { throw new Error('the clean-up broke'); });
      setInterval(() => {}, 1000);
      process.stdout.write('ready\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, sig) => resolve([code, sig])));
    await new Promise<void>((resolve) => child.stdout.on('data', (b: Buffer) => { out += b.toString(); if (out.includes('ready')) resolve(); }));
    child.kill(signal);
    t.same(await exited, [null, signal], `${signal}: ended by the signal (${err})`);
    t.equal(err, `sonoedge: the clean-up on ${signal} failed: the clean-up broke\n`);
  }
});
