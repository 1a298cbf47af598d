// Output paths named on the command line (--out FILE, --report DIR): checked
// before any work, so a path that cannot be written is one UsageError (exit 2)
// and not a stack trace after the run; a file is written beside its final name
// and renamed into place only when the command succeeds, so a failed run
// leaves neither a partial file nor an empty one (and an earlier file stays).
// A set of files (bench --out, replay --capture's captures.json) is written
// the same way by writeFiles: all of them, or none. Temporaries of the same
// name left by a process killed outright (SIGKILL, power lost) are removed at
// the next start of a writer of that name, once their process is gone.
import { constants, copyFileSync, createWriteStream, linkSync, lstatSync, openSync, renameSync, rmSync, type WriteStream } from 'node:fs';
import { access, mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './args.js';
import { onInterrupt, removeTreeSync } from '../util/interrupt.js';
import { removeStale, stalePattern } from '../util/stale.js';

const errno = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EACCES';

/** Why `p` cannot be written as a file (an errno code), or undefined when it can. */
async function fileProblem(p: string): Promise<string | undefined> {
  const st = await stat(p).catch((err: unknown) => errno(err));
  if (typeof st === 'string' && st !== 'ENOENT') return st;
  if (typeof st !== 'string' && st.isDirectory()) return 'EISDIR';
  // The file is written beside its final name, then renamed: its folder must take a new file.
  return access(path.dirname(path.resolve(p)), constants.W_OK).then(() => undefined, errno);
}

/** Why `dir` cannot be made or written as a folder (an errno code), or undefined when it can. */
async function folderProblem(dir: string): Promise<string | undefined> {
  let p = path.resolve(dir);
  for (;;) {
    const st = await stat(p).catch((err: unknown) => errno(err));
    if (st === 'ENOENT' && path.dirname(p) !== p) {
      // Made by the writer (mkdir -p): what counts is the nearest folder that exists.
      p = path.dirname(p);
      continue;
    }
    if (typeof st === 'string') return st;
    if (!st.isDirectory()) return 'ENOTDIR';
    return access(p, constants.W_OK).then(() => undefined, errno);
  }
}

/** A UsageError unless `--flag FILE` can be written. */
export async function checkOutputFile(flag: string, file: string): Promise<void> {
  const why = await fileProblem(file);
  if (why !== undefined) throw new UsageError(`option --${flag} expects a file sonoedge can write but received ${JSON.stringify(file)} (${why})`);
}

/** A UsageError unless `--flag DIR` can be made (with its parents) and written. */
export async function checkOutputFolder(flag: string, dir: string): Promise<void> {
  const why = await folderProblem(dir);
  if (why !== undefined) throw new UsageError(`option --${flag} expects a folder sonoedge can write but received ${JSON.stringify(dir)} (${why})`);
}

/** A file written under a temporary name beside `file`: commit() renames it into place, discard() removes it. */
export interface PendingFile {
  stream: WriteStream;
  /** Ends the stream (rejecting with any write error) and leaves the file under its temporary name. */
  end(): Promise<void>;
  commit(): Promise<void>;
  discard(): Promise<void>;
}

export function pendingFile(file: string): PendingFile {
  // Only a plain file (or a new one) is replaced by a rename; a link, a device or a pipe (/dev/stdout is a
  // link to one) is written through as it is, or the rename would put a file where the link was.
  const existing = lstatSync(file, { throwIfNoEntry: false });
  const direct = existing !== undefined && !existing.isFile();
  const tmp = direct ? file : path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.partial`);
  // A temporary file of this name left by a process killed outright (SIGKILL, power lost) goes; a live one's stays.
  if (!direct) removeStale(path.dirname(file), stalePattern(path.basename(file)));
  // The temporary file is created here, synchronously, not by the stream on the thread pool: an open still in flight
  // when Ctrl-C removes the file would create it again after the removal, and the process would end leaving it.
  const stream = direct ? createWriteStream(tmp) : createWriteStream(tmp, { fd: openSync(tmp, 'w') });
  // Interrupted (Ctrl-C, a service stop): the temporary file goes, then the signal does what it would have done.
  const done = onInterrupt(() => {
    if (!direct) rmSync(tmp, { force: true });
  });
  let failure: Error | undefined;
  // Without a listener a failed write (a full disk) is an uncaught 'error' event; end() reports it instead.
  stream.on('error', (err) => {
    failure ??= err;
  });
  const end = () => new Promise<void>((resolve, reject) => {
    if (stream.closed || stream.destroyed) {
      if (failure) reject(failure);
      else resolve();
      return;
    }
    stream.end((err?: Error | null) => (err ?? failure ? reject(err ?? failure) : resolve()));
  });
  return {
    stream,
    end,
    async commit() {
      await end();
      if (!direct) await rename(tmp, file);
      done();
    },
    async discard() {
      done();
      // Closed before removed (a device or pipe written through may still be opening).
      if (!stream.closed) await new Promise<void>((resolve) => stream.once('close', () => resolve()).destroy());
      if (!direct) await rm(tmp, { force: true });
    },
  };
}

/**
 * Writes `files` (name to contents) into `dir` all or nothing: each is written in dir/.NAME.PID.partial (NAME the
 * first file's) and the set is renamed into place only when every one is written, with synchronous renames; a
 * rename that fails puts back the files already replaced (their earlier contents were kept aside). A failure (a
 * full disk, a folder where a file must go) or Ctrl-C midway leaves the earlier files as they were and no
 * temporary folder; a reader never sees a file half written. A process killed outright leaves its temporary
 * folder: the next writeFiles of the same NAME removes those whose process is gone. Nothing else in `dir` is
 * touched. `what` names the files in a failure's message.
 */
export async function writeFiles(dir: string, files: readonly (readonly [name: string, contents: string | Uint8Array])[], what: string): Promise<void> {
  const first = files[0]?.[0] ?? 'files';
  const stage = path.join(dir, `.${first}.${process.pid}.partial`);
  const stopWatching = onInterrupt(() => removeTreeSync(stage));
  try {
    await mkdir(dir, { recursive: true });
    // Temporary folders of this name left by a process killed outright (SIGKILL, power lost) go; a live one's stay.
    removeStale(dir, stalePattern(first));
    await rm(stage, { recursive: true, force: true });
    await mkdir(path.join(stage, 'new'), { recursive: true });
    await mkdir(path.join(stage, 'earlier'));
    for (const [name, contents] of files) await writeFile(path.join(stage, 'new', name), contents);
    swapIn(dir, stage, files.map(([name]) => name));
  } catch (err) {
    // Node's own message ("EISDIR: illegal operation on a directory, rename ...") does not say what became of the earlier files.
    const e = err as NodeJS.ErrnoException;
    if (typeof e.syscall === 'string') e.message = `Expected to write ${what} in ${dir} but received ${e.message}; what was there before is unchanged`;
    throw err;
  } finally {
    stopWatching();
    await rm(stage, { recursive: true, force: true });
  }
}

/** Renames stage/new/NAME over dir/NAME for each name; an earlier file or link is kept in stage/earlier to be put back. */
function swapIn(dir: string, stage: string, names: string[]): void {
  const done: { name: string; earlier: boolean }[] = [];
  try {
    for (const name of names) {
      const final = path.join(dir, name);
      const aside = path.join(stage, 'earlier', name);
      // The earlier file (or link) stays in place until the rename replaces it: a hard link to it (a copy of a file
      // where links are not supported) keeps it to put back. A folder there is not replaced: the rename fails.
      const st = lstatSync(final, { throwIfNoEntry: false });
      const earlier = st !== undefined && !st.isDirectory();
      if (earlier) {
        try {
          linkSync(final, aside);
        } catch (err) {
          if (!st!.isFile()) throw err;
          copyFileSync(final, aside);
        }
      }
      renameSync(path.join(stage, 'new', name), final);
      done.push({ name, earlier });
    }
  } catch (err) {
    for (const { name, earlier } of done.reverse()) {
      const final = path.join(dir, name);
      if (earlier) renameSync(path.join(stage, 'earlier', name), final);
      else rmSync(final, { force: true });
    }
    throw err;
  }
}
