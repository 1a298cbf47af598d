// Frames through a real pipeline stream, one at a time, each processed before the next is submitted (so none is
// dropped by the latest-frame-wins scheduler).
import type { Test } from 'tap';
import type { FrameInfo, Pipeline, PipelineResult, Processed, StreamGeometry } from '../../src/pipeline/index.js';

/** Runs `frames` (seq = index) through a fresh stream of `geometry`, closed at the test's end; returns every result. */
export async function runFrames(t: Test, pipeline: Pipeline, geometry: StreamGeometry, frames: readonly Uint8Array[]):
  Promise<Processed<FrameInfo, PipelineResult>[]> {
  const results: Processed<FrameInfo, PipelineResult>[] = [];
  const stream = await pipeline.openStream(geometry, (r) => results.push(r));
  t.teardown(() => stream.close());
  for (let i = 0; i < frames.length; i++) {
    stream.submit(frames[i], i);
    await stream.idle();
  }
  return results;
}
