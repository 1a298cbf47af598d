// `sonoedge doctor`: what this machine offers the runtime, one line per check
// (ok, warn or fail). A GPU, CUDA or TensorRT that is absent is a warning, with
// the reason; exit 1 only when something CPU operation needs is broken (the
// native addon, ONNX Runtime, the bundled models).
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { commandHelp, parseCommandArgs, type CommandSpec } from './args.js';
import { Engine, defaultLibraryPath, detectGpu, detectTensorRTVersion, type ProviderOutcome } from '../engine/index.js';
import { loadTrustStore, bundledPaths, MODELS_DIR, verifyModelPackage } from '../model/package.js';
import { bestSimdLevel } from '../preprocess/index.js';
import { VERSION } from '../version.js';

export const SPEC: CommandSpec = {
  name: 'doctor',
  summary: 'check this machine for the runtime: CPU, ONNX Runtime, providers, GPU, socket path, serial ports, bundled models',
  usage: '[--json]',
  flags: { json: { type: 'boolean', help: 'print the checks as JSON' } },
};

export type Status = 'ok' | 'warn' | 'fail';
export interface Check { name: string; status: Status; detail: string }

const BUNDLED = ['view_quality', 'lv_segmentation'];

/** Shared libraries the dynamic linker knows (ldconfig -p), by name prefix. */
function ldconfigHas(prefix: string): string | undefined {
  for (const bin of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    try {
      const out = execFileSync(bin, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const line = out.split('\n').find((l) => l.trim().startsWith(prefix));
      return line ? line.trim().split(' ')[0] : undefined;
    } catch {
      // try the next location
    }
  }
  return undefined;
}

function cpuFlags(): string[] {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const line = /^(?:flags|Features)\s*:\s*(.*)$/m.exec(info)?.[1] ?? '';
    return line.split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** ONNX Runtime's "src/file.cc:123 ... [ONNXRuntimeError] : 1 : FAIL : message" to the message. */
const shortReason = (reason: string): string =>
  reason.replace(/^.*?\[ONNXRuntimeError\] : \d+ : \w+ : /s, '').replace(/ with error: \S+?: /, ': ').trim();

const nvidiaDevices = (): string[] => {
  try {
    return readdirSync('/dev').filter((n) => n.startsWith('nvidia')).map((n) => `/dev/${n}`);
  } catch {
    return [];
  }
};

function onPath(bin: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

async function socketState(p: string): Promise<{ status: Status; detail: string }> {
  const st = (() => {
    try {
      return lstatSync(p);
    } catch {
      return undefined;
    }
  })();
  const dir = path.dirname(p);
  let writable = true;
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    writable = false;
  }
  if (!writable) return { status: 'warn', detail: `${dir} is not writable: the server cannot create ${p} (set socket.path in the serve config)` };
  if (st === undefined) return { status: 'ok', detail: `${dir} writable; ${p} free` };
  if (!st.isSocket()) return { status: 'warn', detail: `${p} exists and is not a socket: serve will refuse it (set socket.path)` };
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => (c.destroy(), resolve(true)));
    c.once('error', () => resolve(false));
  });
  return live
    ? { status: 'ok', detail: `${p} in use by a running server` }
    : { status: 'warn', detail: `${p} is a stale socket file (nothing answers); remove it or let serve replace it` };
}

/**
 * One check per provider of a session that asked for all of them. The provider in use is ok; one standing
 * by behind it is ok too (the engine's reason "not needed: cuda has a higher priority": it still runs the
 * nodes the provider in use cannot); cpu unusable is a fail; a GPU provider unusable is a warning with the
 * causes this machine shows (`why`) and ONNX Runtime's reason.
 */
export function providerChecks(report: readonly ProviderOutcome[], why: Readonly<Record<string, readonly string[]>>): Check[] {
  const inUse = report.find((x) => x.used)?.provider;
  return report.map((r) => {
    const name = `provider ${r.provider}`;
    if (r.used) return { name, status: 'ok', detail: 'available (runs the models)' };
    if (r.reason.startsWith('not needed') && inUse !== undefined) {
      return { name, status: 'ok', detail: `available (runs the nodes ${inUse} cannot; ${inUse} runs the models)` };
    }
    if (r.provider === 'cpu') return { name, status: 'fail', detail: shortReason(r.reason) };
    const causes = (why[r.provider] ?? []).filter(Boolean);
    return { name, status: 'warn', detail: `not available${causes.length ? ` (${causes.join('; ')})` : ''}: ${shortReason(r.reason)}` };
  });
}

export async function runChecks(): Promise<Check[]> {
  const checks: Check[] = [];
  const add = (name: string, status: Status, detail: string) => checks.push({ name, status, detail });

  const major = Number(process.versions.node.split('.')[0]);
  add('platform', major >= 20 ? 'ok' : 'fail', `${process.platform}-${process.arch}, Node.js ${process.version}${major >= 20 ? '' : ' (needs 20 or later)'}, sonoedge ${VERSION}`);

  const cpus = os.cpus();
  const flags = cpuFlags();
  const simd = ['sse4_1', 'sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni', 'avx_vnni', 'neon', 'asimd', 'asimddp', 'sve'].filter((f) => flags.includes(f));
  add('cpu', 'ok', `${cpus[0]?.model.trim() ?? 'unknown'}, ${cpus.length} cores; SIMD flags: ${simd.join(' ') || 'none reported'}`);

  try {
    add('native addon', 'ok', `loaded, best preprocessing kernels: ${bestSimdLevel()}`);
  } catch (err) {
    add('native addon', 'fail', `${(err as Error).message}`);
  }

  const lib = defaultLibraryPath();
  let engine: Engine | undefined;
  if (!existsSync(lib)) {
    add('onnxruntime', 'fail', `libonnxruntime not found at ${lib}; install onnxruntime-node or set ORT_ROOT`);
  } else {
    try {
      // A real session asked for every provider: ONNX Runtime says which it can use and why not.
      engine = await Engine.load(path.join(bundledPaths().viewQuality, 'model.fp32.onnx'), { providers: ['tensorrt', 'cuda', 'cpu'], log: false, warmupRuns: 0 });
      add('onnxruntime', 'ok', `${engine.onnxruntimeVersion} at ${lib}`);
    } catch (err) {
      add('onnxruntime', 'fail', `${lib} does not load a session: ${(err as Error).message}`);
    }
  }

  const devices = nvidiaDevices();
  const why: Record<string, string[]> = {
    cuda: [devices.length === 0 ? 'no /dev/nvidia*' : '', ldconfigHas('libcudart') ? '' : 'libcudart not found via ldconfig -p'],
    tensorrt: [devices.length === 0 ? 'no /dev/nvidia*' : '', ldconfigHas('libnvinfer') ? '' : 'libnvinfer not found via ldconfig -p'],
  };
  checks.push(...providerChecks(engine?.providerReport ?? [], why));
  await engine?.close();

  const smi = onPath('nvidia-smi');
  let gpu = detectGpu();
  if (smi) {
    try {
      gpu = execFileSync(smi, ['--query-gpu=name,driver_version,memory.total', '--format=csv,noheader'], { encoding: 'utf8', timeout: 10_000 }).trim().split('\n').join('; ');
    } catch (err) {
      add('gpu', 'warn', `nvidia-smi failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (!checks.some((c) => c.name === 'gpu')) {
    if (gpu) add('gpu', 'ok', `${gpu}${devices.length ? `, ${devices.length} /dev/nvidia* nodes` : ''}`);
    else add('gpu', 'warn', `no NVIDIA GPU (${smi ? '' : 'nvidia-smi not on PATH, '}${devices.length ? `${devices.length} /dev/nvidia* nodes` : 'no /dev/nvidia*'}); the CPU provider runs the models`);
  }
  const trt = detectTensorRTVersion(path.dirname(lib));
  add('tensorrt', trt ? 'ok' : 'warn', trt ? `libnvinfer ${trt}` : 'libnvinfer not found (TensorRT absent)');

  const sock = await socketState(path.join(os.tmpdir(), 'sonoedge.sock'));
  add('socket path', sock.status, sock.detail);

  try {
    const { SerialPort } = await import('serialport');
    const ports = await SerialPort.list();
    add('serial ports', ports.length ? 'ok' : 'warn', ports.length
      ? ports.map((p) => `${p.path}${p.manufacturer ? ` (${p.manufacturer})` : ''}`).join(', ')
      : 'none found (the serial result link needs one; a pty from socat works for tests)');
  } catch (err) {
    add('serial ports', 'warn', `cannot list: ${(err as Error).message}`);
  }

  try {
    const trustStore = await loadTrustStore(bundledPaths().trust);
    for (const name of BUNDLED) {
      try {
        const pkg = await verifyModelPackage(path.join(MODELS_DIR, name), { trustStore });
        add(`model ${name}`, 'ok', `${pkg.manifest.name} ${pkg.manifest.version} verifies (key ${pkg.keyId})`);
      } catch (err) {
        const e = err as Error & { code?: string };
        add(`model ${name}`, 'fail', `[${e.code}] ${e.message}`);
      }
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    add('trust store', 'fail', `[${e.code}] ${e.message}`);
  }
  return checks;
}

export async function doctor(args: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(SPEC, args);
  if (help) {
    process.stdout.write(commandHelp(SPEC));
    return 0;
  }
  const checks = await runChecks();
  const failed = checks.some((c) => c.status === 'fail');
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify({ ok: !failed, checks }, null, 2)}\n`);
  } else {
    const width = Math.max(...checks.map((c) => c.name.length));
    for (const c of checks) process.stdout.write(`${c.status.padEnd(4)}  ${c.name.padEnd(width)}  ${c.detail}\n`);
  }
  return failed ? 1 : 0;
}
