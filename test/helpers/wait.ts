// Waiting in tests for a process, a socket, a file or a peer to reach a state:
// one poll loop for every test file. The bound is generous and no assertion of
// speed: it only turns a hang into a failure that names what never came.

import { spawn } from 'node:child_process';

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

export interface Exited { status: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Runs `node` with `args` to its exit, as spawnSync would, without blocking this process: the child is killed
 * (SIGKILL) after `ms`, or by the test's teardown if the test ends first (a tap timeout included), so a test that
 * fails or is stopped leaves no process behind, where a blocked spawnSync's child outlives its killed parent.
 */
export function runToExit(t: { teardown(fn: () => void): void }, args: readonly string[], cwd: string, ms = 60000): Promise<Exited> {
  const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); };
  t.teardown(kill);
  const timer = setTimeout(kill, ms);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  return new Promise((resolve, reject) => {
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (status, signal) => { clearTimeout(timer); resolve({ status, signal, stdout, stderr }); });
  });
}
