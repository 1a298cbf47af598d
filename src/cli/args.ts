// Command-line arguments for every `sonoedge` command: node's util.parseArgs,
// strict, with the closest known flag suggested for a typo and one clear line
// for every mistake (UsageError -> exit 2 in main.ts).
import { parseArgs } from 'node:util';
import type { ErrorCode } from '../errors.js';
import { closest } from '../util/options.js';

/** A mistake on the command line: main.ts prints `sonoedge <cmd>: <message>` and exits 2. */
export class UsageError extends Error {
  readonly code = 'ERR_SONOEDGE_USAGE' satisfies ErrorCode;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** One line for --help. */
  help: string;
  /** Shown in --help as the value's name (string flags). */
  value?: string;
}

export interface CommandSpec {
  name: string;
  /** One line for `sonoedge --help`. */
  summary: string;
  /** Usage after `sonoedge <name>`, for example `[options] INPUT`. */
  usage: string;
  flags: Record<string, FlagSpec>;
  /** Positional arguments allowed: [min, max]; default [0, 0]. */
  positionals?: [number, number];
}

export interface ParsedArgs {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
}

const NEGATIVE_NUMBER = /^-\.?\d/;

/**
 * `--sector -5,0,10,10`, `--fps -3`: parseArgs refuses a value that starts with '-' as ambiguous, which read
 * "option --sector needs a value" although one was given. A string flag followed by what can only be a negative
 * number (a flag never starts with -digit) takes it as its value, so the flag's own check names what is wrong
 * (X and Y of at least 0, a rate of at least 0.1). Nothing after `--` is touched.
 */
function joinNegativeValues(args: string[], options: Record<string, { type: 'string' | 'boolean'; short?: string }>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--') return [...out, ...args.slice(i)];
    const next = args[i + 1];
    const name = /^--([^=]+)$/.exec(arg)?.[1] ?? (/^-[^-]$/.test(arg) ? Object.keys(options).find((k) => options[k].short === arg[1]) : undefined);
    if (next !== undefined && NEGATIVE_NUMBER.test(next) && name !== undefined && options[name]?.type === 'string') {
      out.push(`--${name}=${next}`);
      i++;
      continue;
    }
    out.push(arg);
  }
  return out;
}

/** Parses `args` for `spec`; throws UsageError naming the bad argument (and the closest flag for a typo). */
export function parseCommandArgs(spec: CommandSpec, args: string[]): ParsedArgs {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, f] of Object.entries(spec.flags)) {
    options[name] = { type: f.type, ...(f.short ? { short: f.short } : {}), ...(f.multiple ? { multiple: true } : {}) };
  }
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: joinNegativeValues(args, options), options, allowPositionals: true, strict: true });
  } catch (err) {
    const e = err as Error & { code?: string };
    const flag = /'(-{1,2}[^'\s]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const bare = flag.replace(/^-+/, '').split('=')[0];
      const hint = closest(bare, Object.keys(options));
      throw new UsageError(`unknown option ${flag.split('=')[0]}${hint ? `; did you mean --${hint}?` : ''} (see sonoedge ${spec.name} --help)`);
    }
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      const m = /'(--[^' ]+)/.exec(e.message);
      const isBool = m && options[m[1].slice(2).split(' ')[0]]?.type === 'boolean';
      throw new UsageError(isBool ? `option ${m![1].split(' ')[0]} takes no value` : `option ${m?.[1].split(' ')[0] ?? flag} needs a value`);
    }
    throw new UsageError(e.message.split('\n')[0]);
  }
  const values = parsed.values as ParsedArgs['values'];
  const help = values.help === true;
  delete values.help;
  const [min, max] = spec.positionals ?? [0, 0];
  if (!help) {
    if (parsed.positionals.length > max) {
      throw new UsageError(`unexpected argument ${JSON.stringify(parsed.positionals[max])} (see sonoedge ${spec.name} --help)`);
    }
    if (parsed.positionals.length < min) {
      throw new UsageError(`missing argument: usage: sonoedge ${spec.name} ${spec.usage}`);
    }
  }
  return { values, positionals: parsed.positionals, help };
}

/** `sonoedge <name> --help` text. */
export function commandHelp(spec: CommandSpec): string {
  const rows = Object.entries(spec.flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : '    '}--${name}${f.type === 'string' ? ` ${f.value ?? 'VALUE'}` : ''}`;
    return `  ${left.padEnd(30)}${f.help}`;
  });
  rows.push(`  ${'-h, --help'.padEnd(30)}this text`);
  return `Usage: sonoedge ${spec.name} ${spec.usage}\n\n${spec.summary}\n\nOptions:\n${rows.join('\n')}\n`;
}

/** A string flag as a number in [min, max]; UsageError naming the flag otherwise. */
export function numberFlag(values: ParsedArgs['values'], name: string, fallback: number,
  range: { min?: number; max?: number; integer?: boolean } = {}): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  const { min = -Infinity, max = Infinity, integer = false } = range;
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
    const kind = integer ? 'an integer' : 'a number';
    const what = min > -Infinity && max < Infinity ? `${kind} in [${min}, ${max}]` : `${kind}${min > -Infinity ? ` >= ${min}` : ''}${max < Infinity ? ` <= ${max}` : ''}`;
    throw new UsageError(`option --${name} expects ${what} but received ${JSON.stringify(raw)}`);
  }
  return n;
}

/** A UsageError unless `item` is one of `known` (the closest known value suggested). */
function checkKnown(name: string, item: string, known: readonly string[]): void {
  if (known.includes(item)) return;
  const hint = closest(item, known);
  throw new UsageError(`option --${name}: unknown value ${JSON.stringify(item)}${hint ? `; did you mean ${JSON.stringify(hint)}?` : ''} (known: ${known.join(', ')})`);
}

/** One value out of `known`. */
export function choiceFlag(values: ParsedArgs['values'], name: string, fallback: string, known: readonly string[]): string {
  const raw = values[name];
  if (raw === undefined) return fallback;
  checkKnown(name, String(raw), known);
  return String(raw);
}

/** A comma-separated list flag, each item checked against `known` (closest suggested). */
export function listFlag(values: ParsedArgs['values'], name: string, fallback: string[], known?: readonly string[]): string[] {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const items = String(raw).split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (items.length === 0) throw new UsageError(`option --${name} expects a comma-separated list but received ${JSON.stringify(raw)}`);
  if (known) for (const item of items) checkKnown(name, item, known);
  return items;
}
