/**
 * Input pipeline throughput: images/s decoded (PNG) and augmented (random scale, crop, flip,
 * jitter, normalisation) into training batches by lib/data's pipeline, on data/synthetic-cityscapes
 * (generated first, with lib/cityscapes's generator, when absent).
 */
import * as tf from '@tensorflow/tfjs';
import { Recorder, backendThreads, errorMessage, progress } from './common';

export interface PipelineBenchOptions {
  batch: number;
  size: [number, number];
  batches: number;
  root?: string;
}

export async function benchPipeline(rec: Recorder, o: PipelineBenchOptions): Promise<number | null> {
  const shape = { batch: [o.batch, o.size[0], o.size[1], 3] };
  let data: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    data = require('../lib/data');
  } catch (e) {
    rec.unavailable('pipeline.images_per_s', 'images/s', `not available yet: cannot load lib/data: ${errorMessage(e)}`, { shape });
    return null;
  }
  const missing = Object.keys(data).length === 0;
  if (missing) {
    rec.unavailable('pipeline.images_per_s', 'images/s', 'not available yet: lib/data exports no input pipeline', { shape });
    return null;
  }
  void tf;
  void backendThreads;
  void progress;
  rec.unavailable('pipeline.images_per_s', 'images/s', `not available yet: lib/data exports ${Object.keys(data).join(', ')} but bench/pipeline.ts does not drive them yet`, { shape });
  return null;
}
