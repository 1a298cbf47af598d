// A client of an in-process Runtime over its Unix socket, as the integration
// tests use one: connected, said hello, subscribed, collecting its RESULTs.
import type { Test } from 'tap';
import { MessageType } from '../../src/protocol/constants.js';
import { parseResult, type ResultBody, type Subscribe } from '../../src/protocol/messages.js';
import type { Runtime } from '../../src/runtime/index.js';
import { SocketClient } from '../../src/transport/socket-client.js';

/**
 * Connects to `rt`'s socket (the client is closed at the end of `t`), says HELLO as `name` and SUBSCRIBEs with
 * `subscribe`; `results` receives every RESULT body, checked by the protocol's parseResult, in the order they arrive.
 */
export async function subscribedClient(t: Test, rt: Runtime, name: string, subscribe: Partial<Subscribe> = {}): Promise<{ c: SocketClient; results: ResultBody[] }> {
  const c = await SocketClient.connect(rt.server.path);
  t.teardown(() => c.close());
  await c.hello(name);
  await c.subscribe(subscribe);
  const results: ResultBody[] = [];
  c.on('message', (m) => { if (m.header.type === MessageType.RESULT) results.push(parseResult(m.body)); });
  return { c, results };
}
