/**
 * Turn a list of term configs into `LossTerm`s through the lib/distill method registry: a loss of two
 * maps (with a connector on the student side when channels differ) or a stateful method (the holistic
 * critic), the same way. Everything that can be wrong in a term config — unknown method, unknown or
 * bad option, a tap point the method refuses, a channel mismatch without an aligner — is an error
 * here, before training.
 */
import * as tf from '@tensorflow/tfjs';
import {
  createConnector, getMethod, METHOD_NAMES, Connector, ConnectorType, CONNECTOR_TYPES, MethodDescriptor, StatefulLoss,
} from '../distill';
import type { SegmentationNet } from '../models/types';
import { Optimizer } from './optim';
import { hashInts } from '../rng';
import { LossTerm, StepTensors, TermConfig, termNames, validateTermConfigs } from './terms';

/** Term methods accepted in configs: every name of the lib/distill registry. */
export function termMethods(): string[] {
  return [...METHOD_NAMES];
}

/** Keys of a term config that are not method options. */
const TERM_KEYS = ['method', 'on', 'weight', 'aligner'];

export interface BuildTermsContext {
  student: SegmentationNet;
  teacher: SegmentationNet;
  /** Seed of aligner / discriminator initialisation. */
  seed: number;
}

function tapChannels(net: SegmentationNet, on: 'feature' | 'logits'): number {
  return on === 'feature' ? net.featureChannels : net.config.numClasses;
}

/**
 * Check one term config against its method's descriptor (no networks needed): the method exists, the
 * tap point is one it accepts, every option name is one of its options, the aligner name is valid.
 * Returns the descriptor and the complete options (defaults filled in). `at` prefixes the errors.
 */
function resolveTerm(c: TermConfig, at: string): { spec: MethodDescriptor; options: Record<string, unknown> } {
  if (!METHOD_NAMES.includes(c.method)) throw new Error(`${at}: unknown method '${c.method}'; valid: ${termMethods().join(', ')}`);
  const spec = getMethod(c.method);
  if (spec.kind === 'stateful' && c.on !== spec.tap.on) throw new Error(`${at}: ${spec.tap.why}: use on: "${spec.tap.on}"`);
  const defaults = spec.defaultConfig() as Record<string, unknown>;
  const known = Object.keys(defaults).filter((x) => x !== 'labels');
  const options: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(c)) {
    if (TERM_KEYS.includes(k)) continue;
    if (!known.includes(k)) throw new Error(`${at}: unknown option '${k}' for method '${c.method}' (options: ${known.join(', ') || 'none'})`);
    options[k] = v;
  }
  if (c.aligner !== undefined && c.aligner !== 'none') {
    if (!(CONNECTOR_TYPES as readonly string[]).includes(String(c.aligner))) {
      throw new Error(`${at}: aligner must be one of none, ${CONNECTOR_TYPES.join(', ')}; got '${String(c.aligner)}'`);
    }
    if (spec.kind === 'stateful') throw new Error(`${at}: method '${c.method}' takes no aligner`);
  }
  return { spec, options };
}

/**
 * One term of the total loss, built from its method's descriptor: a loss of two maps with a connector
 * on the student side when channels differ (or when `aligner` asks for one), or the state of a
 * stateful method. Options not in the term's keys go to the method.
 */
export class MethodTerm implements LossTerm {
  readonly connector: Connector | null = null;
  private readonly fn: ((s: tf.Tensor4D, t: tf.Tensor4D, o?: unknown) => tf.Scalar) | null = null;
  private readonly state: StatefulLoss | null = null;
  private readonly options: Record<string, unknown>;
  private readonly needsLabels: boolean;

  constructor(readonly name: string, readonly config: TermConfig, ctx: BuildTermsContext, index = 0) {
    const { spec, options } = resolveTerm(config, `term '${name}'`);
    this.needsLabels = spec.needsLabels;
    if (this.needsLabels && 'numClasses' in options && config.numClasses === undefined) {
      options.numClasses = ctx.student.config.numClasses;
    }
    this.options = options;
    const sc = tapChannels(ctx.student, config.on);
    const tc = tapChannels(ctx.teacher, config.on);
    if (spec.kind === 'stateful') {
      this.state = spec.create(options, {
        name, inChannels: sc, seed: hashInts([ctx.seed, 0xd15c, index]),
        optimizer: (variables, o) => new Optimizer(variables, o),
      });
      return;
    }
    this.fn = spec.fn as (s: tf.Tensor4D, t: tf.Tensor4D, o?: unknown) => tf.Scalar;
    const aligner = (config.aligner ?? (sc !== tc && spec.needsSameChannels ? 'conv1x1' : 'none')) as string;
    if (aligner === 'none' && sc !== tc && spec.needsSameChannels) {
      throw new Error(`term '${name}': student ${config.on} has ${sc} channels, teacher ${tc}; '${config.method}' compares channel by channel: set aligner 'conv1x1'`);
    }
    this.connector = aligner === 'none' ? null : createConnector({
      type: aligner as ConnectorType, inChannels: sc, outChannels: tc,
      seed: hashInts([ctx.seed, 0xa11, index]), name: `align_${config.method}_${config.on}`,
    });
  }

  studentVariables(): tf.Variable[] {
    return this.connector ? this.connector.variables : [];
  }

  private inputs(t: StepTensors): { student: tf.Tensor4D; teacher: tf.Tensor4D; images: tf.Tensor4D; labels: tf.Tensor3D } {
    const on = this.config.on;
    return { student: t.student[on], teacher: t.teacher[on], images: t.images, labels: t.labels };
  }

  compute(t: StepTensors): tf.Scalar {
    const x = this.inputs(t);
    if (this.state) return this.state.compute(x);
    const s = this.connector ? this.connector.apply(x.student) : x.student;
    const options = this.needsLabels ? { ...this.options, labels: t.labels } : this.options;
    return this.fn!(s, x.teacher, options);
  }

  /** Stateful methods only (the holistic critic's update); its values are logged as '<term>.<key>'. */
  get afterStudentStep(): LossTerm['afterStudentStep'] {
    const state = this.state;
    if (!state?.afterStudentStep) return undefined;
    return (t, step, seed) => {
      const out: Record<string, tf.Scalar> = {};
      for (const [k, v] of Object.entries(state.afterStudentStep!(this.inputs(t), step, seed))) out[`${this.name}.${k}`] = v;
      return out;
    };
  }

  stateTensors(): tf.Tensor[] {
    return this.state ? this.state.stateTensors() : this.studentVariables();
  }

  stateIterations(): number[] {
    return this.state ? this.state.stateIterations() : [];
  }

  setState(tensors: tf.Tensor[], iterations: number[]): void {
    if (this.state) {
      try {
        this.state.setState(tensors, iterations);
      } catch (e) {
        throw new Error(`term '${this.name}': ${(e as Error).message}`);
      }
    } else if (this.connector) this.connector.setWeights(tensors);
    else if (tensors.length) throw new Error(`term '${this.name}': checkpoint has ${tensors.length} tensors, the term has none`);
  }

  dispose(): void {
    this.connector?.dispose();
    this.state?.dispose();
  }
}

/**
 * Static check of term configs without networks: methods exist, tap points and option names are
 * ones the method accepts, aligner names are valid. Values are checked by the methods when
 * `buildTerms` dry-runs them.
 */
export function checkTermOptions(configs: TermConfig[], where = 'terms'): void {
  validateTermConfigs(configs, where).forEach((c, i) => resolveTerm(c, `${where}[${i}] (${c.method}@${c.on})`));
}

/**
 * Build terms and run each once on small random maps with the real channel counts, so that bad
 * options fail now with the loss's own message rather than at step 1.
 * @example
 *   const terms = buildTerms([{method: 'cwd', on: 'feature', weight: 3, temperature: 4}], {student, teacher, seed: 0});
 */
export function buildTerms(configs: TermConfig[], ctx: BuildTermsContext): LossTerm[] {
  const valid = validateTermConfigs(configs);
  const names = termNames(valid);
  const terms: LossTerm[] = [];
  try {
    valid.forEach((c, i) => terms.push(new MethodTerm(names[i], c, ctx, i)));
    dryRun(terms, ctx);
  } catch (e) {
    terms.forEach((t) => t.dispose());
    throw e;
  }
  return terms;
}

function dryRun(terms: LossTerm[], ctx: BuildTermsContext): void {
  const K = ctx.student.config.numClasses;
  const KT = ctx.teacher.config.numClasses;
  tf.tidy(() => {
    const h = 4;
    const w = 4;
    const mk = (c: number) => tf.randomNormal([1, h, w, c], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.tensor3d(Array.from({ length: h * w }, (_, i) => i % K), [1, h, w], 'int32');
    const t: StepTensors = {
      images: tf.zeros([1, h * 8, w * 8, 3]) as tf.Tensor4D,
      labels,
      student: { feature: mk(ctx.student.featureChannels), logits: mk(K) },
      teacher: { feature: mk(ctx.teacher.featureChannels), logits: mk(KT) },
    };
    for (const term of terms) {
      let v: tf.Scalar;
      try {
        v = term.compute(t);
      } catch (e) {
        throw new Error(`term '${term.name}': ${(e as Error).message}`);
      }
      if (v.rank !== 0) throw new Error(`term '${term.name}': the loss returned shape [${v.shape}], expected a scalar`);
    }
  });
}
