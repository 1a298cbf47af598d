// Temporary output (a file or a report folder written under a temporary name,
// then renamed into place) must not outlive a Ctrl-C or a service stop.
// onInterrupt runs a synchronous clean-up when SIGINT or SIGTERM arrives, then
// lets the signal end the process as it would have (exit 130 for Ctrl-C).
import { rmSync } from 'node:fs';

/**
 * Watches SIGINT and SIGTERM while temporary output exists; returns the function that stops watching. A clean-up
 * that throws is reported on stderr and the signal still ends the process as it would have (a throw from a signal
 * listener would end it as an uncaught exception instead).
 */
export function onInterrupt(cleanup: () => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const stop = () => { for (const sig of signals) process.off(sig, onSignal); };
  function onSignal(signal: NodeJS.Signals): void {
    stop();
    try {
      cleanup();
    } catch (err) {
      process.stderr.write(`sonoedge: the clean-up on ${signal} failed: ${(err as Error).message}\n`);
    }
    // With no listener left (every watcher removes its own), the signal's default action ends the process.
    process.kill(process.pid, signal);
  }
  for (const sig of signals) process.on(sig, onSignal);
  return stop;
}

/**
 * Removes the folder `dir` and everything in it, synchronously (for an onInterrupt clean-up). A write still in
 * flight on libuv's thread pool can add a file after the listing and before the folder's rmdir, which then fails
 * with ENOTEMPTY; the next try lists the folder again (rmSync's own maxRetries repeats only the rmdir, without
 * listing again). Up to `tries` tries; another error is thrown at once.
 */
export function removeTreeSync(dir: string, tries = 5, remove: (dir: string) => void = (d) => rmSync(d, { recursive: true, force: true })): void {
  for (let i = 1; ; i++) {
    try {
      remove(dir);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' || i >= tries) throw err;
    }
  }
}
