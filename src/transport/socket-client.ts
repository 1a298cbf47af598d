// A TypeScript client of the socket protocol: for tests, benchmarks, tools
// and viewers. Requests resolve with their reply (or reject with the ERROR).
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { invalidType, invalidValue, rangeError } from '../errors.js';
import { encodeMessageParts, MessageDecoder, type EncodeInput, type Message } from '../protocol/codec.js';
import { Flag, MessageType } from '../protocol/constants.js';
import { ProtocolError, type WireErrorName } from '../protocol/errors.js';
import { msg, parseError, type ConfigureStream, type Subscribe } from '../protocol/messages.js';
import { hostProblem } from '../util/host.js';

export class RemoteError extends Error {
  readonly code: string;
  readonly wireCode: number;
  readonly fatal: boolean;
  constructor(wireCode: number, name: string, message: string, fatal: boolean) {
    super(message);
    this.name = 'RemoteError';
    this.code = `ERR_SONOEDGE_REMOTE_${name}`;
    this.wireCode = wireCode;
    this.fatal = fatal;
  }
}

export class SocketClient extends EventEmitter {
  readonly socket: net.Socket;
  readonly decoder = new MessageDecoder();
  #seq = 0;
  readonly #pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();

  private constructor(socket: net.Socket) {
    super();
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      for (const ev of this.decoder.push(chunk)) {
        if (ev.kind === 'error') { this.emit('protocolError', ev.error); continue; }
        const m = ev.message;
        const p = m.header.flags & Flag.REPLY ? this.#pending.get(m.header.seq) : undefined;
        if (p) {
          this.#pending.delete(m.header.seq);
          if (m.header.type === MessageType.ERROR) {
            const e = parseError(m.body);
            p.reject(new RemoteError(e.code, e.name, e.message, e.fatal));
          } else p.resolve(m);
        } else this.emit('message', m);
      }
    });
    socket.on('close', () => {
      for (const p of this.#pending.values()) p.reject(new ProtocolError('INCOMPLETE' as WireErrorName, 'Expected a reply but the connection closed'));
      this.#pending.clear();
      this.emit('close');
    });
    socket.on('error', (err) => this.emit('socketError', err));
  }

  /**
   * Connects to a runtime's socket path, or to its TCP port on `host` (default 127.0.0.1). A string is always a socket
   * path (relative to the working directory unless absolute), even one that looks like a number ('7070'); TCP is
   * `{port, host}` only. Rejects with a RangeError
   * ERR_SONOEDGE_SOCKET_OPTION, as SocketServer's tcp.host, for a host that is no peer's (src/util/host.ts, 'peer': a malformed address, a value of
   * another type, null, 0.0.0.0 or ::) and for a port that is not an integer 1..65535, before any connection or name lookup;
   * with a TypeError ERR_SONOEDGE_SOCKET_OPTION for a target that is neither a string nor an object (null, undefined, a
   * number, an array), and a RangeError for an empty path. It never throws: every refusal is a rejection.
   */
  static connect(target: string | { port: number; host?: string }): Promise<SocketClient> {
    // Before, null or undefined threw Node's TypeError (reading 'host') at the call, not a rejection; '' reached
    // net.createConnection as a port (Node's ERR_SOCKET_BAD_PORT); a number was reported as a missing port.
    if (typeof target !== 'string' && (typeof target !== 'object' || target === null || Array.isArray(target))) {
      return Promise.reject(invalidType('ERR_SONOEDGE_SOCKET_OPTION', 'a socket path or {port, host}', 'target', target));
    }
    if (target === '') return Promise.reject(invalidValue('ERR_SONOEDGE_SOCKET_OPTION', 'a socket path or {port, host}', 'target', target));
    const host: unknown = typeof target === 'string' || target.host === undefined ? '127.0.0.1' : target.host;
    const hostBad = hostProblem(host, 'peer', 'host');
    if (hostBad) return Promise.reject(rangeError('ERR_SONOEDGE_SOCKET_OPTION', hostBad));
    // Port 0 or a non-integer: Node's ERR_SOCKET_BAD_PORT (uncoded) or a connection attempt nobody answers.
    if (typeof target !== 'string' && !(Number.isInteger(target.port) && target.port >= 1 && target.port <= 65535)) {
      return Promise.reject(invalidValue('ERR_SONOEDGE_SOCKET_OPTION', 'an integer 1..65535', 'port', target.port));
    }
    return new Promise((resolve, reject) => {
      // {path}: given a bare string, Node takes one that looks like a number as a TCP port on localhost.
      const s = typeof target === 'string' ? net.createConnection({ path: target }) : net.createConnection(target.port, host as string);
      s.once('error', reject);
      s.once('connect', () => { s.off('error', reject); s.setNoDelay?.(true); resolve(new SocketClient(s)); });
    });
  }

  nextSeq(): number {
    this.#seq = (this.#seq + 1) >>> 0;
    return this.#seq;
  }

  send(m: EncodeInput): void {
    const [head, payload] = encodeMessageParts(m);
    this.socket.cork();
    this.socket.write(head);
    if (payload) this.socket.write(payload);
    this.socket.uncork();
  }

  request(build: (seq: number) => EncodeInput, timeoutMs = 5000): Promise<Message> {
    const m = build(this.nextSeq());
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => { this.#pending.delete(m.seq); reject(new Error(`Expected a reply to message ${m.seq} within ${timeoutMs} ms but received none`)); }, timeoutMs);
      this.#pending.set(m.seq, {
        resolve: (x) => { clearTimeout(timer); resolve(x); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.send(m);
    });
  }

  hello(client = 'sonoedge-ts'): Promise<Message> {
    return this.request((seq) => msg.hello(seq, { versions: [1], client, features: [] }));
  }
  /** The runtime loads the stream's models before it answers: a TensorRT engine build takes minutes, a slow board seconds. */
  configure(c: ConfigureStream, timeoutMs = 180_000): Promise<Message> {
    return this.request((seq) => msg.configure(seq, c), timeoutMs);
  }
  subscribe(s: Partial<Subscribe> = {}): Promise<Message> {
    return this.request((seq) => msg.subscribe(seq, s));
  }
  sendFrame(stream: number, frameSeq: number, pixels: Uint8Array, t = performance.now()): number {
    const seq = this.nextSeq();
    this.send(msg.frame(seq, { stream, seq: frameSeq, t }, pixels));
    return seq;
  }

  /** The next unsolicited message of a type (RESULT, ERROR, ...). */
  next(type: number, timeoutMs = 5000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.off('message', on); reject(new Error(`Expected message type ${type} within ${timeoutMs} ms but received none`)); }, timeoutMs);
      const on = (m: Message) => {
        if (m.header.type !== type) return;
        clearTimeout(timer);
        this.off('message', on);
        resolve(m);
      };
      this.on('message', on);
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) { resolve(); return; }
      this.socket.once('close', () => resolve());
      this.socket.resume();
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 200).unref();
    });
  }
}
