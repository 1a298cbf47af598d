// Deterministic synthetic frames for self-checks, tests and benchmarks: a
// speckled sector on a dark screen, like a B-mode image inside a scanner UI.

/** A mulberry32 generator: small, fast, deterministic. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GRAY8 frame, packed rows: a 90-degree speckle sector with an apex at the top centre. */
export function syntheticSectorFrame(width: number, height: number, seed: number): Uint8Array {
  const r = rng(seed);
  const f = new Uint8Array(width * height);
  const cx = width / 2;
  const maxR = height * 0.95;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const dx = x - cx;
      const dz = y - 8;
      const rad = Math.sqrt(dx * dx + dz * dz);
      const inSector = dz > 0 && Math.abs(Math.atan2(dx, dz)) < Math.PI / 4 && rad < maxR;
      const base = inSector ? 40 + 120 * Math.exp(-rad / maxR) : 4;
      const v = base * (0.5 + r()) + (inSector && Math.abs(rad - maxR * 0.5) < 6 ? 80 : 0);
      f[y * width + x] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return f;
}

/** Random bytes, for frames of any format. */
export function randomBytes(length: number, seed: number): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(length);
  for (let i = 0; i < length; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** Float32 values in [-1, 1) from a 32-bit LCG: model inputs for engine tests and benchmarks (the same sequence everywhere). */
export function noise(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}
