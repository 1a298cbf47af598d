// Turns a schema failure into one line a person can act on: the file, the
// line of the offending key in the YAML/JSON source, the key path, what the
// key takes and what it holds. ajv knows only JSON pointers into the parsed
// value; the YAML document (parsed with a LineCounter) knows where every
// node came from, so each pointer is walked back to its node.
import type { ErrorObject } from 'ajv';
import { isAlias, isMap, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { CodedError } from '../errors.js';
import { closest } from '../util/options.js';

/** A bad config file: `file:line: key: expected X but received Y`. */
export class ConfigError extends Error implements CodedError {
  readonly code = 'ERR_SONOEDGE_CONFIG' as const;
  /** The file as it was named to the loader. */
  readonly file: string;
  /** 1-based line of the offending key or syntax; undefined for file-level errors (missing file, bad extension). */
  readonly line: number | undefined;
  /** Dotted key path, e.g. socket.tcp.port or models.trustStore[1]; undefined for file-level and syntax errors. */
  readonly key: string | undefined;

  constructor(file: string, line: number | undefined, key: string | undefined, text: string, options?: { cause?: unknown }) {
    super(`${file}${line === undefined ? '' : `:${line}`}: ${key === undefined ? '' : `${key}: `}${text}`, options);
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.key = key;
  }
}

type Schema = Record<string, unknown>;

/** `socket.tcp.port`, `models.trustStore[1]`, `engine.sessionConfig["a.b"]`. */
export function keyPath(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) {
    if (/^\d+$/.test(s)) out += `[${s}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(s)) out += out === '' ? s : `.${s}`;
    else out += `[${JSON.stringify(s)}]`;
  }
  return out;
}

const pointerSegments = (pointer: string): string[] =>
  pointer === '' ? [] : pointer.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));

/** How a message names a received value: strings and numbers as written. */
export function received(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return `a list of ${value.length}`;
  if (value instanceof Uint8Array) return 'binary data';
  if (value !== null && typeof value === 'object') return 'an object';
  // YAML's .inf and .nan (and 1e400): JSON would write them as null, which the file does not say.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value) ?? String(value);
}

const range = (s: Schema, kind: string): string => {
  const lo = s.minimum ?? (s.exclusiveMinimum === undefined ? undefined : `> ${String(s.exclusiveMinimum)}`);
  const hi = s.maximum ?? (s.exclusiveMaximum === undefined ? undefined : `< ${String(s.exclusiveMaximum)}`);
  if (typeof lo === 'number' && typeof hi === 'number') return `${kind} between ${lo} and ${hi}`;
  const parts = [typeof lo === 'number' ? `>= ${lo}` : lo, typeof hi === 'number' ? `<= ${hi}` : hi].filter(Boolean);
  return parts.length === 0 ? kind : `${kind} ${parts.join(' and ')}`;
};

/** What a schema accepts, in words: "integer between 1 and 1024", "one of fp32, int8, fp16". */
export function expected(s: Schema): string {
  if (typeof s['x-expected'] === 'string') return s['x-expected'];
  if (Array.isArray(s.enum)) return `one of ${s.enum.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ')}`;
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.anyOf)) return (s.anyOf as Schema[]).map(expected).join(' or ');
  const types = Array.isArray(s.type) ? (s.type as string[]) : [s.type as string];
  return types.map((t) => {
    if (t === 'integer' || t === 'number') return range(s, t);
    if (t === 'string') return s.minLength === 1 ? 'non-empty string' : 'string';
    if (t === 'array') {
      const items = s.items === undefined ? '' : `, each ${expected(s.items as Schema)}`;
      return `${s.minItems === 1 ? 'non-empty ' : ''}list${s.uniqueItems === true ? ' of distinct values' : ''}${items}`;
    }
    return String(t);
  }).join(' or ');
}

/** The node at a JSON pointer and the key node that names it, as far down as the document goes. */
function locate(doc: Document, segments: readonly string[]): { node?: Node; key?: Node } {
  let node = doc.contents as Node | null | undefined;
  let key: Node | undefined;
  for (const seg of segments) {
    if (node && isAlias(node)) node = node.resolve(doc) as Node | undefined;
    if (node && isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === seg);
      if (!pair) return { node, key };
      key = pair.key as Node;
      node = pair.value as Node | null;
      if (node === null) return { node: key, key };
    } else if (node && isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) return { node, key };
      node = key = item;
    } else {
      return { node: node ?? undefined, key };
    }
  }
  return { node: node ?? undefined, key };
}

/** The key path of an error and the source offset to report for it. */
interface Located {
  segments: string[];
  offset: number | undefined;
  text: string;
  /** Unknown keys first among errors on one line: they usually explain the rest. */
  rank: number;
}

function describeError(e: ErrorObject, doc: Document): Located {
  const segments = pointerSegments(e.instancePath);
  const params = e.params as Record<string, unknown>;
  const parent = (e.parentSchema ?? {}) as Schema;
  const { node, key } = locate(doc, segments);
  const at = (n: Node | undefined) => n?.range?.[0];
  // A value is reported on its key's line: where a block mapping or list starts.
  const here = at(key ?? node);
  if (e.keyword === 'additionalProperties') {
    const name = String(params.additionalProperty);
    const known = Object.keys((parent.properties ?? {}) as Schema);
    const hint = closest(name, known);
    const text = hint ? `unknown key; did you mean ${JSON.stringify(hint)}?` : `unknown key; expected one of ${known.join(', ')}`;
    return { segments: [...segments, name], offset: at(locate(doc, [...segments, name]).key), text, rank: 0 };
  }
  if (e.keyword === 'required') {
    const name = String(params.missingProperty);
    const schema = ((parent.properties ?? {}) as Record<string, Schema>)[name] ?? {};
    return { segments: [...segments, name], offset: here, text: `expected ${expected(schema)} but received nothing`, rank: 2 };
  }
  // A value error: type, enum, range, pattern, anyOf... The whole schema of the key names what it takes.
  return { segments, offset: here, text: `expected ${expected(parent)} but received ${received(e.data)}`, rank: 1 };
}

/**
 * Drops the noise ajv's anyOf leaves: where a branch got past the type check
 * and failed deeper (tcp.port out of range), the deeper error is the useful one;
 * otherwise the anyOf error, which names every alternative, is.
 */
function relevant(errors: readonly ErrorObject[]): ErrorObject[] {
  const keyOf = (e: ErrorObject): string => {
    const p = e.params as Record<string, unknown>;
    const extra = e.keyword === 'additionalProperties' ? p.additionalProperty : e.keyword === 'required' ? p.missingProperty : undefined;
    return extra === undefined ? e.instancePath : `${e.instancePath}/${String(extra)}`;
  };
  const drop = new Set<ErrorObject>();
  for (const a of errors) {
    if (a.keyword !== 'anyOf' && a.keyword !== 'oneOf') continue;
    const branch = errors.filter((e) => e !== a && e.schemaPath.startsWith(`${a.schemaPath}/`));
    const deeper = branch.filter((e) => keyOf(e).length > a.instancePath.length && keyOf(e).startsWith(`${a.instancePath}/`));
    if (deeper.length > 0) {
      drop.add(a);
      for (const e of branch) if (!deeper.includes(e)) drop.add(e);
    } else {
      for (const e of branch) drop.add(e);
    }
  }
  // A misspelt key explains the required key missing beside it: report the typo.
  for (const e of errors) {
    if (e.keyword === 'required' && errors.some((u) => u.keyword === 'additionalProperties' && u.instancePath === e.instancePath && !drop.has(u))) {
      drop.add(e);
    }
  }
  return errors.filter((e) => !drop.has(e));
}

/** The first of ajv's errors in document order, as a ConfigError. */
export function schemaError(file: string, errors: readonly ErrorObject[], doc: Document, lines: LineCounter): ConfigError {
  const located = relevant(errors).map((e) => {
    const l = describeError(e, doc);
    return { ...l, line: l.offset === undefined ? 1 : lines.linePos(l.offset).line };
  });
  located.sort((a, b) => a.line - b.line || a.rank - b.rank);
  const first = located[0];
  return new ConfigError(file, first.line, first.segments.length === 0 ? '(top level)' : keyPath(first.segments), first.text);
}

/** The line of a key path's node, for errors found after the schema (the engine's cross-field checks). */
export function lineOf(doc: Document, lines: LineCounter, segments: readonly string[]): number {
  const { key, node } = locate(doc, segments);
  const offset = (key ?? node)?.range?.[0];
  return offset === undefined ? 1 : lines.linePos(offset).line;
}
