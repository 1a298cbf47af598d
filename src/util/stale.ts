// Temporaries left by a process that was killed outright (SIGKILL, a cart
// switched off mid-write): no signal handler ran, so nothing removed them. Each
// writer names its temporaries with its process id; at its start it removes
// those of its own pattern, in its own folder, whose process is gone. A live
// process's temporaries (another writer of the same folder) are never touched,
// nor any other file; an entry that is a link is removed as a link, never
// followed.
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';

/** Whether process `pid` is running (kill(pid, 0): ESRCH when there is none; EPERM is another user's live process). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Removes the entries of `dir` whose whole name matches `pattern` (its first group the writer's process id) and whose
 * process is gone; returns their names. A folder is removed with what it holds; a link is removed, not followed. A
 * `dir` that cannot be listed removes nothing (the writer's own error comes when it writes).
 */
export function removeStale(dir: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (m === null || m[0] !== name) continue;
    const pid = Number(m[1]);
    // 0 and -1 would be a process group or every process: never a writer's id.
    if (!Number.isSafeInteger(pid) || pid <= 0 || alive(pid)) continue;
    try {
      rmSync(path.join(dir, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // Another process removed or is removing it; what is left is tried again at the next start.
    }
  }
  return removed;
}

/** `s` as a regular expression matching itself. */
export const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The temporary name .NAME.PID.partial that the output writers use (the PID in group 1), as a pattern for removeStale. */
export const stalePattern = (name: string): RegExp => new RegExp(`^\\.${escapeRegExp(name)}\\.(\\d+)\\.partial$`);
