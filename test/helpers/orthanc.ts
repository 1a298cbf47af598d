// A real PACS for tests: Orthanc (Debian package orthanc) started on loopback
// with a temporary config and storage, on free ports. AE titles are checked:
// Orthanc answers to ORTHANC and knows sonoedge as SONOEDGE.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './net.js';

export const ORTHANC = ['/usr/sbin/Orthanc', '/usr/bin/Orthanc'].find((p) => existsSync(p));

export interface Pacs { proc: ChildProcess; http: number; dicom: number; dir: string }

/** Starts Orthanc with its storage in `dir` (same `ports` to bring one back), ready when its REST API answers. */
export async function startOrthanc(dir: string, ports?: { http: number; dicom: number }): Promise<Pacs> {
  const http = ports?.http ?? await freePort();
  const dicom = ports?.dicom ?? await freePort();
  const config = {
    Name: 'sonoedge-test', StorageDirectory: path.join(dir, 'db'), IndexDirectory: path.join(dir, 'db'),
    DicomAet: 'ORTHANC', DicomPort: dicom, HttpPort: http, RemoteAccessAllowed: false, AuthenticationEnabled: false,
    // AE titles are configuration: Orthanc checks the called AE title and knows sonoedge by its calling AE title.
    DicomCheckCalledAet: true, DicomAlwaysAllowStore: false, DicomModalities: { sonoedge: ['SONOEDGE', '127.0.0.1', 104] },
    Plugins: [], StableAge: 1, SaveJobs: false,
  };
  await writeFile(path.join(dir, 'orthanc.json'), JSON.stringify(config));
  const proc = spawn(ORTHANC!, [path.join(dir, 'orthanc.json')], { stdio: 'ignore' });
  for (let i = 0; i < 200; i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${http}/system`);
      if (r.ok) return { proc, http, dicom, dir };
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error('Orthanc did not start within 10 s');
}

export const killOrthanc = (p: Pacs) => new Promise<void>((resolve) => {
  if (p.proc.exitCode !== null || p.proc.signalCode !== null) return resolve();
  p.proc.once('exit', () => resolve());
  p.proc.kill('SIGKILL');
});

/** The SOP Instance UIDs Orthanc holds, sorted (its REST API). */
export const orthancInstances = async (p: Pacs): Promise<string[]> => (await (await fetch(`http://127.0.0.1:${p.http}/instances?expand`)).json() as { MainDicomTags: { SOPInstanceUID: string } }[])
  .map((i) => i.MainDicomTags.SOPInstanceUID).sort();
