/**
 * The shape of a distillation method: every loss file exports one descriptor, and the registry
 * (registry.ts) is the list of them. Two kinds:
 *
 * - `defineLoss`: a function of the two maps, `(student, teacher, options) => tf.Scalar` (CWD, PI, AT, …).
 *   Training puts a connector in front of the student when the channels differ (`needsSameChannels`).
 * - `defineStatefulLoss`: a term with trainable state of its own (the holistic term's critic). Its
 *   `create(options, context)` builds that state for one term of a training run; the context gives it
 *   the tap's channel count, a seed and an optimiser factory (so lib/distill needs nothing from the
 *   training layer above it).
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { defineLoss } = require('./lib/distill');
 *   const l1 = (s, t) => tf.mean(tf.abs(tf.sub(s, t)));    // a loss file exports its function …
 *   const l1Loss = defineLoss({                            // … and its descriptor
 *     name: 'l1', fn: l1, defaultConfig: () => ({}), description: 'mean |s − t|',
 *     source: 'an example', referenceWeight: null, needsSameChannels: true, needsLabels: false,
 *   });
 *   l1Loss.fn(tf.ones([1, 2, 2, 3]), tf.zeros([1, 2, 2, 3])).print();   // 1
 */
import type * as tf from '@tensorflow/tfjs';

/** Which output of both networks a term compares: the feature map before the classifier, or the score map. */
export type TapPoint = 'feature' | 'logits';

/** `(student, teacher, options) => Scalar`, NHWC, unweighted; the teacher gets no gradient. */
export type LossFn<O> = (student: tf.Tensor4D, teacher: tf.Tensor4D, options?: O) => tf.Scalar;

interface DescriptorBase<N extends string, O> {
  /** The registry name, used in term configs (`{method: 'cwd', …}`) and presets. */
  name: N;
  /** One line: what it computes. */
  description: string;
  /** Where it comes from (paper, equation, table row). */
  source: string;
  /** Default options (a fresh object each call); its keys are the options the method accepts. */
  defaultConfig(): O;
  /** A loss weight used by the paper or the reference code, for information (the losses are unweighted). */
  referenceWeight: { value: number; source: string } | null;
  /** true: student and teacher need the same channel count (training adds a connector otherwise). */
  needsSameChannels: boolean;
  /** true: `options.labels` is required (IFVD). */
  needsLabels: boolean;
}

export interface LossDescriptor<N extends string = string, O = any> extends DescriptorBase<N, O> {
  kind: 'loss';
  fn: LossFn<O>;
}

/** The tensors of one training step a stateful term sees (the tap's student and teacher maps). */
export interface TermInputs {
  student: tf.Tensor4D;
  teacher: tf.Tensor4D;
  images: tf.Tensor4D;
  labels: tf.Tensor3D;
}

/** An optimiser over a fixed list of variables whose state is a plain tensor list (lib/train's Optimizer). */
export interface TermOptimizer {
  apply(grads: tf.Tensor[], lr: number): void;
  stateTensors(): tf.Tensor[];
  setState(tensors: tf.Tensor[], iterations: number): void;
  readonly iterations: number;
  dispose(): void;
}

export interface StatefulContext {
  /** The term's log name (e.g. 'holistic@logits'), for error messages. */
  name: string;
  /** Channels of the tapped map (student and teacher alike). */
  inChannels: number;
  /** Seed of the state's initialisation. */
  seed: number;
  /** An optimiser for the state's own variables. */
  optimizer(variables: tf.Variable[], config: { type: 'adam'; beta1: number; beta2: number; weightDecay: number }): TermOptimizer;
}

/** The trainable state of one stateful term. */
export interface StatefulLoss {
  /** The term's value for the student (differentiable w.r.t. `x.student`). */
  compute(x: TermInputs): tf.Scalar;
  /** An update of the state after the student step, on detached maps; values to log by key. */
  afterStudentStep?(x: TermInputs, step: number, seed: number): Record<string, tf.Scalar>;
  /** Checkpointed tensors, in a fixed order, and their restore. */
  stateTensors(): tf.Tensor[];
  stateIterations(): number[];
  setState(tensors: tf.Tensor[], iterations: number[]): void;
  dispose(): void;
}

export interface StatefulLossDescriptor<N extends string = string, O = any> extends DescriptorBase<N, O> {
  kind: 'stateful';
  /** The one tap point it accepts, and why (in the error for the other). */
  tap: { on: TapPoint; why: string };
  /** Validate the options (complete: defaults filled in) and build the state of one term. */
  create(options: O, context: StatefulContext): StatefulLoss;
}

export type MethodDescriptor = LossDescriptor | StatefulLossDescriptor;

/** A loss descriptor, with its name kept as a literal type (for the registry's option types). */
export function defineLoss<const N extends string, O>(d: Omit<LossDescriptor<N, O>, 'kind'>): LossDescriptor<N, O> {
  return { kind: 'loss', ...d };
}

/** A stateful-term descriptor (see the module doc). */
export function defineStatefulLoss<const N extends string, O>(d: Omit<StatefulLossDescriptor<N, O>, 'kind'>): StatefulLossDescriptor<N, O> {
  return { kind: 'stateful', ...d };
}
