// The geometry of an OpenIGTLink IMAGE and what sonoedge sends back in it:
// pixel spacing from the matrix, frame pixels to millimetres in the image's
// coordinate system, and the LV label map rasterised from the contour at the
// input's own size (so that 3D Slicer overlays it on the input image).

/** The matrix's column lengths: millimetres per voxel along i, j, k. */
export function spacingOf(matrix: readonly number[]): [number, number, number] {
  const len = (a: number) => Math.hypot(matrix[a], matrix[a + 1], matrix[a + 2]);
  return [len(0), len(3), len(6)];
}

/**
 * Maps frame pixel centres (x along i, y along j, slice 0) to the image's coordinate system, in millimetres.
 * OpenIGTLink places the image by its centre: voxel (i, j, k) lies at centre + (i - (ri-1)/2) t + (j - (rj-1)/2) s + (k - (rk-1)/2) n.
 */
export function pixelToWorld(size: readonly [number, number, number], matrix: readonly number[]): (x: number, y: number) => [number, number, number] {
  const [t0, t1, t2, s0, s1, s2, n0, n1, n2, c0, c1, c2] = matrix;
  const hi = (size[0] - 1) / 2;
  const hj = (size[1] - 1) / 2;
  const hk = (size[2] - 1) / 2;
  const o0 = c0 - hi * t0 - hj * s0 - hk * n0;
  const o1 = c1 - hi * t1 - hj * s1 - hk * n1;
  const o2 = c2 - hi * t2 - hj * s2 - hk * n2;
  return (x, y) => [o0 + x * t0 + y * s0, o1 + x * t1 + y * s1, o2 + x * t2 + y * s2];
}

/**
 * A width x height map, `value` at every pixel whose centre lies inside the closed polygon x0,y0,x1,y1,... (frame
 * pixels, even-odd rule), 0 elsewhere. Fewer than 3 points: all 0.
 */
export function fillPolygon(contour: readonly number[] | undefined, width: number, height: number, value = 1): Uint8Array {
  const out = new Uint8Array(width * height);
  const n = contour ? Math.floor(contour.length / 2) : 0;
  if (!contour || n < 3) return out;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let k = 0; k < n; k++) {
    minY = Math.min(minY, contour[2 * k + 1]);
    maxY = Math.max(maxY, contour[2 * k + 1]);
  }
  const xs: number[] = [];
  const y0 = Math.max(0, Math.ceil(minY));
  const y1 = Math.min(height - 1, Math.floor(maxY));
  for (let y = y0; y <= y1; y++) {
    xs.length = 0;
    for (let k = 0, j = n - 1; k < n; j = k++) {
      const ya = contour[2 * k + 1];
      const yb = contour[2 * j + 1];
      // Half-open rule: an edge counts for rows in [min, max), so a vertex on the row is counted once.
      if ((ya <= y && y < yb) || (yb <= y && y < ya)) {
        const xa = contour[2 * k];
        const xb = contour[2 * j];
        xs.push(xa + ((y - ya) * (xb - xa)) / (yb - ya));
      }
    }
    xs.sort((a, b) => a - b);
    for (let p = 0; p + 1 < xs.length; p += 2) {
      const from = Math.max(0, Math.ceil(xs[p]));
      const to = Math.min(width - 1, Math.ceil(xs[p + 1]) - 1);
      if (to >= from) out.fill(value, y * width + from, y * width + to + 1);
    }
  }
  return out;
}
