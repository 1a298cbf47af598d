// Model packages: verified before anything loads them. The format, the
// signing and the order of the checks are docs/MODEL_PACKAGE.md; the harness
// (training/sonoedge_train) verifies the same fixtures with the same verdicts.
import { createHash, createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { lstat, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ErrorObject, ValidateFunction } from 'ajv';
import Ajv2020Module from 'ajv/dist/2020.js';

// ajv is CommonJS: under Node's ESM interop the class sits on .default.
type Ajv2020Class = typeof Ajv2020Module.default;
const Ajv2020: Ajv2020Class = (Ajv2020Module as unknown as { default?: Ajv2020Class }).default ?? (Ajv2020Module as unknown as Ajv2020Class);

export type PackageErrorCode =
  // The path is a file (a manifest.json, a model.onnx), not the package's folder.
  | 'E_PACKAGE_NOT_FOLDER'
  | 'E_PACKAGE_MISSING_FILE'
  | 'E_PACKAGE_MANIFEST_JSON'
  | 'E_PACKAGE_SCHEMA'
  | 'E_PACKAGE_CHECKSUM'
  | 'E_PACKAGE_UNLISTED_FILE'
  | 'E_PACKAGE_UNSIGNED'
  | 'E_PACKAGE_SIGNATURE'
  | 'E_PACKAGE_UNKNOWN_KEY'
  // The manifest against its task's output contract, and against its ONNX graph (src/model/graph.ts).
  | 'E_PACKAGE_CONTRACT'
  | 'E_PACKAGE_GRAPH'
  | 'E_TRUST_STORE';

/** A package or trust store that failed verification: `code`, and `where` (a path or a JSON pointer). */
export class ModelPackageError extends Error {
  readonly code: PackageErrorCode;
  readonly where: string;
  constructor(code: PackageErrorCode, where: string, message: string) {
    super(message);
    this.name = 'ModelPackageError';
    this.code = code;
    this.where = where;
  }
}

export interface VariantEntry {
  file: string;
  sha256: string;
  bytes: number;
  providers: string[];
  metrics?: Record<string, number>;
  latency_ms_cpu?: number | null;
  [key: string]: unknown;
}

/** The manifest as the schema describes it (models/schema/model-package.schema.json). */
export interface ModelManifest {
  format_version: 1;
  name: string;
  version: string;
  task: string;
  description: string;
  inputs: Record<string, Record<string, unknown>>;
  outputs: Record<string, Record<string, unknown>>;
  preprocessing: {
    input: string;
    source: 'scan_converted' | 'polar';
    crop: 'sector_bounding_box' | 'full_frame';
    options: Record<string, unknown>;
  };
  postprocessing: Record<string, Record<string, unknown>>;
  variants: Record<string, VariantEntry>;
  files: Record<string, { sha256: string; bytes: number }>;
  provenance: Record<string, unknown>;
  [key: string]: unknown;
}

export interface TrustStore {
  /** The folders the keys came from. */
  readonly dirs: readonly string[];
  /** key id (16 hex) -> public key. */
  readonly keys: ReadonlyMap<string, KeyObject>;
}

export interface VerifyOptions {
  trustStore: TrustStore;
  /** Accept a package without manifest.sig (development only). A bad signature fails regardless. */
  allowUnsigned?: boolean;
}

export interface VerifiedPackage {
  readonly dir: string;
  readonly manifest: ModelManifest;
  /** The exact bytes that were verified. */
  readonly manifestBytes: Buffer;
  readonly signed: boolean;
  /** The key that signed it, when signed. */
  readonly keyId?: string;
  /** Absolute path of a variant's file. */
  variantPath(variant: string): string;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository's models/ folder (bundled packages, schema, development trust store). */
export const MODELS_DIR = path.resolve(here, '..', '..', 'models');

/** The bundled packages' folders and the trust store under a models folder (default: the repository's models/). */
export function bundledPaths(dir: string = MODELS_DIR): { viewQuality: string; segmentation: string; trust: string } {
  return { viewQuality: path.join(dir, 'view_quality'), segmentation: path.join(dir, 'lv_segmentation'), trust: path.join(dir, 'trust') };
}
export const SCHEMA_PATH = path.join(MODELS_DIR, 'schema', 'model-package.schema.json');

const sha256Hex = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const keyIdOf = (raw: Uint8Array): string => sha256Hex(raw).slice(0, 16);
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(text: unknown, bytes: number): Buffer | undefined {
  if (typeof text !== 'string' || !BASE64.test(text)) return undefined;
  const b = Buffer.from(text, 'base64');
  return b.length === bytes ? b : undefined;
}

async function isMissing(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return false;
  } catch {
    return true;
  }
}

/** Loads every `*.pub` key of one or more trust store folders. Throws E_TRUST_STORE. */
export async function loadTrustStore(dirs: string | readonly string[]): Promise<TrustStore> {
  const list = typeof dirs === 'string' ? [dirs] : [...dirs];
  const keys = new Map<string, KeyObject>();
  for (const dir of list) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.pub')).sort();
    } catch (err) {
      throw new ModelPackageError('E_TRUST_STORE', dir,
        `Expected a trust store folder at ${dir} but received ${(err as NodeJS.ErrnoException).code ?? 'an unreadable path'}`);
    }
    for (const name of names) {
      const text = await readFile(path.join(dir, name), 'utf8');
      const lines = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
      const raw = lines.length === 1 ? decodeBase64(lines[0], 32) : undefined;
      if (raw === undefined) {
        // One line that does not decode is named as such ("received 1 key lines" said the count was wrong).
        throw new ModelPackageError('E_TRUST_STORE', name, lines.length === 1
          ? `Expected ${name} to hold the base64 of a 32-byte ed25519 public key but received a line of ${lines[0].length} characters that is not`
          : `Expected ${name} to hold one line with the base64 of a 32-byte ed25519 public key but received ${lines.length} key lines`);
      }
      const id = keyIdOf(raw);
      if (!name.endsWith(`${id}.pub`)) {
        throw new ModelPackageError('E_TRUST_STORE', name,
          `Expected the file of key ${id} to be named [label-]${id}.pub but received ${name}`);
      }
      keys.set(id, createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' }));
    }
  }
  return { dirs: list, keys };
}

let validator: ValidateFunction | undefined;
async function schemaValidator(): Promise<ValidateFunction> {
  if (validator === undefined) {
    const schema = JSON.parse(await readFile(SCHEMA_PATH, 'utf8')) as object;
    validator = new Ajv2020({ allErrors: false, strict: false }).compile(schema);
  }
  return validator as ValidateFunction;
}

const escapePointer = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON pointer docs/MODEL_PACKAGE.md names for a schema error. */
export function schemaErrorPointer(e: ErrorObject): string {
  const params = e.params as Record<string, unknown>;
  if (e.keyword === 'required') return `${e.instancePath}/${escapePointer(String(params.missingProperty))}`;
  if (e.keyword === 'additionalProperties') return `${e.instancePath}/${escapePointer(String(params.additionalProperty))}`;
  if (e.keyword === 'propertyNames' && params.propertyName !== undefined) {
    return `${e.instancePath}/${escapePointer(String(params.propertyName))}`;
  }
  return e.instancePath;
}

function schemaMessage(e: ErrorObject, where: string, value: unknown): string {
  const received = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80);
  return `Expected manifest.json at ${where === '' ? 'the root' : where} to satisfy the schema (${e.keyword}: ${e.message ?? ''}) but received ${received}`;
}

function valueAt(root: unknown, pointer: string): unknown {
  if (pointer === '') return root;
  let v: unknown = root;
  for (const seg of pointer.slice(1).split('/')) {
    const key = seg.replace(/~1/g, '/').replace(/~0/g, '~');
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

async function listFiles(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await listFiles(dir, rel)));
    else out.push(rel);
  }
  return out.sort();
}

async function checkSignature(dir: string, bytes: Buffer, options: VerifyOptions): Promise<string | undefined> {
  const sigPath = path.join(dir, 'manifest.sig');
  if (await isMissing(sigPath)) {
    if (options.allowUnsigned === true) return undefined;
    throw new ModelPackageError('E_PACKAGE_UNSIGNED', 'manifest.sig',
      'Expected a signed package (manifest.sig) but received none; unsigned packages load only with the explicit development flag');
  }
  const bad = (why: string): ModelPackageError =>
    new ModelPackageError('E_PACKAGE_SIGNATURE', 'manifest.sig', `Expected manifest.sig to ${why}`);
  let sig: unknown;
  try {
    sig = JSON.parse(await readFile(sigPath, 'utf8'));
  } catch {
    throw bad('be JSON {algorithm, key_id, signature} but received text that is not JSON');
  }
  if (sig === null || typeof sig !== 'object' || Array.isArray(sig)) throw bad('be a JSON object {algorithm, key_id, signature}');
  const s = sig as Record<string, unknown>;
  const keys = Object.keys(s).sort().join(', ');
  if (keys !== 'algorithm, key_id, signature') {
    throw bad(`have exactly the keys algorithm, key_id, signature but received ${keys === '' ? 'none' : keys}`);
  }
  if (s.algorithm !== 'ed25519') throw bad(`name algorithm ed25519 but received ${JSON.stringify(s.algorithm)}`);
  if (typeof s.key_id !== 'string' || !/^[0-9a-f]{16}$/.test(s.key_id)) {
    throw bad(`hold a key_id of 16 lower-case hex characters but received ${JSON.stringify(s.key_id)}`);
  }
  const signature = decodeBase64(s.signature, 64);
  if (signature === undefined) throw bad('hold the base64 of a 64-byte ed25519 signature');
  const key = options.trustStore.keys.get(s.key_id);
  if (key === undefined) {
    throw new ModelPackageError('E_PACKAGE_UNKNOWN_KEY', 'manifest.sig',
      `Expected a signing key from the trust store (${options.trustStore.dirs.join(', ')}) but received key id ${s.key_id}`);
  }
  if (!verifySignature(null, bytes, key, signature)) {
    throw bad(`verify over manifest.json with key ${s.key_id} but the signature does not match those bytes`);
  }
  return s.key_id;
}

/**
 * Verifies a package folder in the documented order and returns it, or throws
 * the first ModelPackageError. Nothing is loaded before everything checks out.
 */
export async function verifyModelPackage(dir: string, options: VerifyOptions): Promise<VerifiedPackage> {
  const root = path.resolve(dir);
  const manifestPath = path.join(root, 'manifest.json');
  // A file given for its package (models/x/model.fp32.onnx, models/x/manifest.json) is said as such, not as
  // a folder without manifest.json; a file inside a package names that package's folder.
  const st = await stat(root).catch(() => undefined);
  if (st === undefined) {
    throw new ModelPackageError('E_PACKAGE_MISSING_FILE', 'manifest.json', `Expected a model package folder at ${root} but received no such path`);
  }
  if (!st.isDirectory()) {
    const parent = path.dirname(root);
    const hint = await isMissing(path.join(parent, 'manifest.json')) ? '' : `; give its package folder ${parent}`;
    throw new ModelPackageError('E_PACKAGE_NOT_FOLDER', '.',
      `Expected a model package folder but received ${root}, which is ${st.isFile() ? 'a file' : 'not a folder'}${hint}`);
  }
  if (await isMissing(manifestPath)) {
    throw new ModelPackageError('E_PACKAGE_MISSING_FILE', 'manifest.json', `Expected manifest.json in ${root} but received no such file`);
  }
  const bytes = await readFile(manifestPath);
  const keyId = await checkSignature(root, bytes, options);

  let manifest: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
    manifest = JSON.parse(text);
  } catch (err) {
    throw new ModelPackageError('E_PACKAGE_MANIFEST_JSON', 'manifest.json',
      `Expected manifest.json to be UTF-8 JSON but received ${bytes.length} bytes that are not (${(err as Error).message})`);
  }

  const validate = await schemaValidator();
  if (!validate(manifest)) {
    const e = (validate.errors ?? [])[0];
    const where = e === undefined ? '' : schemaErrorPointer(e);
    throw new ModelPackageError('E_PACKAGE_SCHEMA', where,
      e === undefined ? 'Expected manifest.json to satisfy the schema' : schemaMessage(e, where, valueAt(manifest, where)));
  }
  const m = manifest as ModelManifest;

  const listed = [
    ...Object.values(m.variants).map((v) => ({ file: v.file, sha256: v.sha256, bytes: v.bytes })),
    ...Object.entries(m.files).map(([file, f]) => ({ file, sha256: f.sha256, bytes: f.bytes })),
  ];
  for (const f of listed) {
    const p = path.join(root, ...f.file.split('/'));
    const st = await lstat(p).catch(() => undefined);
    if (st === undefined || !st.isFile()) {
      throw new ModelPackageError('E_PACKAGE_MISSING_FILE', f.file,
        `Expected ${f.file} (listed in manifest.json) as a regular file but received ${st === undefined ? 'no such file' : 'something else (a link or a folder)'}`);
    }
    if (st.size !== f.bytes) {
      throw new ModelPackageError('E_PACKAGE_CHECKSUM', f.file, `Expected ${f.file} of ${f.bytes} bytes but received ${st.size} bytes`);
    }
    const digest = sha256Hex(await readFile(p));
    if (digest !== f.sha256) {
      throw new ModelPackageError('E_PACKAGE_CHECKSUM', f.file, `Expected ${f.file} with sha256 ${f.sha256} but received ${digest}`);
    }
  }
  const known = new Set(['manifest.json', 'manifest.sig', ...listed.map((f) => f.file)]);
  const extra = (await listFiles(root)).find((f) => !known.has(f));
  if (extra !== undefined) {
    throw new ModelPackageError('E_PACKAGE_UNLISTED_FILE', extra, `Expected only the files manifest.json lists but received ${extra} as well`);
  }

  return {
    dir: root,
    manifest: m,
    manifestBytes: bytes,
    signed: keyId !== undefined,
    keyId,
    variantPath(variant: string): string {
      const v = m.variants[variant];
      if (v === undefined) {
        throw new RangeError(`Expected one of ${Object.keys(m.variants).join(', ')} for variant but received ${JSON.stringify(variant)}`);
      }
      return path.join(root, ...v.file.split('/'));
    },
  };
}
