/**
 * Batching input pipeline: seeded, deterministic, prefetching.
 *
 * - `TrainLoader`: shuffled epochs of augmented crops (lib/data/augment.ts) as `Batch`
 *   {images [N,H,W,3] float32 normalised, labels [N,H,W] int32, ids}. The random draws of sample i
 *   in epoch e come from `hashSeed(seed, e, i)` and the order from `hashSeed(seed, 'order', e)`, so
 *   results do not depend on prefetch depth or timing, and `stream(startIteration)` resumes exactly.
 * - `EvalLoader`: whole frames in order, no augmentation, normalised.
 * - Prefetch: up to `prefetch` batches are decoded (sharp works on libuv threads, so PNG decoding
 *   overlaps training) and augmented ahead of the consumer; tensors are created only when a batch
 *   is handed out, and the consumer disposes them (`tf.dispose([b.images, b.labels])`).
 *
 * @example
 * const train = await openCityscapes({ split: 'train', scale: 0.5 });
 * const loader = new TrainLoader(train, { batchSize: 4, cropSize: [128, 256], seed: 1 });
 * for await (const batch of loader.epoch(0)) {
 *   // ... train step ...
 *   tf.dispose([batch.images, batch.labels]);
 * }
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch, Frame } from './types';
import { AugmentConfig, augmentFrame, defaultAugmentConfig, normalizeImage, sampleAugmentParams, validateAugmentConfig } from './augment';
import { hashSeed, Rng } from '../rng';

/** Anything that hands out frames by index (CityscapesDataset, ArrayFrameSource, …). */
export interface FrameSource {
  readonly length: number;
  get(i: number): Promise<Frame>;
}

/** Frames already in memory as a FrameSource. */
export class ArrayFrameSource implements FrameSource {
  constructor(readonly frames: Frame[]) {}
  get length(): number {
    return this.frames.length;
  }
  get(i: number): Promise<Frame> {
    if (!(i >= 0 && i < this.frames.length)) return Promise.reject(new RangeError(`ArrayFrameSource: index ${i} out of range`));
    return Promise.resolve(this.frames[i]);
  }
}

/** Memoise decoded frames of a source (small datasets). */
export class CachedFrameSource implements FrameSource {
  private cache = new Map<number, Promise<Frame>>();
  constructor(readonly source: FrameSource) {}
  get length(): number {
    return this.source.length;
  }
  get(i: number): Promise<Frame> {
    let p = this.cache.get(i);
    if (!p) {
      p = this.source.get(i);
      p.catch(() => this.cache.delete(i));
      this.cache.set(i, p);
    }
    return p;
  }
}

export interface TrainLoaderConfig extends AugmentConfig {
  batchSize: number;
  seed: number;
  shuffle: boolean;
  /** Drop the last incomplete batch of an epoch (default true: constant batch shape). */
  dropLast: boolean;
  /** Batches prepared ahead of the consumer (≥ 1). */
  prefetch: number;
  /** Keep decoded frames in memory. */
  cacheFrames: boolean;
}

export interface HostBatch {
  images: Float32Array;
  labels: Int32Array;
  ids: string[];
  shape: [number, number, number];
}

function toTensors(hb: HostBatch): Batch {
  const [n, h, w] = hb.shape;
  return {
    images: tf.tensor4d(hb.images, [n, h, w, 3], 'float32'),
    labels: tf.tensor3d(hb.labels, [n, h, w], 'int32'),
    ids: hb.ids,
  };
}

/** Run `make(k)` for k = 0..count−1 with up to `depth` results in flight; yield in order. */
async function* prefetched<T>(count: number, depth: number, make: (k: number) => Promise<T>): AsyncGenerator<T> {
  const queue: Array<Promise<T>> = [];
  let next = 0;
  const fill = () => {
    while (queue.length < depth && next < count) {
      const p = make(next++);
      p.catch(() => undefined); // handled when awaited; avoids unhandled-rejection noise
      queue.push(p);
    }
  };
  fill();
  while (queue.length > 0) {
    const p = queue.shift()!;
    const v = await p;
    fill();
    yield v;
  }
}

/**
 * The one training sampler. Every batch is a pure function of (seed, step): step k is batch
 * k mod B of epoch ⌊k / B⌋ (B = batches per epoch), each sample's scale/crop/flip/jitter drawn from
 * `hashSeed(seed, epoch, frameIndex)`. So a resumed run sees exactly the batches of an uninterrupted
 * one, whatever the prefetch depth. `batch(step)` (the trainer's `TrainData`) prepares the next
 * `prefetch` steps while the caller trains on this one; `epoch()` / `stream()` iterate.
 */
export class TrainLoader {
  /** Defaults: batch 8, seed 0, shuffle, dropLast, prefetch 2, no cache + defaultAugmentConfig(). */
  static defaultConfig(): TrainLoaderConfig {
    return { ...defaultAugmentConfig(), batchSize: 8, seed: 0, shuffle: true, dropLast: true, prefetch: 2, cacheFrames: false };
  }
  readonly config: TrainLoaderConfig;
  readonly source: FrameSource;

  constructor(source: FrameSource, config: Partial<TrainLoaderConfig> = {}) {
    this.config = { ...TrainLoader.defaultConfig(), ...config };
    const c = this.config;
    validateAugmentConfig(c);
    if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1)) throw new Error(`TrainLoader: batchSize must be a positive integer, got ${c.batchSize}`);
    if (!(Number.isInteger(c.prefetch) && c.prefetch >= 1)) throw new Error(`TrainLoader: prefetch must be a positive integer, got ${c.prefetch}`);
    if (source.length === 0) throw new Error('TrainLoader: the frame source is empty');
    if (c.dropLast && source.length < c.batchSize) {
      throw new Error(`TrainLoader: ${source.length} frames are fewer than batchSize ${c.batchSize} with dropLast (no batch per epoch)`);
    }
    this.source = c.cacheFrames ? new CachedFrameSource(source) : source;
  }

  get batchesPerEpoch(): number {
    const n = this.source.length;
    const b = this.config.batchSize;
    return this.config.dropLast ? Math.floor(n / b) : Math.ceil(n / b);
  }

  private ahead = new Map<number, Promise<HostBatch>>();
  private orders = new Map<number, number[]>();

  private orderCached(epoch: number): number[] {
    let o = this.orders.get(epoch);
    if (!o) {
      o = this.order(epoch);
      if (this.orders.size > 2) this.orders.clear();
      this.orders.set(epoch, o);
    }
    return o;
  }

  /** Host batch of global step `step` (epoch ⌊step / B⌋, batch step mod B). */
  hostBatchAt(step: number): Promise<HostBatch> {
    if (!(Number.isInteger(step) && step >= 0)) return Promise.reject(new RangeError(`TrainLoader: step must be an integer >= 0, got ${step}`));
    const per = this.batchesPerEpoch;
    const e = Math.floor(step / per);
    return this.hostBatch(e, step - e * per, this.orderCached(e));
  }

  /**
   * Batch of global step `step` as tensors (the caller disposes them), the trainer's `TrainData`.
   * Starts preparing steps step+1 … step+prefetch before returning.
   * @example const b = await loader.batch(0, 8); tf.dispose([b.images, b.labels]);
   */
  async batch(step: number, batchSize: number = this.config.batchSize): Promise<Batch> {
    if (batchSize !== this.config.batchSize) {
      throw new Error(`TrainLoader: asked for a batch of ${batchSize} but the loader was built for batchSize ${this.config.batchSize}`);
    }
    const p = this.ahead.get(step) ?? this.hostBatchAt(step);
    for (const k of [...this.ahead.keys()]) if (k <= step) this.ahead.delete(k);
    for (let k = step + 1; k <= step + this.config.prefetch; k++) {
      if (!this.ahead.has(k)) {
        const q = this.hostBatchAt(k);
        q.catch(() => undefined); // surfaced when that step is asked for
        this.ahead.set(k, q);
      }
    }
    return toTensors(await p);
  }

  /** Frame indices of an epoch, in batch order. */
  order(epoch: number): number[] {
    const idx = Array.from({ length: this.source.length }, (_, i) => i);
    if (this.config.shuffle) Rng.fromState(hashSeed(this.config.seed, 'order', epoch)).shuffle(idx);
    return idx;
  }

  /** Build batch b of epoch e on the host (no tensors). */
  async hostBatch(epoch: number, b: number, order = this.order(epoch)): Promise<HostBatch> {
    const c = this.config;
    const start = b * c.batchSize;
    const members = order.slice(start, Math.min(order.length, start + c.batchSize));
    const [ch, cw] = c.cropSize;
    const n = members.length;
    const images = new Float32Array(n * ch * cw * 3);
    const labels = new Int32Array(n * ch * cw);
    const frames = await Promise.all(members.map((i) => this.source.get(i)));
    frames.forEach((f, k) => {
      const rng = Rng.fromState(hashSeed(c.seed, epoch, members[k]));
      const p = sampleAugmentParams(rng, f.width, f.height, c);
      augmentFrame(f, p, c, {
        image: images.subarray(k * ch * cw * 3, (k + 1) * ch * cw * 3),
        label: labels.subarray(k * ch * cw, (k + 1) * ch * cw),
      });
    });
    return { images, labels, ids: frames.map((f) => f.id), shape: [n, ch, cw] };
  }

  /** The batches of one epoch (prefetched). `startBatch` skips ahead (resume). */
  async *epoch(epoch: number, startBatch = 0): AsyncGenerator<Batch> {
    const order = this.order(epoch);
    const count = this.batchesPerEpoch - startBatch;
    if (count <= 0) return;
    for await (const hb of prefetched(count, this.config.prefetch, (k) => this.hostBatch(epoch, startBatch + k, order))) {
      yield toTensors(hb);
    }
  }

  /**
   * Endless batches across epochs starting at global iteration `startIteration` (for
   * iteration-based training and exact resume). Yields {epoch, iteration, batch}.
   */
  async *stream(startIteration = 0): AsyncGenerator<{ epoch: number; iteration: number; batch: Batch }> {
    const per = this.batchesPerEpoch;
    let it = startIteration;
    for (let e = Math.floor(startIteration / per); ; e++) {
      for await (const batch of this.epoch(e, it - e * per)) {
        yield { epoch: e, iteration: it, batch };
        it++;
      }
    }
  }
}

export interface EvalLoaderConfig {
  batchSize: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  prefetch: number;
  cacheFrames: boolean;
  /** Evaluate only the first `limit` frames (null = all). */
  limit: number | null;
}

/** Whole frames in dataset order, normalised, no augmentation. */
export class EvalLoader {
  static defaultConfig(): EvalLoaderConfig {
    const a = defaultAugmentConfig();
    return { batchSize: 1, mean: a.mean, std: a.std, prefetch: 2, cacheFrames: false, limit: null };
  }
  readonly config: EvalLoaderConfig;
  readonly source: FrameSource;
  constructor(source: FrameSource, config: Partial<EvalLoaderConfig> = {}) {
    this.config = { ...EvalLoader.defaultConfig(), ...config };
    const c = this.config;
    if (!(Number.isInteger(c.batchSize) && c.batchSize >= 1)) throw new Error(`EvalLoader: batchSize must be a positive integer, got ${c.batchSize}`);
    if (source.length === 0) throw new Error('EvalLoader: the frame source is empty');
    this.source = c.cacheFrames ? new CachedFrameSource(source) : source;
  }
  get length(): number {
    return this.config.limit === null ? this.source.length : Math.min(this.config.limit, this.source.length);
  }
  get batches(): number {
    return Math.ceil(this.length / this.config.batchSize);
  }
  async hostBatch(b: number): Promise<HostBatch> {
    const c = this.config;
    const start = b * c.batchSize;
    const idx = Array.from({ length: Math.min(c.batchSize, this.length - start) }, (_, k) => start + k);
    const frames = await Promise.all(idx.map((i) => this.source.get(i)));
    const { width: w, height: h } = frames[0];
    for (const f of frames) {
      if (f.width !== w || f.height !== h) {
        throw new Error(`EvalLoader: frames ${frames[0].id} (${w}x${h}) and ${f.id} (${f.width}x${f.height}) differ in size; use batchSize 1`);
      }
    }
    const n = frames.length;
    const images = new Float32Array(n * h * w * 3);
    const labels = new Int32Array(n * h * w);
    frames.forEach((f, k) => {
      normalizeImage(f.image, c.mean, c.std, images.subarray(k * h * w * 3, (k + 1) * h * w * 3));
      labels.set(f.label, k * h * w);
    });
    return { images, labels, ids: frames.map((f) => f.id), shape: [n, h, w] };
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<Batch> {
    for await (const hb of prefetched(this.batches, this.config.prefetch, (b) => this.hostBatch(b))) yield toTensors(hb);
  }
}
