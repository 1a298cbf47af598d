// A socat pty pair for serial tests: a real kernel tty on both ends.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { SerialDecoder, type SerialRecord } from '../../src/protocol/serial.js';

/** Starts socat with two pty addresses and returns the two /dev/pts paths once it moves data. */
async function socat(first: string): Promise<{ a: string; b: string; proc: ChildProcess }> {
  const proc = spawn('socat', ['-d', '-d', first, 'pty,raw,echo=0']);
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

/** Starts `socat -d -d pty,raw,echo=0 pty,raw,echo=0` and returns the two /dev/pts paths. */
export function ptyPair(): Promise<{ a: string; b: string; proc: ChildProcess }> {
  return socat('pty,raw,echo=0');
}

/**
 * The firmware's end of a pty pair: `path` opened at 115200 baud, each record decoded from it kept in `records` when
 * `keep` says so (default every one); the port closes at the test's end.
 */
export async function firmwareEnd<R extends SerialRecord = SerialRecord>(t: { teardown: (fn: () => unknown) => void }, path: string,
  keep: (r: SerialRecord) => boolean = () => true): Promise<{ fw: SerialPort; records: R[] }> {
  const fw = new SerialPort({ path, baudRate: 115200, autoOpen: false });
  await new Promise<void>((res, rej) => fw.open((e) => (e ? rej(e) : res())));
  t.teardown(() => new Promise<void>((r) => fw.close(() => r())));
  const dec = new SerialDecoder();
  const records: R[] = [];
  fw.on('data', (d: Buffer) => { for (const ev of dec.push(d)) if (ev.kind === 'record' && keep(ev.record)) records.push(ev.record as R); });
  return { fw, records };
}

/**
 * A serial adapter that can be unplugged: a socat pty pair whose runtime end is a symlink at `link` (the path a
 * serve config names, like /dev/ttyUSB0), and whose other end is read here as the firmware would. unplug() kills
 * socat (the runtime's port then fails, as an unplugged USB adapter's does) and removes the link; plug() starts a
 * new socat on the same link (a new /dev/pts underneath). Every record read is kept with its arrival time.
 */
export class PluggablePty {
  readonly link: string;
  proc: ChildProcess | undefined;
  /** The firmware end of the current pair. */
  fwPath: string | undefined;
  /** Arrival times (performance.now()) of HEARTBEAT records. */
  readonly beats: number[] = [];
  /** Every record read, with its arrival time, unless keepRecords is false (a long soak keeps the beats only). */
  readonly records: { at: number; record: SerialRecord }[] = [];
  keepRecords: boolean;
  #fw: SerialPort | undefined;

  constructor(link: string, options: { keepRecords?: boolean } = {}) {
    this.link = link;
    this.keepRecords = options.keepRecords ?? true;
  }

  async plug(): Promise<void> {
    const { b, proc } = await socat(`pty,raw,echo=0,link=${this.link}`);
    this.proc = proc;
    this.fwPath = b;
    const fw = new SerialPort({ path: b, baudRate: 115200, autoOpen: false });
    await new Promise<void>((resolve, reject) => fw.open((e) => (e ? reject(e) : resolve())));
    fw.on('error', () => undefined);
    // A decoder per plug: bytes cut by an unplug never prefix the next pair's.
    const dec = new SerialDecoder();
    fw.on('data', (d: Buffer) => {
      const at = performance.now();
      for (const ev of dec.push(d)) {
        if (ev.kind !== 'record') continue;
        if (ev.record.kind === 'HEARTBEAT') this.beats.push(at);
        if (this.keepRecords) this.records.push({ at, record: ev.record });
      }
    });
    this.#fw = fw;
  }

  /** Writes bytes to the runtime, as the firmware. */
  write(data: Buffer): void {
    this.#fw?.write(data);
  }

  async unplug(): Promise<void> {
    const fw = this.#fw;
    this.#fw = undefined;
    if (fw?.isOpen) await new Promise<void>((r) => fw.close(() => r()));
    const p = this.proc;
    this.proc = undefined;
    if (p && p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await gone;
    }
    rmSync(this.link, { force: true }); // the link itself, even dangling
  }

  get plugged(): boolean {
    return this.proc !== undefined;
  }
}
