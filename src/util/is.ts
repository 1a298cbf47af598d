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
 * An IP address's family and its address without a %zone, or undefined for anything else. The zone is any run of
 * characters other than whitespace, % and / (as listen and connect take it: fe80::1%br_lan, where net.isIP's zone
 * has no underscore).
 */
const ipOf = (host: string): { address: string; family: 'ipv4' | 'ipv6' } | undefined => {
  const zoned = /^([^%]+)%[^\s%/]+$/.exec(host);
  const address = zoned ? zoned[1]! : host;
  const family = isIP(address);
  if (family === 4 && !zoned) return { address, family: 'ipv4' };
  return family === 6 ? { address, family: 'ipv6' } : undefined;
};
/** 127.0.0.0/8, ::1 and the IPv4-mapped ::ffff:127.0.0.0/104, in any spelling net.isIP takes. */
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');
LOOPBACK.addSubnet('::ffff:127.0.0.0', 104, 'ipv6');
/**
 * A loopback host name or address: localhost in any case, with or without a final dot; 127.x.x.x, each x a decimal
 * 0..255 without leading zeros as net.isIP has it (127.300.0.1 is no address, and listening on it fails); ::1 in any
 * spelling (0:0:0:0:0:0:0:1); 127.x.x.x mapped into IPv6 (::ffff:127.0.0.1).
 */
export const isLoopback = (host: string): boolean => {
  if (/^localhost\.?$/i.test(host)) return true;
  const ip = ipOf(host);
  return ip !== undefined && LOOPBACK.check(ip.address, ip.family);
};
/** Labels of letters, digits, hyphens and underscores (not first or last a hyphen), the last one not all digits. */
const HOST_NAME = /^([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*(?!\d+\.?$)[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?$/i;
/**
 * A host to listen on or connect to: an IPv4 or IPv6 address as net.isIP takes it (dotted decimal, each part 0..255
 * without leading zeros; IPv6 with or without a %zone as ipOf takes it),
 * or a host name of at most 253 characters (not counting a final dot) in labels of 1..63
 * (RFC 1123, underscores allowed as resolvers do, an optional final dot). A name's last label is never all digits,
 * so a malformed address such as 10.300.0.1 or 10.0.0 is neither.
 */
export const isHost = (host: string): boolean => {
  if (ipOf(host) !== undefined) return true;
  return host.length - (host.endsWith('.') ? 1 : 0) <= 253 && HOST_NAME.test(host);
};
/** 0.0.0.0 and :: in any of their spellings (::0, 0:0::0, ::ffff:0.0.0.0). */
const UNSPECIFIED = new BlockList();
UNSPECIFIED.addAddress('0.0.0.0', 'ipv4');
UNSPECIFIED.addAddress('::', 'ipv6');
/** The unspecified address (0.0.0.0, :: in any spelling): one to listen on (every interface), never a peer's. */
export const isUnspecified = (host: string): boolean => {
  const ip = ipOf(host);
  return ip !== undefined && UNSPECIFIED.check(ip.address, ip.family);
};
