// Small predicates shared by every validator.
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
export const isNumber = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);
export const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isInteger = (v: unknown): v is number => Number.isInteger(v);
export const isBoolean = (v: unknown): v is boolean => typeof v === 'boolean';
export const isString = (v: unknown): v is string => typeof v === 'string';
export const inRange = (v: number, lo: number, hi: number): boolean => v >= lo && v <= hi;
export const isBytes = (v: unknown): v is ArrayBufferView | ArrayBuffer =>
  ArrayBuffer.isView(v) || v instanceof ArrayBuffer;
/** A loopback host name or address: localhost, ::1 or 127.x.x.x (the viewer's page needs no token there). */
export const isLoopback = (host: string): boolean => /^(127\.\d+\.\d+\.\d+|::1|localhost)$/.test(host);
