// Temporary output (a file or a report folder written under a temporary name,
// then renamed into place) must not outlive a Ctrl-C or a service stop.
// onInterrupt runs a synchronous clean-up when SIGINT or SIGTERM arrives, then
// lets the signal end the process as it would have (exit 130 for Ctrl-C).

/** Watches SIGINT and SIGTERM while temporary output exists; returns the function that stops watching. */
export function onInterrupt(cleanup: () => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  const stop = () => { for (const sig of signals) process.off(sig, onSignal); };
  function onSignal(signal: NodeJS.Signals): void {
    stop();
    cleanup();
    // With no listener left (every watcher removes its own), the signal's default action ends the process.
    process.kill(process.pid, signal);
  }
  for (const sig of signals) process.on(sig, onSignal);
  return stop;
}
