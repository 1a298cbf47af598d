// Waiting in tests for a process, a socket, a file or a peer to reach a state:
// one poll loop for every test file. The bound is generous and no assertion of
// speed: it only turns a hang into a failure that names what never came.

const POLL_MS = 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `probe` until it returns (or resolves to) something other than false and undefined, and resolves with that;
 * rejects with `Expected ${what} within ${ms} ms` once `ms` have passed without.
 */
export async function until<T>(probe: () => T | Promise<T>, what = 'the condition', ms = 30000): Promise<Exclude<T, false | undefined>> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== false && v !== undefined) return v as Exclude<T, false | undefined>;
    if (Date.now() > end) throw new Error(`Expected ${what} within ${ms} ms`);
    await sleep(POLL_MS);
  }
}

/** Polls `cond` for up to `ms`: true as soon as it holds, false if it never did (for `t.ok(await within(...), why)`). */
export async function within(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await sleep(POLL_MS);
  }
  return true;
}
