/**
 * The training loop of a segmenter alone (teacher, baseline student) or with distillation terms:
 *
 *   total = CE(upsample(logits_S), y) + Σ_k weight_k · φ_k(S_k, T_k)        (Eq. 1)
 *
 * - The teacher runs in inference mode (`model.predict`, BatchNorm moving statistics, no dropout),
 *   OUTSIDE the gradient tape: it is frozen and never receives gradient.
 * - The student (and every aligner) is updated by one optimiser with the poly schedule.
 * - All randomness is a function of (seed, step): batch `k` is `data.batch(k)`, so a resumed run
 *   continues exactly where a killed one stopped (up to the steps since the last checkpoint).
 * - Per-step tensor work runs in `tf.tidy`; `tf.memory().numTensors` stays flat over steps.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/types';
import type { SegmentationNet } from '../models/types';
import { forward as modelForward } from '../models';
import { ChannelDropout } from '../models/layers';
import { CheckpointDir, loadTensors, loadWeightsInto, fileIOHandler, saveTensors, writeFileAtomic } from './checkpoint';
import { TrainConfig, resolveTrainConfig, configHash } from './config';
import { crossEntropy2d } from './loss';
import { Optimizer } from './optim';
import { RunDir } from './run-dir';
import { polyLR } from './schedule';
import type { LossTerm, StepTensors } from './terms';
import * as fs from 'fs';
import * as path from 'path';

/** Training data: the batch of 0-based step `step` (must be a pure function of the data seed and step). */
export interface TrainData {
  batch(step: number, batchSize: number): Promise<Batch> | Batch;
}

export interface StepRecord {
  step: number;
  lr: number;
  loss: number;
  ce: number;
  /** Unweighted value of every term by name, plus extra values (e.g. 'holistic.d_loss'). */
  terms: Record<string, number>;
  seconds: number;
  imgPerSec: number;
}

export interface TrainerOptions {
  student: SegmentationNet;
  /** Needed when there are terms. */
  teacher?: SegmentationNet;
  /** Built from `config.terms` by `buildTerms` (lib/train/build-terms.ts). */
  terms?: LossTerm[];
  config: Partial<TrainConfig> | TrainConfig;
  data: TrainData;
  /** When set: config.json, metrics.jsonl, checkpoints/ (and resume from them). */
  runDir?: string;
  /** Extra fields for config.json (kind, model configs, command, backend …). */
  runInfo?: Record<string, unknown>;
  /** Called after every step (progress bar, log lines). */
  onStep?: (r: StepRecord, trainer: Trainer) => void;
}

function forward(net: SegmentationNet, images: tf.Tensor4D, training: boolean): { feature: tf.Tensor4D; logits: tf.Tensor4D } {
  return modelForward(net, images, { training });
}

/**
 * @example
 *   const trainer = new Trainer({student, config: {iters: 100, batchSize: 4}, data, runDir: 'runs/baseline'});
 *   await trainer.run();
 */
export class Trainer {
  readonly config: TrainConfig;
  readonly student: SegmentationNet;
  readonly teacher?: SegmentationNet;
  readonly terms: LossTerm[];
  readonly data: TrainData;
  readonly run?: RunDir;
  readonly optimizer: Optimizer;
  /** Number of steps done (= index of the next step). */
  step = 0;
  private readonly variables: tf.Variable[];
  private readonly onStep?: TrainerOptions['onStep'];
  private readonly ckpt?: CheckpointDir;
  private resumedFrom: number | null = null;

  constructor(o: TrainerOptions) {
    this.config = resolveTrainConfig(o.config as Record<string, unknown>);
    this.student = o.student;
    this.teacher = o.teacher;
    this.terms = o.terms ?? [];
    if (this.terms.length > 0 && !this.teacher) throw new Error('Trainer: distillation terms need a teacher');
    if (this.config.terms.length !== this.terms.length) {
      throw new Error(`Trainer: config.terms has ${this.config.terms.length} entries but ${this.terms.length} LossTerm objects were given (build them with buildTerms(config.terms, …))`);
    }
    this.data = o.data;
    this.onStep = o.onStep;
    const studentVars = this.student.model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
    this.variables = [...studentVars, ...this.terms.flatMap((t) => t.studentVariables())];
    this.optimizer = new Optimizer(this.variables, this.config.optimizer);
    if (o.runDir) {
      this.run = new RunDir(o.runDir);
      this.run.init({
        name: path.basename(o.runDir),
        kind: this.terms.length ? 'distill' : 'train',
        config: {
          train: this.config,
          student: this.student.config,
          teacher: this.teacher?.config ?? null,
          ...(o.runInfo?.hashExtra ? { extra: o.runInfo.hashExtra } : {}),
        },
        seed: this.config.seed,
        backend: tf.getBackend(),
        ...(o.runInfo ?? {}),
      });
      this.ckpt = new CheckpointDir(this.run.checkpoints, this.config.keepCheckpoints);
    }
  }

  /** Learning rate of step `step` (poly). */
  lrAt(step: number): number {
    return polyLR({ baseLR: this.config.lr, maxIters: this.config.iters, power: this.config.lrPower, warmupIters: this.config.warmupIters }, step);
  }

  /** Resume from the run's latest checkpoint when there is one. Returns the step resumed at (or null). */
  async resume(): Promise<number | null> {
    const latest = this.ckpt?.latest();
    if (!latest) return null;
    await this.loadCheckpoint(latest.dir);
    this.run!.truncateMetrics(this.step);
    this.resumedFrom = this.step;
    return this.step;
  }

  get resumedAt(): number | null {
    return this.resumedFrom;
  }

  /** One optimiser step on batch `this.step`. */
  async trainStep(): Promise<StepRecord> {
    const step = this.step;
    const t0 = performance.now();
    const batch = await this.data.batch(step, this.config.batchSize);
    const lr = this.lrAt(step);
    const names = this.terms.map((t) => t.name);
    let values: number[];
    const extra: Record<string, number> = {};
    const extraRead: Record<string, number | tf.Scalar> = {};
    try {
      // read asynchronously after the tidy: webgpu has no synchronous reads in Node
      const valuesT = tf.tidy(() => {
        const teacherOut = this.teacher && this.terms.length ? forward(this.teacher, batch.images, false) : null;
        let kept: tf.Tensor[] = [];
        let stepTensors: StepTensors | null = null;
        const { grads } = tf.variableGrads(() => {
          const s = forward(this.student, batch.images, true);
          const ce = crossEntropy2d(s.logits, batch.labels, { mode: this.config.lossMode });
          let total: tf.Scalar = ce;
          const parts: tf.Scalar[] = [ce];
          if (teacherOut) {
            stepTensors = { images: batch.images, labels: batch.labels, student: s, teacher: teacherOut };
            for (let k = 0; k < this.terms.length; k++) {
              const v = this.terms[k].compute(stepTensors);
              parts.push(v);
              total = tf.add(total, tf.mul(v, this.terms[k].config.weight)) as tf.Scalar;
            }
            // the student outputs (detached by the end of the tape) for the terms' after-step updates
            kept.push(tf.keep(s.feature), tf.keep(s.logits));
          }
          kept.push(tf.keep(tf.stack([total, ...parts])));
          return total;
        }, this.variables);
        const ordered = this.variables.map((v) => {
          const g = grads[v.name];
          if (!g) throw new Error(`no gradient for variable '${v.name}' (is it used by the model or an aligner?)`);
          return g;
        });
        this.optimizer.apply(ordered, lr);
        const stacked = kept[kept.length - 1];
        const vals = stacked.clone();
        if (teacherOut && this.terms.some((t) => t.afterStudentStep)) {
          const detached: StepTensors = {
            images: batch.images, labels: batch.labels,
            student: { feature: kept[0] as tf.Tensor4D, logits: kept[1] as tf.Tensor4D }, teacher: teacherOut,
          };
          for (const t of this.terms) {
            if (!t.afterStudentStep) continue;
            for (const [k, v] of Object.entries(t.afterStudentStep(detached, step, this.config.seed))) extraRead[k] = typeof v === 'number' ? v : tf.keep(v);
          }
        }
        kept.forEach((t) => t.dispose());
        kept = [];
        void stepTensors;
        return vals;
      });
      values = Array.from(await valuesT.data());
      valuesT.dispose();
      for (const [k, v] of Object.entries(extraRead)) extra[k] = typeof v === 'number' ? v : (await v.data())[0];
    } finally {
      tf.dispose(Object.values(extraRead).filter((v): v is tf.Scalar => typeof v !== 'number'));
      batch.images.dispose();
      batch.labels.dispose();
    }
    const [loss, ce, ...termValues] = values;
    if (!Number.isFinite(loss)) {
      throw new Error(`step ${step}: loss is ${loss} (ce ${ce}, ${names.map((n, i) => `${n} ${termValues[i]}`).join(', ')}): lower the learning rate or a term weight`);
    }
    this.step = step + 1;
    const seconds = (performance.now() - t0) / 1000;
    const terms: Record<string, number> = {};
    names.forEach((n, i) => (terms[n] = termValues[i]));
    Object.assign(terms, extra);
    const rec: StepRecord = { step: this.step, lr, loss, ce, terms, seconds, imgPerSec: this.config.batchSize / seconds };
    this.run?.appendMetrics({ step: rec.step, lr, loss, ce, ...terms, seconds: +seconds.toFixed(4), img_s: +rec.imgPerSec.toFixed(3) });
    this.onStep?.(rec, this);
    if (this.ckpt && this.config.checkpointEvery > 0 && this.step % this.config.checkpointEvery === 0 && this.step < this.config.iters) {
      await this.saveCheckpoint();
    }
    return rec;
  }

  /** Train until `config.iters` (or `untilStep`), checkpointing on the way and at the end. */
  async train(untilStep = this.config.iters): Promise<StepRecord[]> {
    const out: StepRecord[] = [];
    while (this.step < Math.min(untilStep, this.config.iters)) out.push(await this.trainStep());
    if (this.ckpt && (this.ckpt.latest()?.step ?? -1) !== this.step) await this.saveCheckpoint();
    return out;
  }

  /** Save model weights, optimiser slots, term states and the step counter. */
  async saveCheckpoint(): Promise<string> {
    if (!this.ckpt) throw new Error('saveCheckpoint: this trainer has no runDir');
    return this.ckpt.write(this.step, async (dir) => {
      await this.student.model.save(fileIOHandler(path.join(dir, 'student')));
      await saveTensors(dir, 'optimizer', this.optimizer.stateTensors());
      const termState = this.terms.flatMap((t) => t.stateTensors());
      await saveTensors(dir, 'terms', termState);
      writeFileAtomic(path.join(dir, 'state.json'), JSON.stringify({
        step: this.step,
        seed: this.config.seed,
        configHash: configHash(this.config),
        optimizerIterations: this.optimizer.iterations,
        dropoutCalls: Object.fromEntries(this.dropoutLayers().map((l) => [l.name, l.calls])),
        terms: this.terms.map((t) => ({ name: t.name, tensors: t.stateTensors().length, iterations: t.stateIterations() })),
      }));
    });
  }

  async loadCheckpoint(dir: string): Promise<void> {
    const statePath = path.join(dir, 'state.json');
    if (!fs.existsSync(statePath)) throw new Error(`checkpoint ${dir} has no state.json`);
    const state = JSON.parse(fs.readFileSync(statePath, 'utf8')) as {
      step: number; configHash: string; optimizerIterations: number; dropoutCalls?: Record<string, number>; terms: { name: string; tensors: number; iterations: number[] }[];
    };
    if (state.configHash !== configHash(this.config)) {
      throw new Error(`checkpoint ${dir} was written with a different training config (hash ${state.configHash}, now ${configHash(this.config)})`);
    }
    loadWeightsInto(this.student.model, path.join(dir, 'student'));
    const slots = loadTensors(dir, 'optimizer');
    try {
      this.optimizer.setState(slots, state.optimizerIterations);
    } finally {
      slots.forEach((t) => t.dispose());
    }
    const termTensors = loadTensors(dir, 'terms');
    try {
      let o = 0;
      this.terms.forEach((t, i) => {
        const s = state.terms[i];
        if (!s || s.name !== t.name) throw new Error(`checkpoint ${dir}: term #${i} is '${s?.name}', the config has '${t.name}'`);
        t.setState(termTensors.slice(o, o + s.tensors), s.iterations);
        o += s.tensors;
      });
    } finally {
      termTensors.forEach((t) => t.dispose());
    }
    // dropout masks are drawn per call: continue the sequence (checkpoints from before this field
    // resume with a fresh sequence, i.e. not bit-identical to an uninterrupted run)
    for (const l of this.dropoutLayers()) if (state.dropoutCalls?.[l.name] !== undefined) l.calls = state.dropoutCalls[l.name];
    this.step = state.step;
  }

  private dropoutLayers(): ChannelDropout[] {
    return this.student.model.layers.filter((l): l is ChannelDropout => l instanceof ChannelDropout);
  }

  dispose(): void {
    this.optimizer.dispose();
    this.terms.forEach((t) => t.dispose());
  }
}
