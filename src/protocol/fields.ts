// Reads and checks the fields of a decoded MessagePack map. Unknown keys are
// ignored (forward compatibility); a missing required key or a wrong type is
// a BAD_FIELD ProtocolError: "Expected X for MESSAGE.field but received Y".
import { isObject } from '../util/is.js';
import { fieldError } from './errors.js';

export class Fields {
  readonly #body: Record<string, unknown>;
  readonly #prefix: string;
  readonly #extra: { seq?: number; type?: number };

  constructor(body: unknown, prefix: string, extra: { seq?: number; type?: number } = {}) {
    if (!isObject(body)) throw fieldError('BAD_BODY', 'a MessagePack map', prefix, body, extra);
    this.#body = body;
    this.#prefix = prefix;
    this.#extra = extra;
  }

  #fail(expected: string, key: string, v: unknown): never {
    throw fieldError('BAD_FIELD', expected, `${this.#prefix}.${key}`, v, this.#extra);
  }

  has(key: string): boolean {
    return this.#body[key] !== undefined && this.#body[key] !== null;
  }

  uint(key: string, max = 0xffffffff, min = 0): number {
    const v = this.#body[key];
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) {
      this.#fail(min === 0 ? `integer 0..${max}` : `integer ${min}..${max}`, key, v);
    }
    return v as number;
  }

  optUint(key: string, max = 0xffffffff, min = 0): number | undefined {
    return this.has(key) ? this.uint(key, max, min) : undefined;
  }

  /**
   * A finite number from lo to hi; NaN and Infinity are never taken, and the message says so: `Expected finite number in
   * [0.1, 1000] for CONFIGURE_STREAM.fps but received NaN of type number` (`finite number >= 0` for a range open above).
   */
  num(key: string, lo = -Infinity, hi = Infinity): number {
    const v = this.#body[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi) this.#fail(finiteIn(lo, hi), key, v);
    return v;
  }

  optNum(key: string, lo = -Infinity, hi = Infinity): number | undefined {
    return this.has(key) ? this.num(key, lo, hi) : undefined;
  }

  str(key: string, maxLen = 1024): string {
    const v = this.#body[key];
    if (typeof v !== 'string' || v.length > maxLen) this.#fail(`string of at most ${maxLen} characters`, key, v);
    return v;
  }

  optStr(key: string, maxLen = 1024): string | undefined {
    return this.has(key) ? this.str(key, maxLen) : undefined;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T {
    const v = this.#body[key];
    if (typeof v !== 'string' || !allowed.includes(v as T)) this.#fail(`one of ${allowed.join(', ')}`, key, v);
    return v as T;
  }

  bool(key: string, dflt: boolean): boolean {
    if (!this.has(key)) return dflt;
    const v = this.#body[key];
    if (typeof v !== 'boolean') this.#fail('boolean', key, v);
    return v;
  }

  uintArray(key: string, max = 0xffffffff, maxItems = 256): number[] {
    const v = this.#body[key];
    if (!Array.isArray(v) || v.length > maxItems || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= max)) {
      this.#fail(`array of at most ${maxItems} integers 0..${max}`, key, v);
    }
    return v as number[];
  }

  /** An array (of `length` items) of finite numbers; an item that is not one is named with its index and value (`spacing[1]`, NaN). */
  numArray(key: string, length?: number): number[] {
    const v = this.#body[key];
    if (!Array.isArray(v) || (length !== undefined && v.length !== length)) {
      this.#fail(length === undefined ? 'array of finite numbers' : `array of ${length} finite numbers`, key, v);
    }
    v.forEach((x: unknown, i) => { if (typeof x !== 'number' || !Number.isFinite(x)) this.#fail('finite number', `${key}[${i}]`, x); });
    return v as number[];
  }

  strArray<T extends string>(key: string, allowed?: readonly T[]): T[] {
    const v = this.#body[key];
    if (!Array.isArray(v) || v.length > 64 || !v.every((x) => typeof x === 'string' && (!allowed || allowed.includes(x as T)))) {
      this.#fail(allowed ? `array of ${allowed.join(', ')}` : 'array of strings', key, v);
    }
    return v as T[];
  }

  bytes(key: string): Uint8Array {
    const v = this.#body[key];
    if (!(v instanceof Uint8Array)) this.#fail('MessagePack bin', key, v);
    return v;
  }

  map(key: string): Fields {
    return new Fields(this.#body[key], `${this.#prefix}.${key}`, this.#extra);
  }

  numMap(key: string): Record<string, number> {
    const v = this.#body[key];
    if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'number')) this.#fail('map of string to number', key, v);
    return v as Record<string, number>;
  }
}

/** Fields.num's expectation: `finite number`, with its range (`in [lo, hi]`, `>= lo`, `<= hi`) when it has one. */
function finiteIn(lo: number, hi: number): string {
  if (lo === -Infinity) return hi === Infinity ? 'finite number' : `finite number <= ${hi}`;
  return hi === Infinity ? `finite number >= ${lo}` : `finite number in [${lo}, ${hi}]`;
}
