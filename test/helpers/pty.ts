// A socat pty pair for serial tests: a real kernel tty on both ends.
import { spawn, type ChildProcess } from 'node:child_process';

/** Starts `socat -d -d pty,raw,echo=0 pty,raw,echo=0` and returns the two /dev/pts paths. */
export async function ptyPair(): Promise<{ a: string; b: string; proc: ChildProcess }> {
  const proc = spawn('socat', ['-d', '-d', 'pty,raw,echo=0', 'pty,raw,echo=0']);
  let err = '';
  const paths = await new Promise<string[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Expected two PTY paths from socat but received: ${err}`)), 5000);
    proc.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
      const found = [...err.matchAll(/PTY is (\/dev\/pts\/\d+)/g)].map((m) => m[1]);
      if (found.length === 2 && /starting data transfer loop/.test(err)) { clearTimeout(timer); resolve(found); }
    });
    proc.on('exit', () => { clearTimeout(timer); reject(new Error(`socat exited: ${err}`)); });
  });
  return { a: paths[0], b: paths[1], proc };
}
