// A real Storage SCP that answers the C-STORE status a test chooses (a refusal,
// "out of resources", a warning): pynetdicom (PyPI), run from training/.venv
// through test/helpers/storescp_peer.py. Orthanc and dcmtk's storescp cannot
// be made to refuse. Tests that need it skip, saying why, when the module is
// not installed there.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENV_PYTHON } from './pydicom-examples.js';
import { until } from './wait.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const STORESCP_SCRIPT = path.join(here, 'storescp_peer.py');

/** Why pynetdicom cannot run here, or undefined when it can. */
export function pynetdicomMissing(): string | undefined {
  const r = spawnSync(VENV_PYTHON, ['-c', 'import pynetdicom'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  return `pynetdicom is not installed in training/.venv (training/.venv/bin/pip install pynetdicom==3.0.4): ${(r.stderr || String(r.error)).trim().split('\n').pop()}`;
}

/** One C-STORE the peer answered, as it printed it. */
export interface StoreSeen { n: number; sopClass: string; sopInstance: string; callingAet: string; status: number }

export interface StoreScp {
  proc: ChildProcess;
  port: number;
  aet: string;
  /** The C-STOREs answered so far, in order. */
  stores: StoreSeen[];
  /** Kills it (SIGKILL) and resolves once it is gone. */
  stop(): Promise<void>;
}

export interface StoreScpOptions {
  port: number;
  aet?: string;
  /** The status of every C-STORE (default 0x0000)... */
  status?: number;
  /** ...but the Nth's (counted from 1): N to status. */
  nth?: Record<number, number>;
  /** The Error Comment of every response that is not 0x0000. */
  comment?: string;
}

/** Starts storescp_peer.py; resolves once it listens. */
export async function startStoreScp(o: StoreScpOptions): Promise<StoreScp> {
  const aet = o.aet ?? 'STORESCP';
  const args = [STORESCP_SCRIPT, '--port', String(o.port), '--aet', aet, '--status', String(o.status ?? 0)];
  for (const [n, s] of Object.entries(o.nth ?? {})) args.push('--nth', `${n}:${s}`);
  if (o.comment !== undefined) args.push('--comment', o.comment);
  const proc = spawn(VENV_PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stores: StoreSeen[] = [];
  let listening = false;
  let out = '';
  let err = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    let i: number;
    while ((i = out.indexOf('\n')) >= 0) {
      const line = JSON.parse(out.slice(0, i)) as StoreSeen | { listening: number };
      out = out.slice(i + 1);
      if ('listening' in line) listening = true;
      else stores.push(line);
    }
  });
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await gone;
  };
  try {
    await until(() => {
      if (proc.exitCode !== null) throw new Error(`storescp_peer.py exited ${proc.exitCode}: ${err.slice(-2000)}`);
      return listening || undefined;
    }, `pynetdicom's Storage SCP listening on 127.0.0.1:${o.port}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return { proc, port: o.port, aet, stores, stop };
}
