// Small predicates shared by every validator.
import { BlockList, isIP } from 'node:net';

export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
export const isNumber = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
export const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isInteger = (v: unknown): v is number => Number.isInteger(v);
export const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
export const isString = (v: unknown): v is string => typeof v === 'string';
export const inRange = (v: number, lo: number, hi: number): boolean => v >= lo && v <= hi;
export const isBytes = (v: unknown): v is ArrayBufferView | ArrayBuffer =>
  ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
/**
 * A loopback host name or address: localhost, ::1 or 127.x.x.x, each x a decimal 0..255 without leading zeros (a
 * well-formed IPv4 address: 127.300.0.1 is no address, and listening on it fails).
 */
export const isLoopback = (host: string): boolean => /^(127(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}|::1|localhost)$/.test(host);
/** Labels of letters, digits, hyphens and underscores (not first or last a hyphen), the last one not all digits. */
const HOST_NAME = /^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*(?!\d+\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;
/**
 * A host to listen on or connect to: an IPv4 or IPv6 address as net.isIP takes it (dotted decimal, each part 0..255
 * without leading zeros; IPv6 with or without a %zone), or a host name of at most 253 characters in labels of 1..63
 * (RFC 1123, underscores allowed as resolvers do, an optional final dot). A name's last label is never all digits,
 * so a malformed address such as 10.300.0.1 or 10.0.0 is neither.
 */
export const isHost = (host: string): boolean => isIP(host) !== 0 || (host.length <= 253 && HOST_NAME.test(host));
/** 0.0.0.0 and :: in any of their spellings (::0, 0:0::0, ::ffff:0.0.0.0). */
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');
/** The unspecified address (0.0.0.0, :: in any spelling): one to listen on (every interface), never a peer's. */
export const isUnspecified = (host: string): boolean => {
  const family = isIP(host);
  return family !== 0 && UNSPECIFIED.check(host, family === 4 ? 'ipv4' : 'ipv6');
};
