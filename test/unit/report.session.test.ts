// src/report/session.ts's summary texts: why a run gave no EF (noEfText), an EF and what is known of it (efText).
import t from 'tap';
import { efText, noEfText, type NoEfFrame } from '../../src/report/session.js';

const APICAL = ['A4C', 'A2C'];
const frame = (o: Partial<NoEfFrame> & { q?: number } = {}): NoEfFrame => ({
  state: o.state ?? 'uncertain', view: o.view ?? { shown: 'A4C' }, quality: { smoothed: o.q ?? 0.3 },
  ...(o.lv !== undefined ? { lv: o.lv } : {}), ...(o.lvRejected !== undefined ? { lvRejected: o.lvRejected } : {}),
  ...(o.ef !== undefined ? { ef: o.ef } : {}),
});

t.test('noEfText: no LV drawn, each frame counted once under the first reason that holds', async (t) => {
  // pydicom's real cine as the bundled models see it: every frame apical, under the bar.
  t.equal(noEfText([0.2, 0.3, 0.25, 0.27].map((q) => frame({ q })), APICAL, 0.5),
    'EF n/a (an LV on 0 of 4 frames: 4 with the smoothed quality under the segmentation bar 0.5, median 0.25)');
  const mixed = [
    frame({ q: 0.1 }), frame({ q: 0.4 }), frame({ q: Number.NaN }),
    frame({ view: { shown: 'OTHER' } }), frame({ view: { shown: 'PLAX' }, q: 0.9 }),
    frame({ state: 'unknown', view: { shown: 'OTHER' } }), frame({ state: 'unknown' }),
    frame({ lvRejected: { code: 'LV_ACROSS_BEAM' }, state: 'unknown' }),
  ];
  t.equal(noEfText(mixed, APICAL, 0.123456),
    'EF n/a (an LV on 0 of 8 frames: 3 with the smoothed quality under the segmentation bar 0.123, median 0.10; '
    + '2 shown as a view it does not run on (A4C, A2C only); 2 in state unknown; 1 with the LV across the beam)');
  t.equal(noEfText([frame({ q: Number.NaN })], APICAL, 0.5), 'EF n/a (an LV on 0 of 1 frame: 1 with the smoothed quality under the segmentation bar 0.5)');
  t.equal(noEfText([], APICAL, 0.5), 'EF n/a (an LV on 0 of 0 frames)');
});

t.test("noEfText: LVs drawn, the EF window's last reason", async (t) => {
  const frames = [
    frame({ lv: {}, ef: { valid: false, reason: 'no frames' } }),
    frame({ lv: {}, ef: { valid: false, reason: '8 frames in the window (16 needed)' } }),
    frame({ q: 0.1, ef: { valid: false } }),
  ];
  t.equal(noEfText(frames, APICAL, 0.5), 'EF n/a (an LV on 2 of 3 frames; the EF window: 8 frames in the window (16 needed))');
  t.equal(noEfText([frame({ lv: {} })], APICAL, 0.5), 'EF n/a (an LV on 1 of 1 frame)');
});

t.test('efText: the EF, its interval, beats and quality', async (t) => {
  t.equal(efText(65, [63, 67], { beats: 4, lowQuality: true }), '65.0% (95% CI 63.0-67.0, 4 beats, low quality)');
  t.equal(efText(70.25, null, { beats: 1 }), '70.3% (1 beat)');
  t.equal(efText(50, undefined), '50.0%');
});
