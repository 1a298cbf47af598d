// Loopback networking for tests.
import net from 'node:net';

/** A TCP port free on 127.0.0.1 now (a probe server listens on port 0 and closes). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}
