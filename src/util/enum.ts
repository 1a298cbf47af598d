// Reverse lookups for `as const` name -> number tables (message types, wire
// error codes, record types), so a number read off the wire maps back to its name.

/** number -> name for a table of unique numbers; get() is undefined for a number not in it. */
export function namesByValue<K extends string>(table: Readonly<Record<K, number>>): ReadonlyMap<number, K> {
  return new Map((Object.entries(table) as Array<[K, number]>).map(([k, v]) => [v, k]));
}
