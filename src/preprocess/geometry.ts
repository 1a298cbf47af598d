// docs/PREPROCESSING.md sections 3 to 5: the ROI size, the source's aspect size (the ROI in pixels, or the
// sector's bounding box in mm when scan converting) and the content rectangle inside the output (the whole output,
// or the aspect fitted into it with letterbox). Shared by the reference implementation and the pipeline's
// model-pixel geometry, so that both follow the native plan.
import type { ResolvedPlanOptions } from './types.js';

export interface ContentGeometry {
  rw: number;
  rh: number;
  aw: number;
  ah: number;
  xmin: number;
  zmin: number;
  cw: number;
  ch: number;
  ox: number;
  oy: number;
}

export type GeometryOptions = Pick<ResolvedPlanOptions, 'roi' | 'scanConvert' | 'sector' | 'outWidth' | 'outHeight' | 'letterbox'>;

export function contentGeometry(o: GeometryOptions): ContentGeometry {
  const rw = o.roi.width;
  const rh = o.roi.height;
  let aw = rw;
  let ah = rh;
  let xmin = 0;
  let zmin = 0;
  if (o.scanConvert) {
    const s = o.sector;
    const points: Array<[number, number]> = [
      [s.depthStart, s.angleStart],
      [s.depthStart, s.angleEnd],
      [s.depthEnd, s.angleStart],
      [s.depthEnd, s.angleEnd],
    ];
    if (s.angleStart <= 0 && 0 <= s.angleEnd) points.push([s.depthEnd, 0]);
    const xs = points.map(([r, t]) => r * Math.sin(t));
    const zs = points.map(([r, t]) => r * Math.cos(t));
    xmin = Math.min(...xs);
    zmin = Math.min(...zs);
    aw = Math.max(...xs) - xmin;
    ah = Math.max(...zs) - zmin;
  }
  const W = o.outWidth;
  const H = o.outHeight;
  let cw = W;
  let ch = H;
  let ox = 0;
  let oy = 0;
  if (o.letterbox) {
    const s = Math.min(W / aw, H / ah);
    cw = Math.min(W, Math.max(1, Math.floor(aw * s + 0.5)));
    ch = Math.min(H, Math.max(1, Math.floor(ah * s + 0.5)));
    ox = Math.floor((W - cw) / 2);
    oy = Math.floor((H - ch) / 2);
  }
  return { rw, rh, aw, ah, xmin, zmin, cw, ch, ox, oy };
}
