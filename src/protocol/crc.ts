// Checksums of the firmware protocols.
// CRC-32C (Castagnoli): poly 0x1EDC6F41 (reflected 0x82F63B78), init 0xFFFFFFFF,
// reflected in and out, xorout 0xFFFFFFFF; check("123456789") = 0xE3069283.
// CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, not reflected, xorout 0x0000;
// check("123456789") = 0x29B1.

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

const CRC16_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[n] = c;
  }
  return t;
})();

export function crc32c(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC32C_TABLE[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export function crc16CcittFalse(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffff;
  for (let i = start; i < end; i++) c = ((c << 8) & 0xffff) ^ CRC16_TABLE[((c >>> 8) ^ data[i]) & 0xff];
  return c;
}
