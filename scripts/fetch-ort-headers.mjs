#!/usr/bin/env node
// Obtains the ONNX Runtime C API headers the native engine compiles against,
// into build/ort-headers/ (never committed; see docs/DEPLOYMENT.md):
//
//   1. ORT_ROOT set: ORT_ROOT/include (a custom ORT build, e.g. TensorRT on
//      Jetson), checked against the library in ORT_ROOT/lib.
//   2. Otherwise the headers of an official ORT release, packaged by Debian as
//      libonnxruntime-dev, downloaded with apt-get (the registry client) into
//      a private temporary apt state: the system's apt lists, cache and
//      installed packages are not touched. The archive mirror is the one
//      already configured on this machine (its first deb822 stanza, or its
//      sources.list), so no host name is written here. Tried in order:
//        a. the pinned version (PINNED below) from experimental,
//        b. experimental's current libonnxruntime-dev,
//        c. unstable's (sid) libonnxruntime-dev.
//
// Then it checks ORT_API_VERSION of the headers against the API the library
// the engine loads at run time supports (onnxruntime-node's version, or
// ORT_ROOT's): a header newer than the library is a build error. It writes
// build/ort-headers/sonoedge_ort_config.h, which the engine static_asserts on.
//
// Re-running is cheap: a stamp in build/ort-headers/ skips the download while
// the source (ORT_ROOT or the pinned package) is unchanged.
//   node scripts/fetch-ort-headers.mjs           fetch when needed
//   node scripts/fetch-ort-headers.mjs --force   fetch again
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dest = path.join(root, 'build', 'ort-headers');
const PINNED = process.env.ORT_DEB_VERSION ?? '1.27.1+dfsg-1';
const force = process.argv.includes('--force');
const ortRoot = process.env.ORT_ROOT;

function fail(message) {
  process.stderr.write(`\nfetch-ort-headers: ${message}\n\n`);
  process.exit(1);
}
const log = (line) => process.stderr.write(`fetch-ort-headers: ${line}\n`);

/** The C API version a library of this version serves: ORT's API version is its minor version. */
function apiOfVersion(version) {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version ?? '');
  return m ? { version: m[0], api: Number(m[2]) } : undefined;
}

function libraryApi() {
  if (ortRoot) {
    const lib = path.join(ortRoot, 'lib');
    const names = existsSync(lib) ? readdirSync(lib) : [];
    const versioned = names.map((n) => /^libonnxruntime\.so\.(\d+\.\d+\.\d+)$/.exec(n)).find(Boolean);
    const fromFile = existsSync(path.join(ortRoot, 'VERSION_NUMBER'))
      ? readFileSync(path.join(ortRoot, 'VERSION_NUMBER'), 'utf8').trim() : undefined;
    const v = apiOfVersion(versioned?.[1] ?? fromFile);
    if (!names.some((n) => n.startsWith('libonnxruntime.so'))) {
      fail(`ORT_ROOT=${ortRoot} has no lib/libonnxruntime.so*; ORT_ROOT must hold include/ and lib/ of an ONNX Runtime build`);
    }
    if (!v) fail(`cannot tell the version of the library in ${lib} (no libonnxruntime.so.X.Y.Z and no ${path.join(ortRoot, 'VERSION_NUMBER')})`);
    return { ...v, source: `ORT_ROOT=${ortRoot}` };
  }
  const pkg = path.join(root, 'node_modules', 'onnxruntime-node', 'package.json');
  if (!existsSync(pkg)) fail('onnxruntime-node is not installed (its libonnxruntime is the one the engine loads); run npm install, or set ORT_ROOT');
  const v = apiOfVersion(JSON.parse(readFileSync(pkg, 'utf8')).version);
  if (!v) fail(`cannot read the version of onnxruntime-node from ${pkg}`);
  return { ...v, source: `onnxruntime-node ${v.version}` };
}

function headerApi(dir) {
  const h = path.join(dir, 'onnxruntime_c_api.h');
  if (!existsSync(h)) return undefined;
  const m = /#define\s+ORT_API_VERSION\s+(\d+)/.exec(readFileSync(h, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/** The machine's own Debian archive stanza with its suite replaced. */
function debianStanza(suite) {
  const deb822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(deb822)) {
    const first = readFileSync(deb822, 'utf8').split(/\n\s*\n/).find((s) => /^URIs:/m.test(s));
    if (first) return { file: 'exp.sources', text: `${first.replace(/^Suites:.*$/m, `Suites: ${suite}`).trim()}\n` };
  }
  const list = '/etc/apt/sources.list';
  if (existsSync(list)) {
    const line = readFileSync(list, 'utf8').split('\n').find((l) => /^deb\s/.test(l));
    if (line) {
      const parts = line.trim().split(/\s+/);
      const uriAt = parts.findIndex((p) => /^[a-z]+:\/\//.test(p));
      if (uriAt > 0) return { file: 'exp.list', text: `${parts.slice(0, uriAt + 1).join(' ')} ${suite} main\n` };
    }
  }
  return undefined;
}

/** Downloads libonnxruntime-dev (`spec`: =version or /suite) from `suite` into `tmp`; returns the .deb or undefined. */
function aptDownload(tmp, suite, spec) {
  const stanza = debianStanza(suite);
  if (!stanza) return { error: 'no Debian archive configured on this machine (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)' };
  const state = path.join(tmp, suite);
  for (const d of ['parts', 'lists/partial', 'cache/archives/partial', 'dl']) mkdirSync(path.join(state, d), { recursive: true });
  writeFileSync(path.join(state, 'parts', stanza.file), stanza.text);
  const o = [
    '-o', 'Dir::Etc::sourcelist=/dev/null', '-o', `Dir::Etc::sourceparts=${path.join(state, 'parts')}`,
    '-o', `Dir::State::Lists=${path.join(state, 'lists')}`, '-o', `Dir::Cache=${path.join(state, 'cache')}`,
    '-o', 'Dir::State::status=/dev/null', '-o', 'APT::Sandbox::User=root', '-o', 'Debug::NoLocking=1',
  ];
  if (!existsSync(path.join(state, 'updated'))) {
    const u = spawnSync('apt-get', [...o, 'update', '-qq'], { encoding: 'utf8' });
    if (u.error) return { error: `apt-get not available (${u.error.message})` };
    if (u.status !== 0) return { error: `apt-get update for ${suite} failed: ${(u.stderr || u.stdout).trim().split('\n').pop()}` };
    writeFileSync(path.join(state, 'updated'), '');
  }
  const d = spawnSync('apt-get', [...o, 'download', `libonnxruntime-dev${spec}`], { cwd: path.join(state, 'dl'), encoding: 'utf8' });
  if (d.status !== 0) return { error: `libonnxruntime-dev${spec} from ${suite}: ${(d.stderr || d.stdout).trim().split('\n').pop()}` };
  const deb = readdirSync(path.join(state, 'dl')).find((f) => f.endsWith('.deb'));
  return deb ? { deb: path.join(state, 'dl', deb) } : { error: `apt-get download left no .deb for ${spec}` };
}

function fromDebian() {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'sonoedge-ort-'));
  const reasons = [];
  try {
    for (const [suite, spec] of [['experimental', `=${PINNED}`], ['experimental', '/experimental'], ['sid', '/sid']]) {
      log(`trying libonnxruntime-dev${spec} (${suite})`);
      const r = aptDownload(tmp, suite, spec);
      if (r.error) {
        reasons.push(r.error);
        continue;
      }
      const x = path.join(tmp, 'x');
      rmSync(x, { recursive: true, force: true });
      execFileSync('dpkg-deb', ['-x', r.deb, x]);
      const inc = path.join(x, 'usr', 'include', 'onnxruntime');
      if (headerApi(inc) === undefined) {
        reasons.push(`${path.basename(r.deb)} holds no usr/include/onnxruntime/onnxruntime_c_api.h`);
        continue;
      }
      return { dir: inc, tmp, source: path.basename(r.deb) };
    }
  } catch (err) {
    reasons.push(String(err?.message ?? err));
  }
  rmSync(tmp, { recursive: true, force: true });
  return { reasons };
}

const lib = libraryApi();
const wanted = ortRoot ? `ORT_ROOT=${ortRoot}` : `debian libonnxruntime-dev ${PINNED}`;
const stampFile = path.join(dest, '.sonoedge-stamp');
const stamp = JSON.parse(existsSync(stampFile) ? readFileSync(stampFile, 'utf8') : '{}');

if (!force && stamp.wanted === wanted && stamp.libraryApi === lib.api && headerApi(dest) !== undefined) {
  log(`headers present (${stamp.source}, ORT_API_VERSION ${headerApi(dest)}; library ${lib.source})`);
  process.exit(0);
}

let src;
if (ortRoot) {
  const inc = [path.join(ortRoot, 'include', 'onnxruntime'), path.join(ortRoot, 'include', 'onnxruntime', 'core', 'session'), path.join(ortRoot, 'include')]
    .find((d) => headerApi(d) !== undefined);
  if (!inc) fail(`ORT_ROOT=${ortRoot} has no include/onnxruntime_c_api.h (looked in include/, include/onnxruntime/, include/onnxruntime/core/session/)`);
  src = { dir: inc, source: `ORT_ROOT=${ortRoot}` };
} else {
  const r = fromDebian();
  if (!r.dir) {
    fail(`could not obtain the ONNX Runtime C API headers.\n  ${r.reasons.join('\n  ')}\n` +
      'Set ORT_ROOT to an ONNX Runtime build or release folder holding include/onnxruntime_c_api.h and lib/libonnxruntime.so*\n' +
      '(for example an official onnxruntime-linux-x64 release archive, unpacked), then run npm install again. See docs/DEPLOYMENT.md.');
  }
  src = r;
}

const api = headerApi(src.dir);
if (api > lib.api) {
  if (src.tmp) rmSync(src.tmp, { recursive: true, force: true });
  fail(`the headers (${src.source}) declare ORT_API_VERSION ${api}, newer than the library the engine loads (${lib.source}, API ${lib.api}).\n` +
    'Use headers of the same or an older ONNX Runtime release (ORT_DEB_VERSION), or set ORT_ROOT to a matching build.');
}
rmSync(dest, { recursive: true, force: true });
mkdirSync(dest, { recursive: true });
cpSync(src.dir, dest, { recursive: true });
if (src.tmp) rmSync(src.tmp, { recursive: true, force: true });
writeFileSync(path.join(dest, 'sonoedge_ort_config.h'),
  `// Written by scripts/fetch-ort-headers.mjs: the C API the run-time library serves.\n` +
  `#pragma once\n#define SONOEDGE_ORT_LIBRARY_VERSION "${lib.version}"\n#define SONOEDGE_ORT_LIBRARY_API ${lib.api}\n` +
  `#define SONOEDGE_ORT_HEADERS_SOURCE ${JSON.stringify(src.source)}\n`);
writeFileSync(stampFile, JSON.stringify({ wanted, source: src.source, libraryApi: lib.api, headerApi: api }));
log(`headers from ${src.source}: ORT_API_VERSION ${api}; library ${lib.source} serves API ${lib.api}`);
