// OpenIGTLink message contents sonoedge reads and writes: IMAGE (image
// header version 1), STRING, STATUS, POINT, POLYDATA and the one-byte RTS_
// reply. Parsers check every size and field against the content they were
// given and throw a non-fatal IgtlError naming what was wrong; encoders
// build the content only (encodeIgtl in codec.ts adds header and metadata).
import { CHARSET_ASCII, CHARSET_UTF8, fixedText, nulText } from './codec.js';
import { IgtlError } from './errors.js';

export const IMAGE_HEADER_SIZE = 72;
/** IMAGE scalar types: name, bytes per component. */
export const SCALAR_TYPES = {
  2: { name: 'int8', bytes: 1 }, 3: { name: 'uint8', bytes: 1 }, 4: { name: 'int16', bytes: 2 }, 5: { name: 'uint16', bytes: 2 },
  6: { name: 'int32', bytes: 4 }, 7: { name: 'uint32', bytes: 4 }, 10: { name: 'float32', bytes: 4 }, 11: { name: 'float64', bytes: 8 },
} as const satisfies Record<number, { name: string; bytes: number }>;
export type ScalarType = keyof typeof SCALAR_TYPES;

export interface IgtlImage {
  components: number;
  scalarType: ScalarType;
  /** Byte order of the pixels: 'big' (1) or 'little' (2). */
  endian: 'big' | 'little';
  coordinates: 'RAS' | 'LPS';
  /** Voxels along i, j, k. */
  size: [number, number, number];
  /**
   * The 3x4 matrix as sent: t (i axis direction times spacing), s (j axis), n (k axis), then the position of the
   * image's centre, each x, y, z, in millimetres.
   */
  matrix: number[];
  /** The sub-volume the pixels cover: its first voxel and size (the whole image: 0,0,0 and size). */
  subOffset: [number, number, number];
  subSize: [number, number, number];
  /** The sub-volume's voxels, i fastest, components interleaved: a view of the content. */
  pixels: Uint8Array;
}

const where = (type: string, device?: string) => `${type}${device === undefined ? '' : ` from ${JSON.stringify(device)}`}`;

function sizeError(type: string, device: string | undefined, what: string): IgtlError {
  return new IgtlError('ERR_SONOEDGE_IGTL_BODY_SIZE', `${what} (${where(type, device)})`, { type, device });
}
function fieldError(type: string, device: string | undefined, what: string): IgtlError {
  return new IgtlError('ERR_SONOEDGE_IGTL_FIELD', `${what} (${where(type, device)})`, { type, device });
}

const view = (c: Uint8Array) => new DataView(c.buffer, c.byteOffset, c.length);

export function parseImage(c: Uint8Array, device?: string): IgtlImage {
  if (c.length < IMAGE_HEADER_SIZE) throw sizeError('IMAGE', device, `Expected at least ${IMAGE_HEADER_SIZE} bytes of image header but received ${c.length}`);
  const v = view(c);
  const hv = v.getUint16(0);
  if (hv !== 1) throw fieldError('IMAGE', device, `Expected image header version 1 but received ${hv}`);
  const components = v.getUint8(2);
  const st = v.getUint8(3);
  const e = v.getUint8(4);
  const o = v.getUint8(5);
  if (components < 1) throw fieldError('IMAGE', device, `Expected at least 1 component but received ${components}`);
  if (!(st in SCALAR_TYPES)) throw fieldError('IMAGE', device, `Expected a scalar type of ${Object.keys(SCALAR_TYPES).join(', ')} but received ${st}`);
  if (e !== 1 && e !== 2) throw fieldError('IMAGE', device, `Expected endianness 1 (big) or 2 (little) but received ${e}`);
  if (o !== 1 && o !== 2) throw fieldError('IMAGE', device, `Expected coordinate system 1 (RAS) or 2 (LPS) but received ${o}`);
  const size: [number, number, number] = [v.getUint16(6), v.getUint16(8), v.getUint16(10)];
  const matrix = Array.from({ length: 12 }, (_, k) => v.getFloat32(12 + k * 4));
  const subOffset: [number, number, number] = [v.getUint16(60), v.getUint16(62), v.getUint16(64)];
  const subSize: [number, number, number] = [v.getUint16(66), v.getUint16(68), v.getUint16(70)];
  if (size.some((x) => x < 1)) throw fieldError('IMAGE', device, `Expected a size of at least 1 along i, j and k but received ${size.join('x')}`);
  for (let a = 0; a < 3; a++) {
    if (subSize[a] < 1 || subOffset[a] + subSize[a] > size[a]) {
      throw fieldError('IMAGE', device, `Expected a sub-volume inside the ${size.join('x')} image but received offset ${subOffset.join(',')} size ${subSize.join('x')}`);
    }
  }
  if (!matrix.every(Number.isFinite)) throw fieldError('IMAGE', device, `Expected a finite matrix but received ${matrix.join(', ')}`);
  const bytes = subSize[0] * subSize[1] * subSize[2] * components * SCALAR_TYPES[st as ScalarType].bytes;
  if (c.length - IMAGE_HEADER_SIZE !== bytes) {
    throw sizeError('IMAGE', device,
      `Expected ${bytes} bytes of pixels (${subSize.join('x')} voxels x ${components} components x ${SCALAR_TYPES[st as ScalarType].bytes} bytes) after the image header but received ${c.length - IMAGE_HEADER_SIZE}`);
  }
  return {
    components, scalarType: st as ScalarType, endian: e === 1 ? 'big' : 'little', coordinates: o === 1 ? 'RAS' : 'LPS',
    size, matrix, subOffset, subSize, pixels: c.subarray(IMAGE_HEADER_SIZE),
  };
}

export function encodeImage(img: Omit<IgtlImage, 'subOffset' | 'subSize'> & Partial<Pick<IgtlImage, 'subOffset' | 'subSize'>>): Uint8Array {
  const out = new Uint8Array(IMAGE_HEADER_SIZE + img.pixels.length);
  const v = view(out);
  v.setUint16(0, 1);
  v.setUint8(2, img.components);
  v.setUint8(3, img.scalarType);
  v.setUint8(4, img.endian === 'big' ? 1 : 2);
  v.setUint8(5, img.coordinates === 'RAS' ? 1 : 2);
  img.size.forEach((x, a) => v.setUint16(6 + a * 2, x));
  img.matrix.forEach((x, k) => v.setFloat32(12 + k * 4, x));
  (img.subOffset ?? [0, 0, 0]).forEach((x, a) => v.setUint16(60 + a * 2, x));
  (img.subSize ?? img.size).forEach((x, a) => v.setUint16(66 + a * 2, x));
  out.set(img.pixels, IMAGE_HEADER_SIZE);
  return out;
}

export function parseString(c: Uint8Array, device?: string): { encoding: number; text: string } {
  if (c.length < 4) throw sizeError('STRING', device, `Expected at least 4 bytes (encoding, length) but received ${c.length}`);
  const v = view(c);
  const encoding = v.getUint16(0);
  const n = v.getUint16(2);
  if (c.length !== 4 + n) throw sizeError('STRING', device, `Expected ${4 + n} bytes for a ${n}-byte string but received ${c.length}`);
  return { encoding, text: Buffer.from(c.buffer, c.byteOffset + 4, n).toString(encoding === CHARSET_UTF8 ? 'utf8' : 'latin1') };
}

export function encodeString(text: string): Uint8Array {
  const ascii = /^[\x00-\x7f]*$/.test(text);
  const b = Buffer.from(text, 'utf8');
  if (b.length > 0xffff) throw new IgtlError('ERR_SONOEDGE_IGTL_OPTION', `Expected a STRING of at most 65535 bytes but received ${b.length}`);
  const out = new Uint8Array(4 + b.length);
  const v = view(out);
  v.setUint16(0, ascii ? CHARSET_ASCII : CHARSET_UTF8);
  v.setUint16(2, b.length);
  out.set(b, 4);
  return out;
}

export interface IgtlStatusBody { code: number; subcode: bigint; errorName: string; message: string }

export function parseStatus(c: Uint8Array, device?: string): IgtlStatusBody {
  if (c.length < 30) throw sizeError('STATUS', device, `Expected at least 30 bytes (code, subcode, error name) but received ${c.length}`);
  const v = view(c);
  return { code: v.getUint16(0), subcode: v.getBigInt64(2), errorName: fixedText(c, 10, 20), message: nulText(c, 30, c.length - 30) };
}

export function encodeStatus(s: { code: number; subcode?: bigint; errorName?: string; message: string }): Uint8Array {
  const msg = Buffer.from(s.message, 'utf8');
  const out = new Uint8Array(30 + msg.length + 1);
  const v = view(out);
  v.setUint16(0, s.code);
  v.setBigInt64(2, s.subcode ?? 0n);
  out.set(Buffer.from(s.errorName ?? '', 'latin1').subarray(0, 19), 10);
  out.set(msg, 30);
  return out;
}

export interface IgtlPoint {
  name: string;
  group: string;
  rgba: [number, number, number, number];
  position: [number, number, number];
  diameter: number;
  owner: string;
}
export const POINT_BYTES = 136;

export function encodePoints(points: readonly IgtlPoint[]): Uint8Array {
  const out = new Uint8Array(points.length * POINT_BYTES);
  const v = view(out);
  points.forEach((p, i) => {
    const at = i * POINT_BYTES;
    out.set(Buffer.from(p.name, 'utf8').subarray(0, 63), at);
    out.set(Buffer.from(p.group, 'utf8').subarray(0, 31), at + 64);
    out.set(p.rgba, at + 96);
    p.position.forEach((x, k) => v.setFloat32(at + 100 + k * 4, x));
    v.setFloat32(at + 112, p.diameter);
    out.set(Buffer.from(p.owner, 'utf8').subarray(0, 19), at + 116);
  });
  return out;
}

export function parsePoints(c: Uint8Array, device?: string): IgtlPoint[] {
  if (c.length % POINT_BYTES !== 0) throw sizeError('POINT', device, `Expected a multiple of ${POINT_BYTES} bytes but received ${c.length}`);
  const v = view(c);
  const str = (a: number, n: number) => fixedText(c, a, n);
  const out: IgtlPoint[] = [];
  for (let at = 0; at < c.length; at += POINT_BYTES) {
    out.push({
      name: str(at, 64), group: str(at + 64, 32), rgba: [c[at + 96], c[at + 97], c[at + 98], c[at + 99]],
      position: [v.getFloat32(at + 100), v.getFloat32(at + 104), v.getFloat32(at + 108)], diameter: v.getFloat32(at + 112), owner: str(at + 116, 20),
    });
  }
  return out;
}

export interface IgtlPolyData {
  /** x, y, z per point, millimetres. */
  points: number[];
  /** Each line a list of point indices (a closed outline repeats its first index last). */
  lines: number[][];
}

/** POLYDATA with points and lines only (no vertices, polygons, strips or attributes). */
export function encodePolyData(p: IgtlPolyData): Uint8Array {
  const n = p.points.length / 3;
  const lineWords = p.lines.reduce((a, l) => a + 1 + l.length, 0);
  const out = new Uint8Array(40 + n * 12 + lineWords * 4);
  const v = view(out);
  v.setUint32(0, n);
  v.setUint32(12, p.lines.length);
  v.setUint32(16, lineWords * 4);
  let at = 40;
  for (const x of p.points) { v.setFloat32(at, x); at += 4; }
  for (const l of p.lines) {
    v.setUint32(at, l.length);
    at += 4;
    for (const k of l) { v.setUint32(at, k); at += 4; }
  }
  return out;
}

/** Reads POLYDATA's points and lines (the other sections are skipped by their declared sizes, which are checked). */
export function parsePolyData(c: Uint8Array, device?: string): IgtlPolyData {
  if (c.length < 40) throw sizeError('POLYDATA', device, `Expected at least 40 bytes of header but received ${c.length}`);
  const v = view(c);
  const h = Array.from({ length: 10 }, (_, k) => v.getUint32(k * 4));
  const [n, , sizeVerts, nLines, sizeLines, , sizePolys, , sizeStrips, nAttr] = h;
  const need = 40 + n * 12 + sizeVerts + sizeLines + sizePolys + sizeStrips;
  if (need > c.length || (nAttr === 0 && need !== c.length)) throw sizeError('POLYDATA', device, `Expected ${need} bytes for ${n} points and the declared cell sizes but received ${c.length}`);
  const points = Array.from({ length: n * 3 }, (_, k) => v.getFloat32(40 + k * 4));
  const lines: number[][] = [];
  let at = 40 + n * 12 + sizeVerts;
  const end = at + sizeLines;
  for (let i = 0; i < nLines; i++) {
    if (at + 4 > end) throw sizeError('POLYDATA', device, `Expected ${nLines} lines within ${sizeLines} bytes but they run past it`);
    const k = v.getUint32(at);
    at += 4;
    if (at + k * 4 > end) throw sizeError('POLYDATA', device, `Expected ${nLines} lines within ${sizeLines} bytes but they run past it`);
    const l: number[] = [];
    for (let j = 0; j < k; j++, at += 4) {
      const idx = v.getUint32(at);
      if (idx >= n) throw fieldError('POLYDATA', device, `Expected point indices below ${n} but received ${idx}`);
      l.push(idx);
    }
    lines.push(l);
  }
  return { points, lines };
}

/** RTS_<type>: one status byte, 0 for success, 1 for an error. */
export function encodeRts(ok: boolean): Uint8Array {
  return Uint8Array.of(ok ? 0 : 1);
}
