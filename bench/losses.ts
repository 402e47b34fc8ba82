/**
 * Per distillation loss: forward + backward time at the paper's shapes, and bytes moved per second.
 *
 * Shapes (NHWC): the feature map [8, 64, 64, 256] and the logits (score map) [8, 64, 64, 19]
 * (batch 8, 512×512 crops at output stride 8, as in the paper's ablation).
 * "Bytes moved" counts the minimum traffic of one forward + backward evaluation: read the student
 * and the teacher maps, write the student gradient = 3 × N·H·W·C × 4 bytes. The figure is that
 * traffic divided by the measured time (an effective bandwidth: higher is better).
 */
import * as tf from '@tensorflow/tfjs';
import { Recorder, backendThreads, errorMessage, progress, timeAsync } from './common';
import { TorchTiming, TorchWorker } from './torch';
import { getLoss, LOSS_NAMES } from '../lib/distill';

export interface LossSpec {
  /** Short name used in figure names: the registry name of lib/distill ('cwd', 'pi', …) or a variant. */
  name: string;
  /** The loss function (from lib/distill's registry). */
  fn: LossFn;
  /** Key of its PyTorch twin in bench/torch/losses.py LOSSES: the registry name. */
  torch: string;
  options: Record<string, unknown>;
  /** Options for the PyTorch twin, per shape (the same options: the twins take the registry's option names). */
  torchOptions: (shape: number[]) => Record<string, unknown>;
  /** Needs a label map [N, H, W] (IFVD). */
  labels: boolean;
}


/**
 * The losses to time: every entry of lib/distill's registry (aliases of the same function once),
 * with its default options, plus PA with CIRKD's fixed 2×2 window (the default SKD window of half
 * the map leaves only 2×2 nodes at 64×64, which says little about PA's (HW)² cost).
 */
export function lossSpecs(): LossSpec[] {
  const seen = new Set<LossFn>();
  const out: LossSpec[] = [];
  for (const name of LOSS_NAMES) {
    const entry = getLoss(name);
    const fn = entry.fn as LossFn;
    if (seen.has(fn)) continue;
    seen.add(fn);
    const options = entry.defaultConfig() as Record<string, unknown>;
    const torch = name;
    const torchOptions = (): Record<string, unknown> => options;
    out.push({ name, fn, torch, options, torchOptions, labels: entry.needsLabels });
    if (name === 'pa') {
      const w2 = { ...options, window: [2, 2] };
      out.push({ name: 'pa-window2', fn, torch, options: w2, torchOptions: () => w2, labels: false });
    }
  }
  return out;
}

export const LOSS_SHAPES: Record<'feature' | 'logits', [number, number, number, number]> = {
  feature: [8, 64, 64, 256],
  logits: [8, 64, 64, 19],
};

type LossFn = (s: tf.Tensor4D, t: tf.Tensor4D, options?: Record<string, unknown>) => tf.Scalar;

export interface LossBenchOptions {
  reps: number;
  warmup: number;
  torch: boolean;
  /** Restrict to these loss names. */
  only?: string[];
  /** Shapes of a given loss, overriding `shapes`, e.g. {'pa-window2': ['logits']}. */
  onlyAt?: Record<string, ('feature' | 'logits')[]>;
  shapes?: ('feature' | 'logits')[];
  /** Time budget per loss and shape (ms): slow losses get fewer repeats (at least 3). */
  budgetMs?: number;
}

export async function benchLosses(rec: Recorder, opts: LossBenchOptions): Promise<void> {
  const backend = tf.getBackend();
  const threads = backendThreads();
  const specs = lossSpecs().filter((l) => !opts.only || opts.only.includes(l.name));
  const onlyAt = opts.onlyAt ?? {};
  const items: { name: string; method: string; shape: [number, number, number, number]; options: Record<string, unknown>; labels: boolean; spec: LossSpec; which: 'feature' | 'logits' }[] = [];
  for (const spec of specs) {
    for (const which of onlyAt[spec.name] ?? opts.shapes ?? ['feature', 'logits']) {
      items.push({
        name: `loss.${spec.name}.${which}.fwd_bwd`, method: spec.torch, shape: LOSS_SHAPES[which],
        options: spec.torchOptions(LOSS_SHAPES[which]), labels: spec.labels, spec, which,
      });
    }
  }

  // PyTorch just before tfjs for each item (same shapes, same threads): both see the same machine load.
  let worker: TorchWorker | null = null;
  if (opts.torch) {
    try {
      worker = await TorchWorker.start(threads);
    } catch (e) {
      rec.note(`per-loss PyTorch timings: ${errorMessage(e)}`);
    }
  }
  try {
    await runItems();
  } finally {
    worker?.close();
  }

  async function torchTime(item: (typeof items)[number]): Promise<TorchTiming | null> {
    if (!worker) return null;
    const torchName = `torch.${item.name}`;
    if (!item.method) {
      rec.unavailable(torchName, 'ms', `no PyTorch twin for '${item.spec.name}' in bench/torch/losses.py`, { backend: 'torch-cpu', threads, shape: item.shape });
      return null;
    }
    try {
      const r = await worker.call<TorchTiming>({
        cmd: 'loss', name: item.name, method: item.method, shape: item.shape, options: item.options, labels: item.labels,
        reps: opts.reps, warmup: opts.warmup, budget_ms: opts.budgetMs ?? null,
      });
      rec.add({
        name: torchName, value: r.median, unit: 'ms', backend: 'torch-cpu', threads, shape: item.shape,
        min: r.min, max: r.max, reps: r.all.length, cpu_ms: r.cpu_median,
      });
      return r;
    } catch (e) {
      rec.unavailable(torchName, 'ms', `PyTorch failed: ${errorMessage(e)}`, { backend: 'torch-cpu', threads, shape: item.shape });
      return null;
    }
  }

  async function runItems(): Promise<void> {
  for (const item of items) {
    const { spec, shape, name: figName } = item;
    const fn = spec.fn;
    progress(`loss ${spec.name} at ${shape.join('x')}`);
    const torchT = await torchTime(item);
    const [n, h, w] = shape;
    const s = tf.randomNormal(shape, 0, 1, 'float32', 1) as tf.Tensor4D;
    const t = tf.randomNormal(shape, 0, 1, 'float32', 2) as tf.Tensor4D;
    const labels = spec.labels ? tf.randomUniform([n, h, w], 0, 19, 'int32', 3) as tf.Tensor3D : null;
    const options = { ...spec.options, ...(labels ? { labels } : {}) };
    const before = tf.memory().numTensors;
    try {
      const grad = tf.grad((x: tf.Tensor) => fn(x as tf.Tensor4D, t, options));
      // cpu, wasm and tensorflow run every kernel synchronously: the gradient is computed when grad() returns,
      // and nothing is copied out (the PyTorch twin does not read its gradient either; on wasm copying it out,
      // HEAPU8.slice into a new ArrayBuffer, took longer than the fused loss itself, and so does tf.slice,
      // whose wasm kernel reads the whole input). webgpu and webgl are asynchronous: wait for the values.
      const synchronous = ['cpu', 'wasm', 'tensorflow'].includes(backend);
      const timing = await timeAsync(async () => {
        const g = grad(s);
        if (!synchronous) await g.data();
        g.dispose();
      }, opts.reps, opts.warmup, opts.budgetMs);
      const leaked = tf.memory().numTensors - before;
      const bytes = 3 * shape.reduce((a, b) => a * b, 1) * 4;
      rec.add({
        name: figName, value: timing.median, unit: 'ms', backend, threads, shape,
        ratio_vs_torch: torchT ? timing.median / torchT.median : null,
        ...(torchT ? { torch_ms: torchT.median, cpu_ratio_vs_torch: (timing.cpuMedian ?? NaN) / torchT.cpu_median } : {}),
        cpu_ms: timing.cpuMedian, min: timing.min, max: timing.max, reps: timing.all.length, options: spec.options,
        ...(leaked !== 0 ? { leaked_tensors: leaked } : {}),
      });
      rec.add({
        name: `loss.${spec.name}.${item.which}.bandwidth`, value: bytes / (timing.median / 1000) / 1e9, unit: 'GB/s', backend, threads, shape, bytes,
        ...(torchT ? { torch_value: bytes / (torchT.median / 1000) / 1e9 } : {}),
      });
    } catch (e) {
      rec.unavailable(figName, 'ms', `failed on ${backend}: ${errorMessage(e)}`, { shape });
    } finally {
      tf.dispose([s, t, ...(labels ? [labels] : [])]);
    }
  }
  }
}
