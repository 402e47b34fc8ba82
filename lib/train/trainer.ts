/**
 * The training loop of a segmenter alone (teacher, baseline student) or with distillation terms:
 *
 *   total = CE(upsample(logits_S), y) + Σ_k weight_k · φ_k(S_k, T_k)        (Eq. 1)
 *
 * - The teacher runs in inference mode (`model.predict`, BatchNorm moving statistics, no dropout),
 *   OUTSIDE the gradient tape: it is frozen and never receives gradient.
 * - The student (and every aligner) is updated by one optimiser with the poly schedule.
 * - All randomness is a function of (seed, step) or checkpointed: batch `k` is `data.batch(k)`, and
 *   a checkpoint holds the weights (BatchNorm statistics included), optimiser slots and iteration
 *   counts, term states and the dropout layers' call counters, so a resumed run is bit-identical to
 *   an uninterrupted one (on a deterministic backend such as `cpu`).
 * - A run folder is locked (`RunLock`) while the trainer uses it; checkpoints are verified on load
 *   (manifest with sizes + sha256) and a damaged newest one falls back to the newest intact one.
 * - Nothing non-finite is kept: a step whose loss, term or gradient is NaN/Infinity stops training
 *   before the update, naming the value with a hint at the cause; weights are checked before every
 *   checkpoint. A term that is exactly 0 and a loss that explodes are reported once (`log`).
 * - Per-step tensor work runs in `tf.tidy`; `tf.memory().numTensors` stays flat over steps.
 */
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/types';
import type { SegmentationNet } from '../models/types';
import { forward as modelForward, saveNet } from '../models';
import { ChannelDropout, dropoutCounters, setDropoutCounters } from '../models/layers';
import { CheckpointDir, loadTensors, loadWeightsInto, fileIOHandler, readJSONFile, saveTensors, writeFileAtomic } from './checkpoint';
import { countNonFinite, describeNonFinite, modelWeightTensors } from './finite';
import { asTrainConfig, TrainConfig, configHash } from './config';
import { crossEntropy2d } from './loss';
import { Optimizer } from './optim';
import { RunDir, RunLock } from './run-dir';
import { polyLR } from './schedule';
import type { LossTerm, StepTensors } from './terms';
import * as fs from 'fs';
import * as path from 'path';

/**
 * Training data: the batch of 0-based step `step`, a pure function of the data seed and step. A source
 * that cannot be one (e.g. it keeps a stream position) implements `state`/`setState`: the JSON value is
 * saved in every checkpoint and restored on resume, so a resumed run still sees the same batches.
 */
export interface TrainData {
  batch(step: number, batchSize: number): Promise<Batch> | Batch;
  state?(): unknown;
  setState?(state: unknown): void;
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
  /** A config from `resolveTrainConfig` is used as it is; anything else is resolved here. */
  config: Partial<TrainConfig> | TrainConfig;
  data: TrainData;
  /** When set: config.json, metrics.jsonl, checkpoints/ (and resume from them). */
  runDir?: string;
  /** Extra fields for config.json (kind, model configs, command, backend …). */
  runInfo?: Record<string, unknown>;
  /** Called after every step (progress bar, log lines). */
  onStep?: (r: StepRecord, trainer: Trainer) => void;
  /** Warnings and notes (checkpoint fallback, a term that is exactly 0, a diverging loss); default stderr. */
  log?: (msg: string) => void;
}

/** A value that is not finite (NaN or ±Infinity) or a number formatted for a message. */
function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  return v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4) ? v.toExponential(4) : String(+v.toPrecision(5));
}

function forward(net: SegmentationNet, images: tf.Tensor4D, training: boolean): { feature: tf.Tensor4D; logits: tf.Tensor4D } {
  return modelForward(net, images, { training });
}

/**
 * What a run folder's config hash covers (config.json `config`): the resolved train config, both model
 * configs and the experiment's extra identity (data options, init package, teacher package).
 */
export function runConfig(train: TrainConfig, student: unknown, teacher: unknown, extra?: unknown): Record<string, unknown> {
  return { train, student, teacher, ...(extra ? { extra } : {}) };
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
  private readonly lock?: RunLock;
  private readonly log: (msg: string) => void;
  private resumedFrom: number | null = null;
  /** First step run by this trainer object (no update applied before it in this process). */
  private firstStep: number | null = null;
  private firstLoss: number | null = null;
  private warnedDiverging = false;
  private readonly warnedZero = new Set<string>();

  constructor(o: TrainerOptions) {
    this.config = asTrainConfig(o.config as TrainConfig);
    this.student = o.student;
    this.teacher = o.teacher;
    this.terms = o.terms ?? [];
    if (this.terms.length > 0 && !this.teacher) throw new Error('Trainer: distillation terms need a teacher');
    if (this.config.terms.length !== this.terms.length) {
      throw new Error(`Trainer: config.terms has ${this.config.terms.length} entries but ${this.terms.length} LossTerm objects were given (build them with buildTerms(config.terms, …))`);
    }
    this.data = o.data;
    this.onStep = o.onStep;
    this.log = o.log ?? ((m) => process.stderr.write(`${m}\n`));
    const studentVars = this.student.model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
    this.variables = [...studentVars, ...this.terms.flatMap((t) => t.studentVariables())];
    this.optimizer = new Optimizer(this.variables, this.config.optimizer);
    if (o.runDir) {
      this.run = new RunDir(o.runDir);
      this.lock = RunLock.acquire(o.runDir, { log: this.log });
      try {
        this.run.init({
          name: path.basename(o.runDir),
          kind: this.terms.length ? 'distill' : 'train',
          config: runConfig(this.config, this.student.config, this.teacher?.config ?? null, o.runInfo?.hashExtra),
          seed: this.config.seed,
          backend: tf.getBackend(),
          ...(o.runInfo ?? {}),
        });
      } catch (e) {
        this.lock.release();
        this.optimizer.dispose();
        throw e;
      }
      this.ckpt = new CheckpointDir(this.run.checkpoints, this.config.keepCheckpoints);
      for (const p of this.ckpt.cleanStale()) this.log(`removed ${p}, left by an interrupted checkpoint write`);
    }
  }

  /** Learning rate of step `step` (poly). */
  lrAt(step: number): number {
    return polyLR({ baseLR: this.config.lr, maxIters: this.config.iters, power: this.config.lrPower, warmupIters: this.config.warmupIters }, step);
  }

  /**
   * Resume from the run's newest intact checkpoint when there is one; returns the step resumed at (or
   * null). Each checkpoint is verified against its manifest first; a damaged one is named with what is
   * wrong and the next older one is tried (and `log` says so). No intact checkpoint at all is an error.
   */
  async resume(): Promise<number | null> {
    if (!this.ckpt) return null;
    const candidates = this.ckpt.candidates(this.log);
    if (candidates.length === 0) return null;
    const damaged: string[] = [];
    for (const c of candidates) {
      const check = CheckpointDir.verify(c.dir);
      let problem = check.problem;
      if (!problem) {
        try {
          await this.loadCheckpoint(c.dir);
        } catch (e) {
          problem = (e as Error).message;
        }
      }
      if (!problem) {
        if (check.unverified) this.log(`checkpoint ${c.dir} has no manifest (written by an older version): loaded without checksums`);
        if (damaged.length) this.log(`resuming from ${c.dir} (step ${this.step}), the newest intact checkpoint, instead`);
        this.run!.truncateMetrics(this.step);
        this.resumedFrom = this.step;
        return this.step;
      }
      damaged.push(`${path.basename(c.dir)}: ${problem}`);
      this.log(`checkpoint ${c.dir} is damaged: ${problem}`);
    }
    throw new Error(`${this.ckpt.root}: no intact checkpoint to resume from (${damaged.join('; ')}); start over with --fresh (deletes the run) or another --name`);
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
    if (this.firstStep === null) this.firstStep = step;
    let values: number[];
    let badGradient: string | null = null;
    const extra: Record<string, number> = {};
    const extraRead: Record<string, number | tf.Scalar> = {};
    // the forward pass in training mode moves the BatchNorm statistics: keep them to undo a non-finite step
    const statVars = this.student.model.nonTrainableWeights;
    const statsBefore = statVars.map((w) => tf.clone(w.read()));
    let kept: tf.Tensor[] = [];
    let grads: tf.Tensor[] = [];
    const held: { teacher: { feature: tf.Tensor4D; logits: tf.Tensor4D } | null } = { teacher: null };
    try {
      // 1. forward + gradients; the losses and a finiteness probe of every gradient (sum(g·0): 0 when
      //    finite, NaN otherwise, never an overflow) are read (asynchronously: webgpu has no synchronous
      //    reads in Node) BEFORE the update, so a non-finite step changes no weight
      const { valuesT, probeT } = tf.tidy(() => {
        const teacherOut = this.teacher && this.terms.length ? forward(this.teacher, batch.images, false) : null;
        if (teacherOut) held.teacher = { feature: tf.keep(teacherOut.feature), logits: tf.keep(teacherOut.logits) };
        const { grads: named } = tf.variableGrads(() => {
          const s = forward(this.student, batch.images, true);
          const ce = crossEntropy2d(s.logits, batch.labels, { mode: this.config.lossMode });
          let total: tf.Scalar = ce;
          const parts: tf.Scalar[] = [ce];
          if (teacherOut) {
            const stepTensors: StepTensors = { images: batch.images, labels: batch.labels, student: s, teacher: teacherOut };
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
        grads = this.variables.map((v) => {
          const g = named[v.name];
          if (!g) throw new Error(`no gradient for variable '${v.name}' (is it used by the model or an aligner?)`);
          return tf.keep(g);
        });
        return { valuesT: kept[kept.length - 1].clone(), probeT: tf.stack(grads.map((g) => tf.sum(tf.mul(g, 0)))) };
      });
      values = Array.from(await valuesT.data());
      const probe = await probeT.data();
      valuesT.dispose();
      probeT.dispose();
      const badVar = probe.findIndex((x) => !Number.isFinite(x));
      if (badVar >= 0) badGradient = this.variables[badVar].name;
      if (!values.every(Number.isFinite) || badGradient !== null) {
        statVars.forEach((w, i) => w.write(statsBefore[i]));
      } else {
        // 2. the update, then the terms' after-step updates on the detached student outputs
        tf.tidy(() => {
          this.optimizer.apply(grads, lr);
          if (held.teacher && this.terms.some((t) => t.afterStudentStep)) {
            const detached: StepTensors = {
              images: batch.images, labels: batch.labels,
              student: { feature: kept[0] as tf.Tensor4D, logits: kept[1] as tf.Tensor4D }, teacher: held.teacher,
            };
            for (const t of this.terms) {
              if (!t.afterStudentStep) continue;
              for (const [k, v] of Object.entries(t.afterStudentStep(detached, step, this.config.seed))) extraRead[k] = typeof v === 'number' ? v : tf.keep(v);
            }
          }
        });
        for (const [k, v] of Object.entries(extraRead)) extra[k] = typeof v === 'number' ? v : (await v.data())[0];
      }
    } finally {
      tf.dispose(Object.values(extraRead).filter((v): v is tf.Scalar => typeof v !== 'number'));
      tf.dispose(kept);
      kept = [];
      tf.dispose(grads);
      grads = [];
      if (held.teacher) tf.dispose([held.teacher.feature, held.teacher.logits]);
      batch.images.dispose();
      batch.labels.dispose();
      statsBefore.forEach((t) => t.dispose());
    }
    const names = this.terms.map((t) => t.name);
    const [loss, ce, ...termValues] = values;
    if (!values.every(Number.isFinite) || badGradient !== null) throw new Error(this.nonFiniteMessage(step, values, badGradient));
    this.warnAnomalies(step, loss, termValues);
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
    let saved = -1;
    try {
      saved = this.ckpt?.latest()?.step ?? -1;
    } catch { /* a damaged pointer: write a new checkpoint */ }
    if (this.ckpt && saved !== this.step) await this.saveCheckpoint();
    else await this.assertFiniteState();
    return out;
  }

  /** Weights (BatchNorm statistics included), optimiser slots and term states of this trainer. */
  private stateTensorsNamed(): { name: string; tensor: tf.Tensor }[] {
    return [
      ...modelWeightTensors(this.student.model).map((w) => ({ name: `student ${w.name}`, tensor: w.tensor })),
      ...this.optimizer.stateTensors().map((t, i) => ({ name: `optimizer slot ${i}`, tensor: t })),
      ...this.terms.flatMap((term) => term.stateTensors().map((t, i) => ({ name: `term '${term.name}' state ${i}`, tensor: t }))),
    ];
  }

  /** Throw when any weight, BatchNorm statistic, optimiser slot or term state is not finite. */
  async assertFiniteState(): Promise<void> {
    const r = await countNonFinite(this.stateTensorsNamed());
    if (r.count === 0) return;
    let last = 'no checkpoint was saved before';
    try {
      const p = this.ckpt?.latest();
      if (p) last = `the last saved checkpoint, ${p.dir} (step ${p.step}), is kept`;
    } catch { /* reported on resume */ }
    throw new Error(`step ${this.step}: ${describeNonFinite(r, 'the training state')}: NOT saved (${last}). ${this.divergenceHint(false, null)}`);
  }

  /** Save model weights, optimiser slots, term states, dropout counters and the step counter (all finite, or an error). */
  async saveCheckpoint(): Promise<string> {
    if (!this.ckpt) throw new Error('saveCheckpoint: this trainer has no runDir');
    await this.assertFiniteState();
    return this.ckpt.write(this.step, async (dir) => {
      await saveNet(this.student, fileIOHandler(path.join(dir, 'student')));
      await saveTensors(dir, 'optimizer', this.optimizer.stateTensors());
      const termState = this.terms.flatMap((t) => t.stateTensors());
      await saveTensors(dir, 'terms', termState);
      writeFileAtomic(path.join(dir, 'state.json'), JSON.stringify({
        step: this.step,
        seed: this.config.seed,
        configHash: configHash(this.config),
        optimizerIterations: this.optimizer.iterations,
        dropoutCounters: dropoutCounters(this.student.model),
        ...(this.data.state ? { data: this.data.state() } : {}),
        terms: this.terms.map((t) => ({ name: t.name, tensors: t.stateTensors().length, iterations: t.stateIterations() })),
      }));
    });
  }

  async loadCheckpoint(dir: string): Promise<void> {
    const statePath = path.join(dir, 'state.json');
    if (!fs.existsSync(statePath)) throw new Error(`checkpoint ${dir} has no state.json`);
    const state = readJSONFile<{
      step: number; configHash: string; optimizerIterations: number; dropoutCounters?: number[]; dropoutCalls?: Record<string, number>; data?: unknown; terms: { name: string; tensors: number; iterations: number[] }[];
    }>(statePath, 'checkpoint state');
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
    // checkpoints written before the counters were saved: the student runs once in training mode per
    // step, so a run trained from step 0 has made exactly `step` calls
    // (`dropoutCalls`, by layer name: the format of an earlier version of this field)
    const byName = state.dropoutCalls;
    const named = byName ? this.student.model.layers.filter((l) => l instanceof ChannelDropout).map((l) => byName[l.name]) : null;
    setDropoutCounters(this.student.model, state.dropoutCounters
      ?? (named && named.every((c) => c !== undefined) ? named as number[] : dropoutCounters(this.student.model).map(() => state.step)));
    if (this.data.setState) {
      if (state.data === undefined) throw new Error(`checkpoint ${dir}: the training data keeps a state, but state.json has none (written by another data source?)`);
      this.data.setState(state.data);
    }
    this.step = state.step;
  }

  /** The message of a step whose loss, term or gradient is not finite: which value, and a hint at the cause. */
  private nonFiniteMessage(step: number, values: number[], badGradient: string | null): string {
    const [loss, ce, ...termValues] = values;
    const names = this.terms.map((t) => t.name);
    const parts = `loss ${num(loss)} = ce ${num(ce)}${names.map((n, i) => ` + ${this.terms[i].config.weight} × ${n} ${num(termValues[i])}`).join('')}`;
    const first = this.firstStep === step;
    const badTerm = termValues.findIndex((v) => !Number.isFinite(v));
    let what: string;
    let culprit: number | null = null;
    if (!Number.isFinite(ce)) what = `the cross-entropy is ${ce}`;
    else if (badTerm >= 0) { what = `term '${names[badTerm]}' is ${termValues[badTerm]}`; culprit = badTerm; }
    else if (!Number.isFinite(loss)) what = `the weighted sum overflows to ${loss} although every part is finite`;
    else what = `the gradient of '${badGradient}' is not finite although the loss is`;
    return `step ${step + 1}: ${what} (${parts}); training stopped before the update (no weight or BatchNorm statistic changed). ${this.divergenceHint(first, culprit, !Number.isFinite(ce))}`;
  }

  /** A hint that fits the cause: a term's options, a term weight, the learning rate, or the data. */
  private divergenceHint(first: boolean, culprit: number | null, ceBad = false): string {
    const odd: string[] = [];
    this.terms.forEach((t, i) => {
      if (culprit !== null && i !== culprit) return;
      const temp = t.config.temperature;
      if (typeof temp === 'number' && (temp > 100 || temp < 0.01)) {
        odd.push(`term '${t.name}' has temperature ${temp} (${temp > 100 ? 'T² scales the term and overflows float32' : 'the softened maps underflow'}; the paper uses 1..4): use a temperature around 1..10`);
      }
      if (t.config.weight > 1000) odd.push(`term '${t.name}' has weight ${t.config.weight} (the paper uses 3..10 for CWD): lower it (--weight)`);
    });
    const lrHigh = this.config.optimizer.type === 'adam' ? 0.01 : 1;
    if (this.config.lr > lrHigh && culprit === null) odd.push(`the learning rate ${this.config.lr} is high for ${this.config.optimizer.type}: lower --lr`);
    if (odd.length) return `Likely cause: ${odd.join('; ')}.`;
    if (first && culprit !== null) return `This is the first step of this process, before any update: the term itself gives a non-finite value on these inputs; check its options (${JSON.stringify(this.terms[culprit].config)}).`;
    if (first && ceBad) return 'This is the first step of this process, before any update: check the labels (ids 0..numClasses-1 or 255) and the model config.';
    return `The weights diverged: lower --lr (now ${this.config.lr}) or a term weight${this.config.warmupIters ? '' : ', or add --warmup'}.`;
  }

  /** Once per run: a term that is exactly 0 (an underflow), and a loss far above the first step's. */
  private warnAnomalies(step: number, loss: number, termValues: number[]): void {
    this.terms.forEach((t, i) => {
      if (termValues[i] === 0 && t.config.weight > 0 && !this.warnedZero.has(t.name)) {
        this.warnedZero.add(t.name);
        const temp = t.config.temperature;
        const why = typeof temp === 'number' && temp < 0.01
          ? `with temperature ${temp} the softened maps are one-hot and the T²-scaled value underflows float32: use a temperature around 1..10`
          : 'check its options and that the student and teacher maps differ';
        this.log(`warning: step ${step + 1}: term '${t.name}' is exactly 0, so it adds nothing to the loss or the gradient (${why}); reported once`);
      }
    });
    if (this.firstLoss === null) this.firstLoss = loss;
    else if (!this.warnedDiverging && loss > 1000 * Math.max(this.firstLoss, 1)) {
      this.warnedDiverging = true;
      this.log(`warning: step ${step + 1}: loss ${num(loss)} is over 1000 × the first step's ${num(this.firstLoss)}: training is diverging; ${this.divergenceHint(false, null)}`);
    }
  }

  dispose(): void {
    this.optimizer.dispose();
    this.terms.forEach((t) => t.dispose());
    this.lock?.release();
  }
}
