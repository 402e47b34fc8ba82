/**
 * The distillation training step of the default teacher/student: teacher forward (inference) +
 * student forward/backward + CE + CWD + SGD update, exactly as lib/train's `Trainer.trainStep` runs
 * it, on a fixed random batch (so that data loading is not in the figure; the input pipeline has
 * its own figure). Reports images/s, the per-kernel profile (top 15 by time) and each backward
 * conv kernel against its forward conv at the same shapes; then the same step in PyTorch on the
 * same architecture (translated from the tfjs layer graph, parameter counts asserted equal).
 */
import * as os from 'os';
import * as tf from '@tensorflow/tfjs';
import {
  Figure, Recorder, Timing, backendThreads, errorMessage, median, progress, summarise,
} from './common';
import { exportGraph, countTrainable, LayerGraph } from './graph';
import { aggregateKernels, backwardVsForward, profileKernels, KernelRecord } from './profile';
import { benchmarkConvKernels, captureConvCalls, convShapeName as convShapeNameOf, cpuPeak } from '../lib/backend/profile';
import { findTorch, TorchTiming, TorchWorker } from './torch';
import { buildModel, modelConfig } from '../lib/models';
import type { SegmentationNet } from '../lib/models/types';
import { buildTerms } from '../lib/train/build-terms';
import { defaultTrainConfig, optimizerFor } from '../lib/train/config';
import { methodPreset } from '../lib/train/presets';
import { DEMO_RECIPE } from '../lib/train/recipes';
import type { TermConfig } from '../lib/train/terms';
import { Trainer } from '../lib/train/trainer';

/** What the step trains with: terms, optimiser and learning rate (lib/train config fields). */
export interface StepSetup {
  /** Name of the setup in the output, e.g. 'cwd-feature, sgd'. */
  label: string;
  terms: Record<string, unknown>[];
  /** Partial lib/train OptimizerConfig ({type, momentum, weightDecay, …}). */
  optimizer: Record<string, unknown>;
  lr: number;
}

/** The bench's KD term: `cwd-feature` (CWD on the feature map with the 1×1 aligner, T = 4, α = 3), which the PyTorch twin implements. */
export const BENCH_METHOD = 'cwd-feature';

/**
 * The project's default KD setup: {@link BENCH_METHOD} and, for `kind: 'paper'`, the paper's
 * optimiser (lib/train defaults: SGD momentum 0.9, weight decay 5e-4, lr 0.01); for `kind: 'demo'` the
 * demo's own optimiser, crop and batch.
 */
export function defaultSetup(kind: 'paper' | 'demo'): { setup: StepSetup; crop: [number, number] | null; batch: number | null } {
  const d = DEMO_RECIPE;
  const terms = methodPreset(BENCH_METHOD) as unknown as Record<string, unknown>[];
  if (kind === 'paper') {
    const t = defaultTrainConfig();
    return { setup: { label: `${BENCH_METHOD}, ${t.optimizer.type} lr ${t.lr}`, terms, optimizer: { ...t.optimizer }, lr: t.lr }, crop: null, batch: null };
  }
  return { setup: { label: `${BENCH_METHOD}, ${d.optimizer} lr ${d.lr} (demo)`, terms, optimizer: optimizerFor(d.optimizer), lr: d.lr }, crop: d.crop ? [...d.crop] : null, batch: d.batchSize };
}

export interface StepBenchOptions {
  setup: StepSetup;
  teacher: string;
  student: string;
  batch: number;
  size: [number, number];
  steps: number;
  warmup: number;
  torch: boolean;
  profile: boolean;
  /** Label added to figure names, e.g. '256x512'. */
  tag: string;
  /** Also time the teacher's forward alone (default true). */
  teacherForward?: boolean;
  /**
   * Micro-benchmark every conv shape of the step (forward, backward-input, backward-filter; default: with
   * `profile`), the fastest of `convReps` timed runs each (default 5).
   */
  convShapes?: boolean;
  convReps?: number;
}

type SegNet = SegmentationNet;

/** The project's teacher/student (lib/models) and a Trainer (lib/train) over a fixed random batch. */
export interface TrainingApi {
  buildNet: (preset: string, size: [number, number]) => SegNet;
  makeTrainer: (student: SegNet, teacher: SegNet, batch: number, size: [number, number], setup: StepSetup) => { trainer: Trainer; dispose: () => void };
}

/** Build the project's teacher/student and a Trainer over a fixed random batch. */
export function loadTraining(): TrainingApi {
  return {
    buildNet: (preset, size) => buildModel(modelConfig(preset, { inputSize: size })),
    makeTrainer: (student, teacher, batch, size, setup) => {
      const terms = setup.terms as unknown as TermConfig[];
      const [h, w] = size;
      const images = tf.randomNormal([batch, h, w, 3], 0, 1, 'float32', 7) as tf.Tensor4D;
      const labels = tf.tidy(() => {
        const l = tf.randomUniform([batch, h, w], 0, student.config.numClasses, 'int32', 8);
        // a band of ignore pixels, as real labels have
        const mask = tf.concat([tf.ones([batch, 2, w], 'bool'), tf.zeros([batch, h - 2, w], 'bool')], 1);
        return tf.where(mask, tf.fill([batch, h, w], 255, 'int32'), l);
      }) as tf.Tensor3D;
      const data = { batch: () => ({ images: images.clone(), labels: labels.clone(), ids: [] }) };
      const built = buildTerms(terms, { student, teacher, seed: 0 });
      const trainer = new Trainer({
        student, teacher, terms: built, data,
        config: { iters: 1_000_000, batchSize: batch, terms, checkpointEvery: 0, logEvery: 1_000_000, optimizer: setup.optimizer as never, lr: setup.lr },
      });
      return {
        trainer,
        dispose: () => {
          tf.dispose([images, labels]);
          for (const t of built) t.dispose();
          trainer.optimizer.dispose();
        },
      };
    },
  };
}

export interface StepResult {
  stepMs: number | null;
  imagesPerSec: number | null;
  torchMs: number | null;
  kernels: KernelRecord[] | null;
  bwdVsFwdWorst: { kernel: string; ratio: number }[];
}

function fig(rec: Recorder, f: Omit<Figure, 'backend' | 'threads'> & Partial<Figure>): Figure {
  return rec.add({ backend: tf.getBackend(), threads: backendThreads(), ...f } as Figure);
}

const FORMATS = ['nchw', 'channels_last'] as const;

/** The wasm backend's heap (tensor memory) in MB, or null on other backends. */
function wasmHeapMB(): number | null {
  if (tf.getBackend() !== 'wasm') return null;
  const w = (tf.backend() as unknown as { wasm?: { HEAPU8?: Uint8Array; wasmMemory?: WebAssembly.Memory } }).wasm;
  const bytes = w?.wasmMemory?.buffer.byteLength ?? w?.HEAPU8?.length;
  return bytes ? bytes / 2 ** 20 : null;
}

/**
 * Start the PyTorch twin of the step: parameter counts checked against tfjs (a mismatch ends the
 * comparison), then the step state built. Returns null (with a note) when PyTorch is unavailable.
 */
async function torchTwin(rec: Recorder, o: StepBenchOptions, student: LayerGraph, teacher: LayerGraph, numClasses: number): Promise<TorchWorker | null> {
  const optimizer: Record<string, unknown> = { type: 'sgd', momentum: 0.9, weightDecay: 0, ...o.setup.optimizer, lr: o.setup.lr };
  const torch = findTorch();
  if (!torch.info) {
    rec.note(`training step vs PyTorch: ${torch.why}`);
    return null;
  }
  const threads = backendThreads();
  let worker: TorchWorker;
  try {
    worker = await TorchWorker.start(threads);
  } catch (e) {
    rec.note(`training step vs PyTorch: ${errorMessage(e)}`);
    return null;
  }
  try {
    const built = await worker.call<{ params: Record<string, number> }>({
      cmd: 'build_step', student, teacher, batch: o.batch, height: o.size[0], width: o.size[1], num_classes: numClasses,
      terms: o.setup.terms,
      optimizer: { name: optimizer.type === 'adam' ? 'adam' : 'sgd', lr: optimizer.lr, momentum: optimizer.momentum, weightDecay: optimizer.weightDecay },
    });
    for (const [name, g] of [['student', student], ['teacher', teacher]] as const) {
      const same = built.params[name] === g.trainableParams;
      rec.add({
        name: `params.${name}.${o.tag}`, value: g.trainableParams, unit: 'params', backend: tf.getBackend(), threads,
        torch_value: built.params[name], match: same, model: name === 'student' ? o.student : o.teacher,
      });
      if (!same) {
        rec.note(`PARAMETER COUNT MISMATCH for the ${name}: tfjs ${g.trainableParams} vs PyTorch ${built.params[name]}; no step ratio reported`);
        worker.close();
        return null;
      }
    }
    return worker;
  } catch (e) {
    rec.note(`PyTorch twin of ${o.student}/${o.teacher} failed: ${errorMessage(e)}`);
    worker.close();
    return null;
  }
}

/** Steps measured so far in this process (the RSS of a later step includes the earlier ones' high-water mark). */
let stepsMeasured = 0;

export async function benchStep(rec: Recorder, o: StepBenchOptions): Promise<StepResult> {
  const result: StepResult = { stepMs: null, imagesPerSec: null, torchMs: null, kernels: null, bwdVsFwdWorst: [] };
  const shape = { input: [o.batch, o.size[0], o.size[1], 3] };
  const api = loadTraining();
  let student: SegNet | null = null;
  let teacher: SegNet | null = null;
  let made: { trainer: Trainer; dispose: () => void } | null = null;
  try {
    progress(`building teacher '${o.teacher}' and student '${o.student}' at ${o.size.join('x')}`);
    teacher = api.buildNet(o.teacher, o.size);
    student = api.buildNet(o.student, o.size);
    const sg = exportGraph(student.model);
    const tg = exportGraph(teacher.model);
    made = api.makeTrainer(student, teacher, o.batch, o.size, o.setup);
    const trainer = made.trainer;
    const worker = o.torch ? await torchTwin(rec, o, sg, tg, student.config.numClasses) : null;
    try {
      progress(`step ${o.tag}: batch ${o.batch}, ${o.warmup} warm-up + ${o.steps} timed steps, tfjs on ${tf.getBackend()} (${backendThreads()} thread(s))`
        + `${worker ? ' interleaved with PyTorch (NCHW and channels-last)' : ''}`);
      const times: number[] = [];
      const cpu: number[] = [];
      const losses: number[] = [];
      const torchTimes: Record<string, number[]> = { nchw: [], channels_last: [] };
      const torchCpu: Record<string, number[]> = { nchw: [], channels_last: [] };
      const torchLoss: Record<string, number[]> = { nchw: [], channels_last: [] };
      let tensorPeakMB: number | null = null;
      for (let i = 0; i < o.warmup + o.steps; i++) {
        const warm = i < o.warmup;
        if (worker) {
          for (const fmt of FORMATS) {
            const r = await worker.call<TorchTiming & { loss_first: number }>({ cmd: 'run_step', format: fmt, reps: 1, warmup: 0 });
            if (!warm) {
              torchTimes[fmt].push(r.median);
              torchCpu[fmt].push(r.cpu_median);
            }
            torchLoss[fmt].push(r.loss_first);
          }
        }
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        let r: Awaited<ReturnType<Trainer['trainStep']>>;
        if (i === o.warmup - 1) {
          // the last warm-up step under tf.profile: the peak of live tensor bytes during one step (an exact
          // per-step figure; the process RSS below also holds every earlier section's high-water mark)
          let rr: typeof r | null = null;
          const info = await tf.profile(async () => { rr = await trainer.trainStep(); return []; });
          tensorPeakMB = info.peakBytes / 2 ** 20;
          r = rr as unknown as typeof r;
        } else {
          r = await trainer.trainStep();
        }
        const dt = performance.now() - t0;
        const c = process.cpuUsage(c0);
        losses.push(r.loss);
        if (!warm) {
          times.push(dt);
          cpu.push((c.user + c.system) / 1000);
        }
        const tl = worker ? `; PyTorch ${FORMATS.map((f) => `${f} ${torchTimes[f].length ? torchTimes[f][torchTimes[f].length - 1].toFixed(0) : '-'}`).join(', ')} ms` : '';
        progress(`  step ${i + 1}/${o.warmup + o.steps}: tfjs ${dt.toFixed(0)} ms (loss ${r.loss.toFixed(4)})${warm ? ' warm-up' : tl}`);
      }
      const threads = backendThreads();
      let torchMs: number | null = null;
      let torchMin: number | null = null;
      let torchCpuMs: number | null = null;
      let bestFmt = '';
      if (worker) {
        for (const fmt of FORMATS) {
          const t = summarise(torchTimes[fmt]);
          const cm = median(torchCpu[fmt]);
          rec.add({
            name: `torch.step.${o.tag}.${fmt}`, value: t.median, unit: 'ms', backend: 'torch-cpu', threads, shape,
            images_per_s: o.batch / (t.median / 1000), min: t.min, max: t.max, reps: t.all.length, cpu_ms: cm,
            loss_first: torchLoss[fmt][0], loss_last: torchLoss[fmt][torchLoss[fmt].length - 1],
          });
          if (torchMs === null || t.median < torchMs) {
            torchMs = t.median;
            torchMin = t.min;
            torchCpuMs = cm;
            bestFmt = fmt;
          }
        }
      }
      result.torchMs = torchMs;
      const t = summarise(times);
      const cpuMs = median(cpu);
      result.stepMs = t.median;
      result.imagesPerSec = o.batch / (t.median / 1000);
      fig(rec, {
        name: `step.${o.tag}`, value: t.median, unit: 'ms', shape, ratio_vs_torch: torchMs ? t.median / torchMs : null,
        ...(torchMs ? {
          torch_ms: torchMs, torch_format: bestFmt, cpu_ratio_vs_torch: cpuMs / (torchCpuMs as number),
          best_of_ratio_vs_torch: t.min / (torchMin as number),
        } : {}),
        cpu_ms: cpuMs, min: t.min, max: t.max, reps: times.length,
        teacher: o.teacher, student: o.student, setup: o.setup.label, terms: o.setup.terms, optimizer: { ...o.setup.optimizer, lr: o.setup.lr }, loss_first: losses[0], loss_last: losses[losses.length - 1],
        params_student: countTrainable(student.model), params_teacher: countTrainable(teacher.model),
      });
      fig(rec, {
        name: `step.${o.tag}.images_per_s`, value: result.imagesPerSec, unit: 'images/s', shape,
        ratio_vs_torch: torchMs ? t.median / torchMs : null, ...(torchMs ? { torch_value: o.batch / (torchMs / 1000) } : {}),
      });
      {
        // memory of the same step: tfjs process (peak so far and now) and the PyTorch worker process (its own peak)
        const peak = process.resourceUsage().maxRSS / 1024;
        let torchPeak: number | null = null;
        if (worker) {
          try {
            torchPeak = (await worker.call<{ max_rss_mb: number }>({ cmd: 'max_rss' })).max_rss_mb;
          } catch (e) {
            rec.note(`PyTorch max_rss failed: ${errorMessage(e)}`);
          }
        }
        fig(rec, {
          name: `memory.step.${o.tag}`, value: peak, unit: 'MB', shape, rss_now_mb: process.memoryUsage().rss / 2 ** 20,
          wasm_heap_mb: wasmHeapMB(), tensor_peak_mb: tensorPeakMB, torch_value: torchPeak,
          // RSS against RSS only for the process's first step (later ones carry the earlier high-water mark)
          ratio_vs_torch: torchPeak && stepsMeasured === 0 ? peak / torchPeak : null, first_step_in_process: stepsMeasured === 0,
          note: 'tfjs: peak RSS of the bench process so far (every section run before, this step included; the wasm heap never shrinks),'
            + ' and the peak of live tensor bytes during one step (tf.profile peakBytes: weights, optimiser slots, activations);'
            + ' PyTorch: peak RSS of its worker process, which ran only this step (teacher + student, its steps and profile)',
        });
        stepsMeasured++;
      }
      if (worker && o.profile) {
        try {
          const p = await worker.call<{ total_ms: number; ops: { name: string; ms: number; calls: number }[] }>({ cmd: 'profile_step', format: bestFmt, top: 10 });
          rec.add({ name: `torch.profile.${o.tag}.op_total`, value: p.total_ms, unit: 'ms', backend: 'torch-cpu', threads, shape, format: bestFmt });
          for (const op of p.ops) {
            rec.add({ name: `torch.profile.${o.tag}.op.${op.name}`, value: op.ms, unit: 'ms', backend: 'torch-cpu', threads, shape, calls: op.calls, share: op.ms / p.total_ms });
          }
        } catch (e) {
          rec.note(`PyTorch profile of the step failed: ${errorMessage(e)}`);
        }
      }
      if (worker && o.teacherForward !== false) {
        for (const fmt of FORMATS) {
          const tf1 = await worker.call<TorchTiming>({ cmd: 'teacher_forward', format: fmt, reps: Math.max(2, Math.ceil(o.steps / 2)), warmup: 1 });
          rec.add({ name: `torch.teacher_forward.${o.tag}.${fmt}`, value: tf1.median, unit: 'ms', backend: 'torch-cpu', threads, shape, cpu_ms: tf1.cpu_median });
        }
      }
    } finally {
      worker?.close();
    }
    const t = { median: result.stepMs as number };

    // teacher forward alone (what caching teacher outputs would save); once per teacher and size
    if (o.teacherForward !== false) {
      const x = tf.randomNormal(shape.input as [number, number, number, number]) as tf.Tensor4D;
      const tt: number[] = [];
      const tc: number[] = [];
      for (let i = 0; i < Math.max(2, Math.ceil(o.steps / 2)) + 1; i++) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        const out = teacher.model.predict(x) as tf.Tensor[];
        await out[1].data();
        tf.dispose(out);
        const c = process.cpuUsage(c0);
        if (i > 0) {
          tt.push(performance.now() - t0);
          tc.push((c.user + c.system) / 1000);
        }
      }
      x.dispose();
      fig(rec, { name: `teacher_forward.${o.tag}`, value: median(tt), unit: 'ms', shape, cpu_ms: median(tc), share_of_step: median(tt) / t.median });
    }

    if (o.profile) {
      progress(`profiling one step (tf.profile)`);
      const { kernels, wallMs } = await profileKernels(async () => {
        await trainer.trainStep();
        return [];
      });
      result.kernels = kernels;
      const top = aggregateKernels(kernels, 1);
      const totalMs = top.reduce((a, k) => a + k.ms, 0);
      fig(rec, { name: `profile.${o.tag}.kernel_total`, value: totalMs, unit: 'ms', shape, wall_ms: wallMs, kernels: kernels.filter((k) => k.depth === 1).length });
      // op scopes (custom-gradient wrappers such as fusedConv2d__op, or unnamed ones): the kernel they mostly run
      const inside = new Map<string, Map<string, number>>();
      for (const r of kernels) {
        if (r.depth !== 2) continue;
        const m = inside.get(r.parent) ?? new Map<string, number>();
        m.set(r.name, (m.get(r.name) ?? 0) + r.ms);
        inside.set(r.parent, m);
      }
      for (const k of top.slice(0, 15)) {
        const children = inside.get(k.name);
        const main = children ? [...children.entries()].sort((a, b) => b[1] - a[1])[0] : null;
        const isScope = k.name === '' || k.name.endsWith('__op') || !tf.getKernel(k.name, tf.getBackend());
        fig(rec, {
          name: `profile.${o.tag}.kernel.${k.name || '(unnamed scope)'}`, value: k.ms, unit: 'ms', shape, calls: k.calls, share: k.share,
          ...(isScope && main ? { inside: main[0] } : {}),
        });
      }
      const nested = aggregateKernels(kernels, 2);
      if (nested.length) {
        fig(rec, {
          name: `profile.${o.tag}.nested_kernels`, value: nested.reduce((a, k) => a + k.ms, 0), unit: 'ms', shape,
          note: 'kernels called inside JS-implemented kernels (already counted in their caller)',
          top: nested.slice(0, 8).map((k) => ({ name: k.name, ms: Number(k.ms.toFixed(2)), calls: k.calls })),
        });
      }
      // each backward conv kernel vs its forward conv at the same shapes
      const pairs = backwardVsForward(kernels);
      const byKernel = new Map<string, { bwd: number; fwd: number; worst: number; worstKey: string; unmatched: number; worstBig: number; worstBigKey: string }>();
      for (const p of pairs) {
        const a = byKernel.get(p.kernel) ?? { bwd: 0, fwd: 0, worst: 0, worstKey: '', unmatched: 0, worstBig: 0, worstBigKey: '' };
        // shapes whose forward conv takes >= 1 ms: the ones that matter for the step time
        if (p.forwardMs >= 1 && p.ratio > a.worstBig) {
          a.worstBig = p.ratio;
          a.worstBigKey = p.key;
        }
        if (Number.isNaN(p.forwardMs)) {
          a.unmatched += p.calls;
        } else {
          a.bwd += p.backwardMs * p.calls;
          a.fwd += p.forwardMs * p.calls;
          if (p.ratio > a.worst) {
            a.worst = p.ratio;
            a.worstKey = p.key;
          }
        }
        byKernel.set(p.kernel, a);
      }
      for (const [kernel, a] of byKernel) {
        const ratio = a.fwd > 0 ? a.bwd / a.fwd : null;
        fig(rec, {
          name: `profile.${o.tag}.bwd_vs_fwd.${kernel}`, value: ratio, unit: 'x', shape,
          backward_ms: a.bwd, forward_ms: a.fwd, worst_shape_ratio: a.worst, worst_shape: a.worstKey,
          worst_shape_ratio_fwd_over_1ms: a.worstBig || null, worst_shape_fwd_over_1ms: a.worstBigKey || null,
          ...(a.unmatched ? { unmatched_calls: a.unmatched } : {}),
          note: 'time-weighted: Σ backward ms / Σ forward conv ms over the same (x, filter, y) shapes',
        });
        if (ratio !== null) result.bwdVsFwdWorst.push({ kernel, ratio });
      }
    }
    if (o.convShapes ?? o.profile) {
      progress(`conv kernels of the step, one shape at a time (forward, backward-input, backward-filter)`);
      const calls = await captureConvCalls(() => trainer.trainStep());
      const peak = cpuPeak(os.cpus().length);
      const byName = new Map(calls.map((c) => [c.name, c]));
      const results = await benchmarkConvKernels(calls.map((c) => c.shape), o.convReps ?? 5, (sh) => {
        const c = byName.get(convShapeNameOf(sh)) as (typeof calls)[number];
        return [sh.depthwise ? 'DepthwiseConv2dNative' : 'Conv2D', ...c.backward];
      }, 'min');
      for (const c of calls) {
        const mine = results.filter((r) => r.shape === c.name);
        const get = (suffix: string) => mine.find((r) => r.kernel.endsWith(suffix));
        const f = get(c.shape.depthwise ? 'DepthwiseConv2dNative' : 'Conv2D');
        const bi = get('BackpropInput');
        const bf = get('BackpropFilter');
        if (!f) continue;
        const frac = (r?: { gflops: number }) => (r && peak ? r.gflops / peak.gflops : null);
        fig(rec, {
          name: `convshape.${o.tag}.${c.name}`, value: f.ms, unit: 'ms', shape, forward_calls: c.forwardCalls, flops: f.flops,
          forward_gflops: f.gflops, forward_peak_fraction: frac(f),
          input_ms: bi?.ms ?? null, input_ratio: bi ? bi.ms / f.ms : null, input_gflops: bi?.gflops ?? null,
          filter_ms: bf?.ms ?? null, filter_ratio: bf ? bf.ms / f.ms : null, filter_gflops: bf?.gflops ?? null,
          depthwise: !!c.shape.depthwise, reps: o.convReps ?? 5, stat: 'fastest',
        });
      }
      if (peak) fig(rec, { name: `cpu.peak_gflops`, value: peak.gflops, unit: 'GFLOP/s', shape, how: peak.how, cores: peak.cores, mhz: peak.mhz, lanes: peak.lanes });
    }
  } catch (e) {
    rec.unavailable(`step.${o.tag}`, 'ms', `failed on ${tf.getBackend()}: ${errorMessage(e)}`, { shape });
  } finally {
    made?.dispose();
    student?.model.dispose();
    teacher?.model.dispose();
  }
  return result;
}

/**
 * `--only torch`: is PyTorch there, and is its twin of the teacher and student the same network
 * (trainable parameter counts equal)? No timing.
 */
export async function benchTorchTwin(rec: Recorder, o: { teacher: string; student: string; size: [number, number] }): Promise<boolean> {
  const api = loadTraining();
  const torch = findTorch();
  const threads = backendThreads();
  let worker: TorchWorker | null = null;
  try {
    worker = torch.info ? await TorchWorker.start(threads) : null;
    let ok = !!worker;
    for (const [role, preset] of [['student', o.student], ['teacher', o.teacher]] as const) {
      const net = api.buildNet(preset, o.size);
      const g = exportGraph(net.model);
      net.model.dispose();
      let torchCount: number | null = null;
      let note = torch.why;
      if (worker) {
        try {
          torchCount = (await worker.call<{ params: Record<string, number> }>({ cmd: 'params', graphs: { m: g } })).params.m;
          note = '';
        } catch (e) {
          note = errorMessage(e);
        }
      }
      const match = torchCount === g.trainableParams;
      ok = ok && match;
      rec.add({
        name: `params.${role}`, value: g.trainableParams, unit: 'params', backend: tf.getBackend(), threads,
        torch_value: torchCount, match, model: preset, ...(note ? { note } : {}),
      });
    }
    return ok;
  } finally {
    worker?.close();
  }
}
