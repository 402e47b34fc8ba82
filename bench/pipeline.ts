/**
 * Input pipeline throughput: images/s decoded (PNG, sharp) and augmented (random scale, crop,
 * flip, photometric jitter, ImageNet normalisation) into NHWC training batches by lib/data's
 * `TrainLoader` (prefetching), on the train split that `openCityscapes` resolves: CITYSCAPES_ROOT,
 * else data/synthetic-cityscapes (generated first by lib/cityscapes when absent).
 * Also the two parts alone, per frame: decoding, and augmenting an already decoded frame.
 */
import * as tf from '@tensorflow/tfjs';
import { Recorder, backendThreads, errorMessage, median, progress } from './common';
import { CachedFrameSource, TrainLoader } from '../lib/data';
import { openCityscapes } from '../lib/cityscapes';

export interface PipelineBenchOptions {
  batch: number;
  size: [number, number];
  batches: number;
  root?: string;
}

export async function benchPipeline(rec: Recorder, o: PipelineBenchOptions): Promise<number | null> {
  const shape = { batch: [o.batch, o.size[0], o.size[1], 3] };
  const name = 'pipeline.images_per_s';
  try {
    progress('input pipeline: opening the train split (generating data/synthetic-cityscapes if absent)');
    const train = await openCityscapes({ split: 'train', ...(o.root ? { root: o.root } : {}) });
    const loader = new TrainLoader(train, { batchSize: o.batch, cropSize: o.size, seed: 1, prefetch: 2, cacheFrames: false });
    const n = Math.min(o.batches, loader.batchesPerEpoch);
    progress(`input pipeline: ${n} batches of ${o.batch} at ${o.size.join('x')} from ${train.root ?? 'the train split'} (${train.length} frames)`);
    // warm-up: one batch (sharp and the JIT start up)
    const warm = loader.epoch(1);
    const w = await warm.next();
    if (!w.done) tf.dispose([w.value.images, w.value.labels]);
    await warm.return(undefined);
    const before = tf.memory().numTensors;
    const t0 = performance.now();
    let images = 0;
    let k = 0;
    for await (const b of loader.epoch(0)) {
      images += b.images.shape[0];
      tf.dispose([b.images, b.labels]);
      if (++k >= n) break;
    }
    const seconds = (performance.now() - t0) / 1000;
    const ips = images / seconds;
    const first = await train.get(0);
    rec.add({
      name, value: ips, unit: 'images/s', backend: tf.getBackend(), threads: backendThreads(), shape,
      batches: k, images, seconds, frame: [first.height, first.width], prefetch: 2, leaked_tensors: tf.memory().numTensors - before,
      note: 'TrainLoader: PNG decode + scale 0.5-2 + crop + flip + jitter + normalise, to tensors',
    });
    // the parts alone, per frame
    const m = Math.min(train.length, Math.max(4, o.batch * 2));
    const dec: number[] = [];
    for (let i = 0; i < m; i++) {
      const t = performance.now();
      await train.get(i);
      dec.push(performance.now() - t);
    }
    rec.add({ name: 'pipeline.decode_ms_per_frame', value: median(dec), unit: 'ms', backend: 'host', threads: 1, shape: { frame: [first.height, first.width] }, frames: m });
    {
      const cached = new CachedFrameSource(train);
      const aug = new TrainLoader(cached, { batchSize: o.batch, cropSize: o.size, seed: 1, prefetch: 1, cacheFrames: false });
      const bs = Math.max(1, Math.floor(m / o.batch));
      for (let b = 0; b < bs; b++) await aug.hostBatch(0, b); // decode into the cache
      const t = performance.now();
      for (let b = 0; b < bs; b++) await aug.hostBatch(0, b);
      const perFrame = (performance.now() - t) / (bs * o.batch);
      rec.add({ name: 'pipeline.augment_ms_per_frame', value: perFrame, unit: 'ms', backend: 'host', threads: 1, shape, frames: bs * o.batch });
    }
    return ips;
  } catch (e) {
    rec.unavailable(name, 'images/s', `failed: ${errorMessage(e)}`, { shape });
    return null;
  }
}
