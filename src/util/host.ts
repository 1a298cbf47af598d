// The one rule for a host a user gives: the socket's tcp.host, metrics.host, viewer.host, the OpenIGTLink bridge's
// host, the PACS's host, in code and in the serve config. Worded once, so that the same bad host gets the same
// message everywhere; each caller throws it with its own error class and code.
import { describe } from '../errors.js';
import { isHost, isLoopback, isUnspecified } from './is.js';

/**
 * What a host is for: `any`, one to listen on or connect to (an address or a host name, isHost); `loopback`, one to
 * listen on that only this machine reaches (isLoopback); `peer`, one to connect to, so never the unspecified address
 * (0.0.0.0, ::), which only a server listens on (isUnspecified).
 */
export type HostUse = 'any' | 'loopback' | 'peer';

const ADDRESS = 'an IPv4 or IPv6 address or a host name';
const LOOPBACK = 'a loopback address (127.x.x.x, ::1 or localhost)';

/**
 * What a host for `use` should have been, when `host` is not one (a value of another type than string never is), or
 * undefined when it is. A peer's host that is no address or host name at all is named as such first; `whose` names the
 * peer in the rule for the unspecified address (default "the peer's"; the PACS's: "the PACS's").
 */
export function hostExpected(host: unknown, use: HostUse, whose = "the peer's"): string | undefined {
  if (use === 'loopback') return typeof host === 'string' && isLoopback(host) ? undefined : LOOPBACK;
  if (typeof host !== 'string' || !isHost(host)) return ADDRESS;
  return use === 'peer' && isUnspecified(host) ? `${whose} address or host name (not an address to listen on)` : undefined;
}

/**
 * `Expected <hostExpected> for <name> but received <describe(host)>` (the received value with its type), or undefined
 * for a host that keeps the rule: `Expected a loopback address (127.x.x.x, ::1 or localhost) for tcp.host but received
 * "0.0.0.0" of type string`.
 */
export function hostProblem(host: unknown, use: HostUse, name: string, whose?: string): string | undefined {
  const expected = hostExpected(host, use, whose);
  return expected === undefined ? undefined : `Expected ${expected} for ${name} but received ${describe(host)}`;
}
