// `sonoedge models list|verify|inspect`: what model packages are here, whether
// they verify (schema, checksums, signature against the trust store), and what
// is inside one, with the input and output shapes a real engine session reports.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { commandHelp, parseCommandArgs, UsageError, type CommandSpec } from './args.js';
import { Engine } from '../engine/index.js';
import { verifyPackageGraphs } from '../model/graph.js';
import { loadTrustStore, bundledPaths, MODELS_DIR, verifyModelPackage, type TrustStore, type VerifiedPackage } from '../model/package.js';
import { closest } from '../util/options.js';

const SUBCOMMANDS = ['list', 'verify', 'inspect'] as const;

const trustFlag = { type: 'string' as const, value: 'DIR', help: 'trust store folder of *.pub keys (default the bundled development store)' };
const SPECS: Record<(typeof SUBCOMMANDS)[number], CommandSpec> = {
  list: {
    name: 'models list', summary: 'list the model packages of a folder and whether each verifies', usage: '[--dir DIR]',
    flags: { dir: { type: 'string', value: 'DIR', help: 'folder of package folders (default the bundled models)' }, trust: trustFlag },
  },
  verify: {
    name: 'models verify',
    summary: 'verify model packages (schema, sha256 of every file, signature, then the manifest against its task and every variant\'s ONNX graph); exit 1 if any fails',
    usage: 'PATH... [--shallow]',
    positionals: [1, Infinity],
    flags: { trust: trustFlag, shallow: { type: 'boolean', help: 'skip the manifest-against-graph checks (no ONNX Runtime session is opened)' } },
  },
  inspect: {
    name: 'models inspect', summary: "a package's manifest, preprocessing, tensors (from a real engine session), variants and metrics", usage: 'PATH [--json]',
    positionals: [1, 1], flags: { json: { type: 'boolean', help: 'print JSON instead of text' }, trust: trustFlag },
  },
};

const USAGE = `Usage: sonoedge models <list|verify|inspect> [options]\n\n  list [--dir DIR]        the packages of a folder (default the bundled models) and their verdicts\n  verify PATH...          verify packages, their manifests against their graphs too; exit 1 if any fails\n  inspect PATH [--json]   what a package holds, with tensor shapes from a real engine session\n`;

const trustOf = (values: Record<string, unknown>): Promise<TrustStore> =>
  loadTrustStore((values.trust as string | undefined) ?? bundledPaths().trust);

function printHelp(spec: CommandSpec): number {
  process.stdout.write(commandHelp(spec));
  return 0;
}

type Verdict = { ok: true; pkg: VerifiedPackage } | { ok: false; code: string; message: string };

async function verdict(dir: string, trustStore: TrustStore, deep = false): Promise<Verdict> {
  try {
    const pkg = await verifyModelPackage(dir, { trustStore });
    if (deep) await verifyPackageGraphs(pkg);
    return { ok: true, pkg };
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, code: e.code ?? 'ERR_UNKNOWN', message: e.message };
  }
}

/** The manifest as written, for listing a package that does not verify. */
async function rawManifest(dir: string): Promise<Record<string, unknown>> {
  try {
    const m = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as unknown;
    return m !== null && typeof m === 'object' ? (m as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ')).join('\n') + '\n';
}

async function list(args: string[]): Promise<number> {
  const { values, help } = parseCommandArgs(SPECS.list, args);
  if (help) return printHelp(SPECS.list);
  const dir = (values.dir as string | undefined) ?? MODELS_DIR;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw new UsageError(`option --dir expects a folder of model packages but received ${JSON.stringify(dir)} (${(err as NodeJS.ErrnoException).code})`);
  }
  const trustStore = await trustOf(values);
  const rows = [['NAME', 'TASK', 'VERSION', 'VARIANTS', 'KEY', 'VERIFIED']];
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  for (const name of names) {
    const pkgDir = path.join(dir, name);
    // Folders that are not packages at all (the schema, the trust store, samples) are skipped.
    if (!existsSync(path.join(pkgDir, 'manifest.json'))) continue;
    const m = await rawManifest(pkgDir);
    const v = await verdict(pkgDir, trustStore);
    const variants = m.variants && typeof m.variants === 'object' ? Object.keys(m.variants).join(',') : '?';
    rows.push([
      String(m.name ?? name), String(m.task ?? '?'), String(m.version ?? '?'), variants,
      v.ok ? (v.pkg.keyId ?? 'unsigned') : '-', v.ok ? 'ok' : `failed ${v.code}`,
    ]);
  }
  if (rows.length === 1) {
    // A package's own folder given for the folder of packages: say so, not just "none here".
    const own = existsSync(path.join(dir, 'manifest.json')) ? `; ${dir} is itself a model package (sonoedge models inspect ${dir})` : '';
    process.stdout.write(`no model packages in ${dir}${own}\n`);
    return 0;
  }
  process.stdout.write(table(rows));
  return 0;
}

async function verify(args: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(SPECS.verify, args);
  if (help) return printHelp(SPECS.verify);
  const trustStore = await trustOf(values);
  let failed = 0;
  const deep = values.shallow !== true;
  for (const p of positionals) {
    const v = await verdict(p, trustStore, deep);
    if (v.ok) {
      const m = v.pkg.manifest;
      const graphs = deep ? `; tensors match the graph of ${Object.keys(m.variants).join(', ')}` : '';
      process.stdout.write(`ok      ${p}: ${m.name} ${m.version}, signed by ${v.pkg.keyId}${graphs}\n`);
    } else {
      failed++;
      process.stdout.write(`failed  ${p}: [${v.code}] ${v.message}\n`);
    }
  }
  return failed > 0 ? 1 : 0;
}

interface TensorReport { name: string; type: string; shape: (number | string)[] }

async function inspect(args: string[]): Promise<number> {
  const { values, positionals, help } = parseCommandArgs(SPECS.inspect, args);
  if (help) return printHelp(SPECS.inspect);
  const trustStore = await trustOf(values);
  const pkg = await verifyModelPackage(positionals[0], { trustStore });
  const m = pkg.manifest;
  const variants: Record<string, unknown>[] = [];
  for (const [name, v] of Object.entries(m.variants)) {
    // A real session per variant: the shapes are what ONNX Runtime reads from the file, not the manifest's word.
    const engine = await Engine.load({ package: pkg, variant: name }, { log: false, warmupRuns: 0 });
    const io = (ts: readonly { name: string; type: string; shape: readonly (number | string)[] }[]): TensorReport[] =>
      ts.map((t) => ({ name: t.name, type: t.type, shape: [...t.shape] }));
    variants.push({
      name, file: v.file, bytes: v.bytes, sha256: v.sha256, providers: v.providers, metrics: v.metrics ?? {},
      latencyMsCpu: v.latency_ms_cpu ?? null, inputs: io(engine.inputs), outputs: io(engine.outputs), onnxruntime: engine.onnxruntimeVersion,
    });
    await engine.close();
  }
  const report = {
    dir: pkg.dir, name: m.name, version: m.version, task: m.task, description: m.description,
    signed: pkg.signed, keyId: pkg.keyId ?? null, preprocessing: m.preprocessing,
    postprocessing: Object.fromEntries(Object.entries(m.postprocessing).map(([k, p]) => [k, p.labels ?? p.thresholds ?? p.activation ?? null])),
    variants,
  };
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  const shape = (t: TensorReport) => `${t.name} ${t.type}[${t.shape.join('x')}]`;
  const lines = [
    `${m.name} ${m.version} (${m.task})`,
    `  ${m.description}`,
    `  folder         ${pkg.dir}`,
    `  signature      ${pkg.signed ? `ok, key ${pkg.keyId}` : 'unsigned'}`,
    `  preprocessing  input ${m.preprocessing.input}, ${m.preprocessing.source}, crop ${m.preprocessing.crop}, ${JSON.stringify(m.preprocessing.options)}`,
    ...Object.entries(report.postprocessing).map(([k, v]) => `  postprocess    ${k}: ${JSON.stringify(v)}`),
    ...variants.flatMap((v) => {
      const r = v as { name: string; file: string; bytes: number; sha256: string; metrics: Record<string, number>; inputs: TensorReport[]; outputs: TensorReport[] };
      return [
        `  variant ${r.name}`,
        `    file         ${r.file}, ${r.bytes} bytes, sha256 ${r.sha256}`,
        `    inputs       ${r.inputs.map(shape).join(', ')}`,
        `    outputs      ${r.outputs.map(shape).join(', ')}`,
        `    metrics      ${Object.entries(r.metrics).map(([k, x]) => `${k} ${x}`).join(', ') || 'none'}`,
      ];
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

export async function models(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    process.stdout.write(USAGE);
    return sub === undefined ? 2 : 0;
  }
  if (sub === 'list') return list(rest);
  if (sub === 'verify') return verify(rest);
  if (sub === 'inspect') return inspect(rest);
  const hint = closest(sub, SUBCOMMANDS);
  throw new UsageError(`unknown subcommand ${JSON.stringify(sub)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''} (list, verify or inspect)`);
}
