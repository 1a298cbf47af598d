// src/report/session.ts's summary texts: why a run gave no EF (noEfText), an EF and what is known of it (efText).
import t from 'tap';
import { efText, noEfText, type NoEfFrame } from '../../src/report/session.js';

const OPTS = { segmentation: true, views: ['A4C', 'A2C'], bar: 0.5 };
const frame = (o: Partial<NoEfFrame> & { q?: number } = {}): NoEfFrame => ({
  state: o.state ?? 'uncertain', quality: { smoothed: o.q ?? 0.3 },
  ...(o.lv !== undefined ? { lv: o.lv } : {}), ...(o.lvRejected !== undefined ? { lvRejected: o.lvRejected } : {}),
  ...(o.lvSkipped !== undefined ? { lvSkipped: o.lvSkipped } : {}), ...(o.ef !== undefined ? { ef: o.ef } : {}),
});

t.test('noEfText: no LV drawn, each frame counted by the reason the pipeline gave', async (t) => {
  // pydicom's real cine as the bundled models see it: every frame apical, the gate closed; the median of an even count
  // is the mean of the two middle values.
  t.equal(noEfText([0.2, 0.3, 0.25, 0.27].map((q) => frame({ q, lvSkipped: 'quality' })), OPTS),
    'EF n/a (an LV on 0 of 4 frames: 4 with the smoothed quality under the segmentation bar 0.5, median 0.26)');
  const mixed = [
    frame({ q: 0.1, lvSkipped: 'quality' }), frame({ q: 0.45, lvSkipped: 'quality' }), frame({ q: 0.2, lvSkipped: 'quality' }),
    frame({ q: Number.NaN, lvSkipped: 'quality_not_a_number' }),
    frame({ q: 0.9, lvSkipped: 'view' }), frame({ lvSkipped: 'view' }), frame({ q: 0.9, lvSkipped: 'view_not_a_number' }),
    frame({ state: 'unknown', lvSkipped: 'unknown' }), frame({ lvSkipped: 'stride' }),
    frame({ lvRejected: { code: 'LV_ACROSS_BEAM' } }), frame({ lv: { pixels: 2 } }), frame({ lv: { pixels: 0 } }),
    frame({ lvRejected: { code: 'LV_MIRRORED' } }), frame({ lvRejected: { code: 'LV_MIRRORED' } }),
  ];
  t.equal(noEfText(mixed, { ...OPTS, bar: 0.123456 }),
    'EF n/a (an LV on 0 of 14 frames: 3 with the smoothed quality under the segmentation bar 0.123, median 0.20; '
    + '1 with a quality output that is not a number; 2 shown as a view it does not run on (A4C, A2C only); '
    + '1 with a view output that is not a number; 1 in state unknown; 1 between segmented frames (segmentationStride); '
    + '1 with the LV across the beam; 2 read as a four-chamber heart mirrored; 2 segmented with no LV found)');
  t.equal(noEfText([], OPTS), 'EF n/a (an LV on 0 of 0 frames)');
  // Without an LV package nothing was segmented for any reason a frame could say.
  t.equal(noEfText([frame({ q: 0.9 })], { ...OPTS, segmentation: false }), 'EF n/a (no LV segmentation package)');
});

t.test("noEfText: LVs drawn, the EF window's last reason, or the unknown state the run ended in", async (t) => {
  const frames = [
    frame({ lv: { pixels: 400 }, ef: { valid: false, reason: 'no frames' } }),
    frame({ lv: { pixels: 420 }, ef: { valid: false, reason: '8 frames in the window (16 needed)' } }),
    frame({ q: 0.1, lvSkipped: 'quality', ef: { valid: false } }),
  ];
  t.equal(noEfText(frames, OPTS), 'EF n/a (an LV on 2 of 3 frames; the EF window: 8 frames in the window (16 needed))');
  t.equal(noEfText([...frames, frame({ state: 'unknown', lvSkipped: 'unknown' })], OPTS),
    'EF n/a (an LV on 2 of 4 frames; the EF window: the in-distribution state is unknown)');
  t.equal(noEfText([frame({ lv: { pixels: 3 } })], OPTS), 'EF n/a (an LV on 1 of 1 frame)');
});

t.test('efText: the EF, its interval, beats and quality', async (t) => {
  t.equal(efText(65, [63, 67], { beats: 4, lowQuality: true }), '65.0% (95% CI 63.0-67.0, 4 beats, low quality)');
  t.equal(efText(70.25, null, { beats: 1 }), '70.3% (1 beat)');
  t.equal(efText(50, undefined), '50.0%');
});
