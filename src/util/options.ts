// Rejects unknown option names and suggests the closest known one, so that a
// misspelt `letterBox` is an error rather than a silently ignored option.
import { typeError, invalidType } from '../errors.js';
import { isObject } from './is.js';

/** Levenshtein distance, for suggestions. */
export function editDistance(a: string, b: string): number {
  const prev = new Array<number>(b.length + 1);
  for (let j = 0; j <= b.length; j++) prev[j] = j;
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0];
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j];
      const cost = a[i - 1].toLowerCase() === b[j - 1].toLowerCase() ? 0 : 1;
      prev[j] = Math.min(prev[j] + 1, prev[j - 1] + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length];
}

/** The closest of `known` to `name`, if close enough to be a likely typo. */
export function closest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD) {
      bestD = d;
      best = k;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(best.length / 3)) ? best : undefined;
}

/**
 * Asserts `value` is a plain object whose keys are all in `known`. `name` prefixes each key (input.width); an empty
 * name leaves keys bare (a constructor's own options: width), the object itself then called options.
 */
export function checkKeys(value: unknown, name: string, known: readonly string[]): Record<string, unknown> {
  if (!isObject(value)) throw invalidType('ERR_SONOEDGE_ARG_TYPE', 'object', name || 'options', value);
  const at = (key: string): string => (name ? `${name}.${key}` : key);
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      const hint = closest(key, known);
      throw typeError(
        'ERR_SONOEDGE_UNKNOWN_OPTION',
        `Unknown option ${at(key)}${hint ? `; did you mean ${at(hint)}?` : ''} (known: ${known.join(', ')})`,
      );
    }
  }
  return value;
}
