// The live viewer's JPEG encoder: one worker thread running sharp, so that the
// pipeline's event loop only copies a frame's rows and posts a message (sharp's
// own call costs about 0.6 ms of synchronous work per 1024x768 picture before
// libvips takes over; a post with the buffer transferred, about 0.06 ms).
// Each request transfers the stream's snapshot buffer to the thread, and the
// reply transfers it back with the JPEG, so the stream reuses one buffer.
// Started with the first encode, ended by close() (the viewer closes it when
// the last page leaves); unref'd, so it never keeps a process alive.
//
// The thread's code is the short script below (an eval worker: no file to
// find, and no TypeScript loader to start, whether this module runs built or
// from its TypeScript source); it encodes with encode.ts's encodePlanned, the
// function encodeJpeg calls, taken as its source text.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { ConfigureStream } from '../protocol/messages.js';
import { encodePlanned, jpegPlan, type JpegPlan } from './encode.js';

export type EncodeGeometry = Pick<ConfigureStream, 'width' | 'height' | 'format'>;
interface EncodeRequest { id: number; buffer: ArrayBuffer; bytes: number; width: number; height: number; plan: JpegPlan; quality: number }
interface EncodeReply { id: number; buffer: ArrayBuffer; jpeg?: ArrayBuffer; error?: string }

const THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const sharp = require(workerData.sharp);
const encodePlanned = (${encodePlanned.toString()});
parentPort.on('message', (m) => {
  encodePlanned(sharp, new Uint8Array(m.buffer, 0, m.bytes), m.width, m.height, m.plan, m.quality).then((jpeg) => {
    const out = new Uint8Array(jpeg.length);
    out.set(jpeg);
    parentPort.postMessage({ id: m.id, buffer: m.buffer, jpeg: out.buffer }, [m.buffer, out.buffer]);
  }, (err) => {
    parentPort.postMessage({ id: m.id, buffer: m.buffer, error: err && err.message || String(err) }, [m.buffer]);
  });
});
`;

interface Pending { resolve: (r: { jpeg: Buffer; buffer: ArrayBuffer }) => void; reject: (err: Error) => void }

export class JpegEncoder {
  #worker: Worker | undefined;
  readonly #pending = new Map<number, Pending>();
  #next = 1;

  /**
   * Encodes the first `bytes` of `buffer` (a packed snapshot, encode.ts), which is transferred to the encoder thread
   * and comes back with the JPEG: use the returned buffer afterwards, never the one given.
   */
  encode(buffer: ArrayBuffer, bytes: number, geometry: EncodeGeometry, quality: number): Promise<{ jpeg: Buffer; buffer: ArrayBuffer }> {
    const worker = this.#start();
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      const req: EncodeRequest = { id, buffer, bytes, width: geometry.width, height: geometry.height, plan: jpegPlan(geometry.format), quality };
      worker.postMessage(req, [buffer]);
    });
  }

  /** Ends the thread; what is pending fails. Idempotent. */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = undefined;
    this.#fail(new Error('the encoder was closed'));
    if (w) await w.terminate();
  }

  #start(): Worker {
    if (this.#worker) return this.#worker;
    const sharpPath = createRequire(import.meta.url).resolve('sharp');
    const w = new Worker(THREAD, { eval: true, workerData: { sharp: sharpPath }, execArgv: [] });
    w.unref();
    w.on('message', (m: EncodeReply) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (m.jpeg) p.resolve({ jpeg: Buffer.from(m.jpeg), buffer: m.buffer });
      else p.reject(Object.assign(new Error(`Expected a JPEG from the encoder but it failed: ${m.error}`), { buffer: m.buffer }));
    });
    // A thread that dies takes its pending pictures (and their buffers) with it; the next encode starts a new one.
    const gone = (err: Error) => {
      if (this.#worker === w) this.#worker = undefined;
      this.#fail(err);
    };
    w.on('error', gone);
    w.on('exit', (code) => gone(new Error(`the encoder thread exited with code ${code}`)));
    this.#worker = w;
    return w;
  }

  #fail(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }
}
