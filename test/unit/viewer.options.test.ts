// The live viewer's options: serve's `viewer` section (defaults, the token a
// non-loopback host needs, errors with file, line and key) and
// ViewerServer.start's own checks (coded errors, nothing listening after one).
import t from 'tap';
import { ConfigError, parseServeConfig } from '../../src/config/index.js';
import type { ErrorCode } from '../../src/errors.js';
import { StreamManager } from '../../src/runtime/streams.js';
import { ViewerServer, type ViewerSource } from '../../src/viewer/server.js';

const streams = new StreamManager({ handler: () => Promise.reject(new Error('no frames in this test')) });
const source: ViewerSource = { publisher: streams.publisher, streams, observeFrames: () => () => undefined };

t.test('serve config: viewer is off by default; a section fills in its defaults', async (t) => {
  t.equal(parseServeConfig('{}', 'serve.yaml').viewer, null);
  t.equal(parseServeConfig('viewer:\n', 'serve.yaml').viewer, null, 'an empty section is off');
  t.same(parseServeConfig('viewer: {port: 8080}\n', 'serve.yaml').viewer, { port: 8080, host: '127.0.0.1', token: null, rate: 30, seconds: 10, quality: 70 });
  t.same(parseServeConfig('viewer: {port: 0, host: "0.0.0.0", token: "0123456789abcdef", rate: 15, seconds: 30, quality: 50}\n', 'serve.yaml').viewer,
    { port: 0, host: '0.0.0.0', token: '0123456789abcdef', rate: 15, seconds: 30, quality: 50 });
  t.equal(parseServeConfig('viewer: {port: 1, host: "127.0.0.2"}\n', 'serve.yaml').viewer?.host, '127.0.0.2', 'all of 127/8 is loopback');
});

t.test('serve config: bad viewer sections name the line and key', async (t) => {
  const fails = (text: string, line: number, key: string, message: RegExp) =>
    t.throws(() => parseServeConfig(text, 'serve.yaml'), { name: 'ConfigError', code: 'ERR_SONOEDGE_CONFIG', line, key, message });
  fails('socket: {}\nviewer:\n  port: 8080\n  host: 0.0.0.0\n', 4, 'viewer.token', /expected a token when viewer.host is not loopback but received host "0.0.0.0" and no token/);
  fails('viewer:\n  port: 8080\n  token: short\n', 3, 'viewer.token', /at least 16 characters/);
  fails('viewer:\n  port: 8080\n  rate: 0\n', 3, 'viewer.rate', /rate/);
  fails('viewer:\n  host: 127.0.0.1\n', 1, 'viewer', /port/);
  fails('viewer:\n  port: 8080\n  tokn: x\n', 3, 'viewer.tokn', /did you mean "token"/);
});

t.test('serve config: viewer.host is an address or a host name; a malformed one is named as such, token or not', async (t) => {
  const TOKEN = '0123456789abcdef';
  const host = (h: string, token?: string) =>
    parseServeConfig(`viewer:\n  port: 8080\n  host: "${h}"\n${token ? `  token: ${token}\n` : ''}`, 'serve.yaml').viewer?.host;
  for (const h of ['127.0.0.1', '::1', 'localhost']) t.equal(host(h), h, `${h}, no token`);
  for (const h of ['LOCALHOST', 'localhost.', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', '::1%lo']) t.equal(host(h), h, `${h}, loopback: no token`);
  for (const h of ['fe80::1%br_lan', `${`${'a'.repeat(63)}.`.repeat(3)}${'a'.repeat(61)}.`]) t.equal(host(h, TOKEN), h, `${h.slice(0, 20)}, with a token`);
  for (const h of ['10.0.0.5', '0.0.0.0', '::', 'fe80::1%eth0', 'cart7', 'cart7.example.org', 'my_cart']) t.equal(host(h, TOKEN), h, `${h}, with a token`);
  const refused = [
    ...['127.300.0.1', '10.300.0.1', '127.0.0', '127.0.0.01'].map((h) => [h, undefined] as const),
    ...['10.300.0.1', '127.0.0.256', '1.2.3.4.5', '[::1]', 'cart 7', '-cart', 'http://cart7'].map((h) => [h, TOKEN] as const),
  ];
  for (const [h, token] of refused) {
    const err = (() => { try { host(h, token); return undefined; } catch (e) { return e; } })();
    t.ok(err instanceof ConfigError, `${h}: a ConfigError`);
    t.match(err, {
      code: 'ERR_SONOEDGE_CONFIG', file: 'serve.yaml', line: 3, key: 'viewer.host',
      message: `serve.yaml:3: viewer.host: expected an IPv4 or IPv6 address or a host name but received "${h}"`,
    }, `${h}, ${token ? 'with a token' : 'no token'}`);
  }
});

t.test('ViewerServer.start checks its options (coded) and listens on nothing after a refusal', async (t) => {
  // A member of the ErrorCode union (typecheck fails otherwise).
  const code: ErrorCode = 'ERR_SONOEDGE_VIEWER_OPTION';
  const bad = async (o: object, message: RegExp, name = 'RangeError') =>
    t.rejects(ViewerServer.start(source, o as never), { name, code, message });
  await bad({ port: 0, host: '0.0.0.0' }, /^Expected viewer.token when viewer.host is not loopback but received host "0.0.0.0" and no token$/);
  await bad({ port: 0, token: 'short' }, /^Expected a string of at least 16 characters for viewer.token but received 5 characters$/);
  await bad({ port: 70000 }, /^Expected an integer 0..65535 for viewer.port but received 70000$/);
  await bad({ port: 0, rate: 0 }, /^Expected a number 0.1..240 for viewer.rate but received 0$/);
  await bad({ port: 0, quality: 101 }, /^Expected a number 1..100 for viewer.quality but received 101$/);
  await bad({ port: 0, qualityGate: 0.5, qualityGateExit: 0.6 }, /^Expected a number 0..0.5 for viewer.qualityGateExit but received 0.6$/);
  await bad(null as unknown as object, /^Expected an object for viewer options but received null$/, 'TypeError');
  const v = await ViewerServer.start(source, { port: 0 });
  t.match(v.url, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'loopback, no token: a plain URL');
  // A port in use: Node's bare EADDRINUSE named neither the viewer nor the key.
  await t.rejects(ViewerServer.start(source, { port: v.port }), {
    name: 'Error', code: 'ERR_SONOEDGE_LISTEN',
    message: `Expected to listen for the viewer (viewer.port) on 127.0.0.1:${v.port} but could not: listen EADDRINUSE: address already in use 127.0.0.1:${v.port}`,
  });
  await v.close();
  await v.close();
  t.pass('close is idempotent');
});

t.test('ViewerServer.start: host is an address or a host name, checked before the token rule; a malformed one is named as such, token or not', async (t) => {
  const TOKEN = '0123456789abcdef';
  const refused = [
    ...['127.300.0.1', '127.0.0', '127.0.0.01', ''].map((h) => [h, undefined] as const),
    ...['10.300.0.1', '127.0.0.256', '1.2.3.4.5', '[::1]', 'cart 7', '-cart', 'http://cart7'].map((h) => [h, TOKEN] as const),
  ];
  const refusal = async (host: unknown, token?: string) => {
    try { await (await ViewerServer.start(source, { port: 0, host: host as string, token })).close(); return undefined; } catch (e) { return e as Error; }
  };
  for (const [host, token] of refused) {
    const err = await refusal(host, token);
    t.ok(err instanceof RangeError, `${JSON.stringify(host)}: a RangeError`);
    t.equal((err as { code?: string } | undefined)?.code, 'ERR_SONOEDGE_VIEWER_OPTION', `${JSON.stringify(host)}: code`);
    t.equal(err?.message, `Expected an IPv4 or IPv6 address or a host name for viewer.host but received ${JSON.stringify(host)} of type string`,
      `${JSON.stringify(host)}, ${token ? 'with a token' : 'no token'}`);
  }
  const err = await refusal(7, TOKEN);
  t.ok(err instanceof RangeError, 'a number: a RangeError');
  t.equal(err?.message, 'Expected an IPv4 or IPv6 address or a host name for viewer.host but received 7 of type number', 'a number');
  for (const [host, token] of [['127.0.0.1', undefined], ['localhost', undefined], ['0.0.0.0', TOKEN]] as const) {
    const v = await ViewerServer.start(source, { port: 0, host, token });
    t.match(v.url, new RegExp(`^http://${host.replace(/\./g, '\\.')}:\\d+/`), `${host}, ${token ? 'with a token' : 'no token'}: listening`);
    await v.close();
  }
});
