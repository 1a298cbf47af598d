// Listening on a TCP port for a part of sonoedge (the socket's TCP, the viewer):
// Node's own EADDRINUSE or EACCES names no part of sonoedge nor the key to
// change, so a failure is one coded Error that does.
import type { Server } from 'node:net';
import { coded, type ErrorCode } from '../errors.js';

/** Listens on host:port; a failure rejects with `Expected to listen for <what> on host:port but could not: <why>`. */
export function listenOn(server: Server, port: number, host: string, what: string, code: ErrorCode): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = (err: Error) => reject(coded(new Error(`Expected to listen for ${what} on ${host}:${port} but could not: ${err.message}`), code));
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      resolve();
    });
  });
}
