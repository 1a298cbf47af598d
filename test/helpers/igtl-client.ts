// A bare OpenIGTLink peer over a real TCP socket for the bridge's tests: sends
// raw bytes or encoded messages, decodes every reply with the codec.
import net from 'node:net';
import { encodeIgtl, IgtlDecoder, type EncodeOptions, type IgtlMessage } from '../../src/transport/igtl/codec.js';
import { encodeImage, type IgtlImage } from '../../src/transport/igtl/messages.js';

export class RawPeer {
  readonly socket: net.Socket;
  readonly received: IgtlMessage[] = [];
  closed = false;
  readonly #decoder = new IgtlDecoder({ maxBodyBytes: 1 << 26 });
  #waiters: (() => void)[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (d: Buffer) => {
      for (const ev of this.#decoder.push(d)) if (ev.kind === 'message') this.received.push(ev.message);
      this.#wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => { this.closed = true; this.#wake(); });
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ port, host: '127.0.0.1' }, () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  send(m: EncodeOptions | Uint8Array): void {
    this.socket.write(m instanceof Uint8Array ? m : encodeIgtl(m));
  }

  /** Waits for a received message matching `pred` (taken out of `received`). */
  async next(pred: (m: IgtlMessage) => boolean, ms = 10000, what = 'a message'): Promise<IgtlMessage> {
    const end = Date.now() + ms;
    for (;;) {
      const i = this.received.findIndex(pred);
      if (i >= 0) return this.received.splice(i, 1)[0];
      if (this.closed) throw new Error(`Expected ${what} but the connection closed`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`Expected ${what} within ${ms} ms; received ${this.received.map((m) => m.header.type).join(', ')}`);
      await new Promise<void>((r) => { const tm = setTimeout(r, left); this.#waiters.push(() => { clearTimeout(tm); r(); }); });
    }
  }

  async waitClosed(ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > end) throw new Error(`Expected the connection to close within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const M = [0.5, 0, 0, 0, 0.5, 0, 0, 0, 1, 0, 0, 0];

/** An IMAGE message of a GRAY8 frame (or any image fields given). */
export function imageMessage(device: string, w: number, h: number, fill: number, o: Partial<IgtlImage> & { headerVersion?: 1 | 2; timestampMs?: number } = {}): Buffer {
  const { headerVersion, timestampMs, ...img } = o;
  return encodeIgtl({
    type: 'IMAGE', device, headerVersion: headerVersion ?? 1, ...(timestampMs !== undefined ? { timestampMs } : {}),
    content: encodeImage({
      components: 1, scalarType: 3, endian: 'little', coordinates: 'LPS', size: [w, h, 1], matrix: M,
      pixels: new Uint8Array(w * h).fill(fill), ...img,
    }),
  });
}
