// pyigtl (PyPI) as a real OpenIGTLink peer, run from training/.venv through
// test/helpers/igtl_peer.py. Tests that need it skip, saying why, when the
// module is not installed there.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VENV_PYTHON } from './pydicom-examples.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const PEER_SCRIPT = path.join(here, 'igtl_peer.py');

/** Why pyigtl cannot run here, or undefined when it can. */
export function pyigtlMissing(): string | undefined {
  const r = spawnSync(VENV_PYTHON, ['-c', 'import pyigtl; print(pyigtl.__version__ if hasattr(pyigtl, "__version__") else "")'], { encoding: 'utf8' });
  if (r.status === 0) return undefined;
  return `pyigtl is not installed in training/.venv (training/.venv/bin/pip install pyigtl==0.3.4): ${(r.stderr || String(r.error)).trim().split('\n').pop()}`;
}

export interface PeerImage {
  device: string;
  pixels: Uint8Array;
  /** numpy dtype string: u1, i1, <u2, >u2, <i2, >i2. */
  dtype: string;
  shape: number[];
  matrix: number[][];
  ras?: boolean;
  headerVersion?: 1 | 2;
  timestamp?: number;
}

export interface PeerResult {
  label?: {
    shape: number[]; dtype: string; matrix: number[][]; ras: boolean; inside: number; max: number; rows: number[];
    headerVersion: number; metadata: Record<string, string>; timestamp: number; device: string;
  };
  summary?: Record<string, unknown>;
  summaryDevice?: string;
  contour?: number[][];
}

// The specs' folder: made on the first writeSpec, removed when the test process exits (the peers have exited by then).
let dir: string | undefined;
let n = 0;

function specDir(): string {
  if (dir === undefined) {
    const made = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-igtl-'));
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    dir = made;
  }
  return dir;
}

/** Writes a spec for igtl_peer.py (each image's pixels to a raw file beside it). */
export function writeSpec(spec: { port: number; timeout?: number; label: string; summary: string; contour?: string | null; images: PeerImage[] }): string {
  const folder = specDir();
  const k = ++n;
  const images = spec.images.map((im, i) => {
    const file = path.join(folder, `img-${k}-${i}.raw`);
    writeFileSync(file, im.pixels);
    const { pixels: _p, ...rest } = im;
    return { ...rest, file };
  });
  const file = path.join(folder, `spec-${k}.json`);
  writeFileSync(file, JSON.stringify({ ...spec, images }));
  return file;
}

/** Runs igtl_peer.py MODE SPEC; resolves with its JSON lines once it exits 0. `onLine` sees each line as it comes. */
export function runPeer(mode: 'send' | 'serve' | 'pack', specFile: string, onLine?: (o: unknown) => void): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const p = spawn(VENV_PYTHON, [PEER_SCRIPT, mode, specFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const lines: unknown[] = [];
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      let i: number;
      while ((i = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        if (line.trim() === '') continue;
        const o = JSON.parse(line) as unknown;
        lines.push(o);
        onLine?.(o);
      }
    });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(lines) : reject(new Error(`igtl_peer.py ${mode} exited ${code}: ${err.slice(-2000)}`))));
  });
}

/** A 4x4 ijk-to-world matrix: spacing sx, sy along a rotation of `deg` degrees about z, origin o. */
export function matrixOf(sx: number, sy: number, deg: number, o: [number, number, number]): number[][] {
  const c = Math.cos((deg * Math.PI) / 180);
  const s = Math.sin((deg * Math.PI) / 180);
  return [[c * sx, -s * sy, 0, o[0]], [s * sx, c * sy, 0, o[1]], [0, 0, 1, o[2]], [0, 0, 0, 1]];
}
