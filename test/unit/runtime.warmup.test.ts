// The synthetic frame a stream's models are warmed on: exactly one frame of the
// stream's geometry in every pixel format, with the picture where it should be.
import t from 'tap';
import { frameBytes, type ConfigureStream } from '../../src/protocol/messages.js';
import { warmupFrame } from '../../src/runtime/warmup.js';

const base = { stream: 0, width: 64, height: 48, spacing: [1, 1] as [number, number], fps: 30 };

t.test('one frame of the geometry, in every format, stride and NV12 layout', async (t) => {
  const formats = ['GRAY8', 'GRAY16', 'RGB8', 'BGR8', 'RGBA8', 'BGRA8', 'YUYV', 'NV12'] as const;
  for (const format of formats) {
    const c: ConfigureStream = { ...base, format };
    t.equal(warmupFrame(c).length, frameBytes(c), format);
  }
  const padded: ConfigureStream = { ...base, format: 'RGB8', stride: 200 };
  t.equal(warmupFrame(padded).length, 200 * 48);
  const nv12: ConfigureStream = { ...base, format: 'NV12', uvOffset: 4096 };
  const f = warmupFrame(nv12);
  t.equal(f.length, 4096 + 64 * 24);
  t.ok(f.subarray(4096).every((v) => v === 128), 'neutral chroma');
});

t.test('the picture: black outside the sector, a dark cavity in a bright wall', async (t) => {
  const g = warmupFrame({ ...base, format: 'GRAY8' });
  const at = (x: number, y: number) => g[y * 64 + x];
  t.equal(at(0, 10), 0, 'top left: outside the sector');
  t.equal(at(35, 22), 15, 'the cavity (0.55 w, 0.45 h)');
  t.equal(at(35 + 10, 22), 170, 'the wall beside it');
  t.equal(at(32, 46), 90, 'tissue below');
  const g16 = warmupFrame({ ...base, format: 'GRAY16' });
  t.same([g16[(22 * 64 + 35) * 2], g16[(22 * 64 + 35) * 2 + 1]], [0, 15], 'GRAY16 little-endian, the grey level in the high byte');
  const bgra = warmupFrame({ ...base, format: 'BGRA8' });
  t.same([...bgra.subarray((22 * 64 + 35) * 4, (22 * 64 + 35) * 4 + 4)], [15, 15, 15, 255]);
});
