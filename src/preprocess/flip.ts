// A stream's display orientation against the models' (docs/PROTOCOL.md, CONFIGURE_STREAM.flip). The bundled
// models learned echo as the ASE convention shows it: the probe (the sector's apex) at the top and, in apical views,
// the LV on the screen's right. A scanner that shows the image mirrored (the LV on the left: the general-imaging
// probe-marker convention, or a probe held the other way) or apex down sends frames the models read as a turned
// heart: OTHER or `uncertain` at best. With the stream's flip the runtime turns each model input back into the
// models' orientation after preprocessing, and the pipeline's spatial outputs back into the frame's: the LV mask
// and outline, and the API's probe guidance label (a mirror swaps left and right, and the sense of a rotation).
import { invalidValue } from '../errors.js';
import { Layout, type OutputArray } from './types.js';

export const FLIPS = ['none', 'horizontal', 'vertical', 'both'] as const;
/** none: as the models expect; horizontal: mirrored left-right; vertical: apex down; both: turned by 180 degrees. */
export type Flip = (typeof FLIPS)[number];

/** Whether a value is one of FLIPS. */
export const isFlip = (v: unknown): v is Flip => (FLIPS as readonly unknown[]).includes(v);

/** The flip, checked: an unknown value throws ERR_SONOEDGE_PLAN_OPTION naming `name`. */
export function checkFlip(flip: unknown, name: string): Flip {
  if (!isFlip(flip)) throw invalidValue('ERR_SONOEDGE_PLAN_OPTION', FLIPS.join(', '), name, flip);
  return flip;
}

const mirrorsX = (flip: Flip): boolean => flip === 'horizontal' || flip === 'both';
const mirrorsY = (flip: Flip): boolean => flip === 'vertical' || flip === 'both';

/** The part of a preprocessing plan that says how a model input lies in its tensor. */
export interface TensorShape { outWidth: number; outHeight: number; channels: number; layout: number; batchSize: number }

/**
 * Flips every image of a preprocessed tensor in place (each batch item and channel; NCHW or NHWC). A flip applied
 * twice gives the tensor back exactly (elements are only moved).
 */
export function flipTensor(data: OutputArray, shape: TensorShape, flip: Flip): void {
  const fx = mirrorsX(flip);
  const fy = mirrorsY(flip);
  if (!fx && !fy) return;
  const { outWidth: w, outHeight: h, channels: c } = shape;
  // NHWC: a pixel is `c` adjacent elements, one plane per image; NCHW: one plane per channel, a pixel one element.
  const px = shape.layout === Layout.NHWC ? c : 1;
  const planes = shape.batchSize * (shape.layout === Layout.NHWC ? 1 : c);
  const plane = w * h * px;
  // One element a pixel (NCHW, or one channel): native reverses, no allocation (a vertical flip is the plane reversed,
  // then each row reversed back). Else each pixel swaps with its image under the flip, once (the one after it).
  const native = px === 1;
  for (let p = 0; p < planes; p++) {
    const base = p * plane;
    if (native) {
      if (fy) data.subarray(base, base + plane).reverse();
      if (fx !== fy) for (let y = 0; y < h; y++) data.subarray(base + y * w, base + (y + 1) * w).reverse();
      continue;
    }
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const a = base + (y * w + x) * px;
        const b = base + ((fy ? h - 1 - y : y) * w + (fx ? w - 1 - x : x)) * px;
        if (b <= a) continue;
        for (let k = 0; k < px; k++) {
          const t = data[a + k];
          data[a + k] = data[b + k];
          data[b + k] = t;
        }
      }
    }
  }
}

/** x,y pairs in pixel centres of a w x h image, flipped (a new array; for `none` the points themselves). */
export function flipPoints(points: readonly number[], w: number, h: number, flip: Flip): readonly number[] {
  const fx = mirrorsX(flip);
  const fy = mirrorsY(flip);
  if (!fx && !fy) return points;
  return points.map((v, i) => (i % 2 === 0 ? (fx ? w - 1 - v : v) : (fy ? h - 1 - v : v)));
}

/**
 * A closed outline (x,y pairs in pixel centres of a w x h image), flipped, its vertices in reverse order after a flip
 * in one axis so that it keeps its winding (a mirror would reverse it); for `none` the outline itself.
 */
export function flipPolygon(points: number[], w: number, h: number, flip: Flip): number[] {
  if (mirrorsX(flip) === mirrorsY(flip)) return flipPoints(points, w, h, flip) as number[];
  const out = flipPoints(points, w, h, flip) as number[];
  for (let i = 0, j = out.length - 2; i < j; i += 2, j -= 2) {
    [out[i], out[i + 1], out[j], out[j + 1]] = [out[j], out[j + 1], out[i], out[i + 1]];
  }
  return out;
}

/** A w x h one-byte mask, flipped (a new array). */
export function flipMask(mask: Uint8Array, w: number, h: number, flip: Flip): Uint8Array {
  const out = Uint8Array.from(mask);
  flipTensor(out, { outWidth: w, outHeight: h, channels: 1, layout: Layout.NCHW, batchSize: 1 }, flip);
  return out;
}

const SIDES: Readonly<Record<string, string>> = { slide_left: 'slide_right', slide_right: 'slide_left' };
const TURNS: Readonly<Record<string, string>> = { rotate_cw: 'rotate_ccw', rotate_ccw: 'rotate_cw' };

/**
 * A guidance label read on the models' orientation, as the flipped screen shows it: a horizontal mirror swaps
 * slide_left and slide_right and the sense of a rotation; a vertical one (apex down) only the sense of a rotation;
 * both (a 180-degree turn) only the sides. Other labels (hold, tilt_to_apex, a package's own) are unchanged.
 */
export function flipGuidance(label: string, flip: Flip): string {
  const fx = mirrorsX(flip);
  const fy = mirrorsY(flip);
  if (fx && SIDES[label]) return SIDES[label];
  if (fx !== fy && TURNS[label]) return TURNS[label];
  return label;
}
