// The runtime's side of a shared-memory frame ring (docs/PROTOCOL.md,
// "Shared-memory frames"). The firmware writes a frame into a slot it owns
// and sends FRAME_READY; from then on the runtime holds the slot and reads
// the frame in place, through a Uint8Array view of the mapping made once per
// slot (no copy, no allocation per frame), until it releases it.
//
// The mapping is read-only: the runtime never writes a slot. close() detaches
// the ArrayBuffer (every slot view then has length 0, so a stale view reads
// nothing rather than freed memory) and unmaps at once; callers close only
// when no slot is held, so no native reader is still on the pages. A ring the
// runtime created is unlinked when closed.
import { randomBytes } from 'node:crypto';
import { native, type NativeShmError, type NativeShmMapping } from '../native.js';
import { Ring } from '../protocol/constants.js';
import { ProtocolError } from '../protocol/errors.js';
import { checkRingHeader, checkSlotFits, encodeRingHeader, ringBytes, slotOffset, type RingInfo } from '../protocol/ring.js';

type X = { seq?: number; type?: number };

/**
 * Turns a native ShmMapping failure into the RING error the firmware sees.
 * The error keeps the addon's error as `cause`, and its message ends with the
 * addon's code: `(ERR_SONOEDGE_SHM_OPEN ENOENT: shm_open /NAME: No such file
 * or directory)` for a failed system call (code, errno name, the addon's
 * message), `(ERR_SONOEDGE_SHM_SIZE)` for a check of the addon's own.
 */
function ringError(err: unknown, name: string, need: number, x: X): ProtocolError {
  const e = err as NativeShmError;
  const field = 'CONFIGURE_STREAM.ring.name';
  const code = typeof e?.code === 'string' ? e.code : (e as Error | undefined)?.name ?? 'Error';
  const native = e?.errno ? `(${code} ${e.errno}: ${e.message})` : `(${code})`;
  const ring = (message: string) => new ProtocolError('RING', `${message} ${native}`, x, { cause: err });
  switch (`${e?.code}:${e?.errno}`) {
    case 'ERR_SONOEDGE_SHM_OPEN:ENOENT':
      return ring(`Expected an existing shared-memory object for ${field} but received "${name}", not under /dev/shm`);
    case 'ERR_SONOEDGE_SHM_OPEN:EACCES':
      return ring(`Expected a shared-memory object the runtime (uid ${process.getuid?.() ?? '?'}) may read for ${field} but received "${name}"`);
    case 'ERR_SONOEDGE_SHM_NOT_REGULAR:':
      return ring(`Expected a regular file for ${field} but received "${name}", which is not one`);
    case 'ERR_SONOEDGE_SHM_SIZE:':
      return ring(`Expected at least ${need} bytes (4096 + slots x slotBytes) in ring "${name}" but received ${e.size}`);
    default:
      // A failure without an errno (not one of the addon's checks) still names what the addon said.
      return ring(`Expected to map ring "${name}" but received an error${e?.errno ? '' : `: ${e?.message}`}`);
  }
}

export class ShmRing {
  readonly name: string;
  readonly slots: number;
  readonly slotBytes: number;
  /** True when the runtime made the object (and unlinks it on close). */
  readonly created: boolean;
  readonly #map: NativeShmMapping;
  /** Strong reference: the mapping lives while the ring is open even if no view is. */
  readonly #buffer: ArrayBuffer;
  #views: Uint8Array[] = [];
  /** 1 where the runtime holds the slot (between FRAME_READY and SLOT_RELEASE). */
  readonly #held: Uint8Array;
  #heldCount = 0;
  #closed = false;
  #onFree: Array<() => void> = [];

  private constructor(info: RingInfo, created: boolean, map: NativeShmMapping, frameBytes: number) {
    this.name = info.name;
    this.slots = info.slots;
    this.slotBytes = info.slotBytes;
    this.created = created;
    this.#map = map;
    this.#buffer = map.buffer!;
    this.#held = new Uint8Array(info.slots);
    this.setFrameBytes(frameBytes);
  }

  /** Maps a ring the firmware created; RING errors name what is wrong with it. Nothing is left open on failure. */
  static open(info: RingInfo, frameBytes: number, x: X = {}): ShmRing {
    checkSlotFits(frameBytes, info.slotBytes, x);
    const need = ringBytes(info.slots, info.slotBytes);
    let map: NativeShmMapping;
    try {
      map = new (native().ShmMapping)(info.name, need, false, null, 0);
    } catch (err) {
      throw ringError(err, info.name, need, x);
    }
    try {
      checkRingHeader(new Uint8Array(map.buffer!, 0, Ring.HEADER_BYTES), info, x);
    } catch (err) {
      map.close();
      throw err;
    }
    return new ShmRing(info, false, map, frameBytes);
  }

  /** Creates a ring for the firmware (CONFIGURE_STREAM ring.create): a fresh name, permission bits `mode`. */
  static create(req: { slots: number; slotBytes?: number }, frameBytes: number, mode: number, x: X = {}): ShmRing {
    const slotBytes = req.slotBytes ?? Math.max(Ring.ALIGN, Math.ceil(frameBytes / Ring.ALIGN) * Ring.ALIGN);
    checkSlotFits(frameBytes, slotBytes, x);
    const info: RingInfo = { name: `/sonoedge-${process.pid}-${randomBytes(6).toString('hex')}`, slots: req.slots, slotBytes };
    const need = ringBytes(info.slots, slotBytes);
    try {
      return new ShmRing(info, true, new (native().ShmMapping)(info.name, need, true, encodeRingHeader(info), mode), frameBytes);
    } catch (err) {
      throw ringError(err, info.name, need, x);
    }
  }

  get info(): RingInfo {
    return { name: this.name, slots: this.slots, slotBytes: this.slotBytes };
  }

  /** Slots the runtime holds now. */
  get held(): number {
    return this.#heldCount;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Re-makes the slot views for a new frame size (a reconfigure that keeps the ring); a frame larger than a slot changes nothing. */
  setFrameBytes(frameBytes: number, x: X = {}): void {
    checkSlotFits(frameBytes, this.slotBytes, x);
    this.#views = Array.from({ length: this.slots }, (_, i) => new Uint8Array(this.#buffer, slotOffset(i, this.slotBytes), frameBytes));
  }

  /** Takes slot `slot` for the runtime (FRAME_READY); its frame, in place. SLOT error when out of range or already held. */
  hold(slot: number, stream: number, x: X = {}): Uint8Array {
    if (this.#closed) throw new ProtocolError('RING', `Expected an open ring for stream ${stream} but received FRAME_READY after ring ${this.name} closed`, x);
    if (!(Number.isInteger(slot) && slot >= 0 && slot < this.slots)) {
      throw new ProtocolError('SLOT', `Expected a slot 0..${this.slots - 1} of stream ${stream} but received ${slot}`, x);
    }
    if (this.#held[slot] === 1) {
      throw new ProtocolError('SLOT', `Expected a slot the firmware owns for FRAME_READY on stream ${stream} but received slot ${slot}, which the runtime holds until its SLOT_RELEASE`, x);
    }
    this.#held[slot] = 1;
    this.#heldCount++;
    return this.#views[slot];
  }

  /** Gives a held slot back; false when it was not held. */
  release(slot: number): boolean {
    if (this.#held[slot] !== 1) return false;
    this.#held[slot] = 0;
    this.#heldCount--;
    if (this.#heldCount === 0) for (const resolve of this.#onFree.splice(0)) resolve();
    return true;
  }

  /** Resolves once no slot is held. */
  whenFree(): Promise<void> {
    if (this.#heldCount === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onFree.push(resolve));
  }

  /** Detaches the slot views and unmaps (unlinking a ring the runtime created). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#views = [];
    this.#map.close();
    if (this.created) {
      try { native().shmUnlink(this.name); } catch { /* already gone: nothing to clean */ }
    }
  }
}
