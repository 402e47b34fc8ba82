/**
 * Turn a list of term configs into `LossTerm`s using the lib/distill registry (and the holistic GAN
 * term of lib/train/holistic.ts). Everything that can be wrong in a term config — unknown method,
 * unknown or bad option, a channel mismatch without an aligner — is an error here, before training.
 */
import * as tf from '@tensorflow/tfjs';
import { createConnector, getLoss, LOSS_NAMES, Connector, ConnectorType, CONNECTOR_TYPES } from '../distill';
import type { SegmentationNet } from '../models/types';
import { HolisticTerm, HOLISTIC_OPTION_KEYS } from './holistic';
import { hashInts } from '../rng';
import { LossTerm, StepTensors, TermConfig, termNames, validateTermConfigs } from './terms';

/** Term methods accepted in configs: the registry's losses plus 'holistic'. */
export function termMethods(): string[] {
  return [...LOSS_NAMES, 'holistic'];
}

/** Keys of a term config that are not loss options. */
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
 * A registry loss as a term, with a connector on the student side when channels differ (or when
 * `aligner` asks for one). Options not in the term's keys are passed to the loss.
 */
export class RegistryTerm implements LossTerm {
  readonly connector: Connector | null;
  private readonly fn: (s: tf.Tensor4D, t: tf.Tensor4D, o?: unknown) => tf.Scalar;
  private readonly options: Record<string, unknown>;
  private readonly needsLabels: boolean;

  constructor(readonly name: string, readonly config: TermConfig, ctx: BuildTermsContext, index = 0) {
    const spec = getLoss(config.method);
    this.fn = spec.fn as (s: tf.Tensor4D, t: tf.Tensor4D, o?: unknown) => tf.Scalar;
    this.needsLabels = spec.needsLabels;
    const defaults = spec.defaultConfig() as Record<string, unknown>;
    const options: Record<string, unknown> = { ...defaults };
    for (const [k, v] of Object.entries(config)) {
      if (TERM_KEYS.includes(k)) continue;
      if (!(k in defaults) || k === 'labels') {
        throw new Error(`term '${name}': unknown option '${k}' for method '${config.method}' (options: ${Object.keys(defaults).filter((x) => x !== 'labels').join(', ') || 'none'})`);
      }
      options[k] = v;
    }
    if (this.needsLabels && 'numClasses' in defaults && config.numClasses === undefined) {
      options.numClasses = ctx.student.config.numClasses;
    }
    this.options = options;
    const sc = tapChannels(ctx.student, config.on);
    const tc = tapChannels(ctx.teacher, config.on);
    const aligner = (config.aligner ?? (sc !== tc && spec.needsSameChannels ? 'conv1x1' : 'none')) as string;
    if (aligner !== 'none' && !(CONNECTOR_TYPES as readonly string[]).includes(aligner)) {
      throw new Error(`term '${name}': aligner must be one of none, ${CONNECTOR_TYPES.join(', ')}; got '${aligner}'`);
    }
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

  compute(t: StepTensors): tf.Scalar {
    let s = this.config.on === 'feature' ? t.student.feature : t.student.logits;
    const tt = this.config.on === 'feature' ? t.teacher.feature : t.teacher.logits;
    if (this.connector) s = this.connector.apply(s);
    const options = this.needsLabels ? { ...this.options, labels: t.labels } : this.options;
    return this.fn(s, tt, options);
  }

  stateTensors(): tf.Tensor[] {
    return this.studentVariables();
  }

  stateIterations(): number[] {
    return [];
  }

  setState(tensors: tf.Tensor[]): void {
    if (this.connector) this.connector.setWeights(tensors);
    else if (tensors.length) throw new Error(`term '${this.name}': checkpoint has ${tensors.length} tensors, the term has none`);
  }

  dispose(): void {
    this.connector?.dispose();
  }
}

/**
 * Static check of term configs without networks: methods exist, option names are known to the
 * method, aligner names are valid. Values are checked by the losses when `buildTerms` dry-runs them.
 */
export function checkTermOptions(configs: TermConfig[], where = 'terms'): void {
  const valid = validateTermConfigs(configs, where);
  valid.forEach((c, i) => {
    const at = `${where}[${i}] (${c.method}@${c.on})`;
    if (c.method === 'holistic') {
      for (const k of Object.keys(c)) {
        if (!TERM_KEYS.includes(k) && !HOLISTIC_OPTION_KEYS.includes(k)) throw new Error(`${at}: unknown option '${k}' for method 'holistic' (options: ${HOLISTIC_OPTION_KEYS.join(', ')})`);
      }
      if (c.on !== 'logits') throw new Error(`${at}: the holistic term discriminates score maps: use on: "logits"`);
      return;
    }
    if (!LOSS_NAMES.includes(c.method as never)) throw new Error(`${at}: unknown method '${c.method}'; valid: ${termMethods().join(', ')}`);
    const defaults = getLoss(c.method).defaultConfig() as Record<string, unknown>;
    for (const k of Object.keys(c)) {
      if (TERM_KEYS.includes(k)) continue;
      if (!(k in defaults) || k === 'labels') {
        throw new Error(`${at}: unknown option '${k}' for method '${c.method}' (options: ${Object.keys(defaults).filter((x) => x !== 'labels').join(', ') || 'none'})`);
      }
    }
    if (c.aligner !== undefined && c.aligner !== 'none' && !(CONNECTOR_TYPES as readonly string[]).includes(String(c.aligner))) {
      throw new Error(`${at}: aligner must be one of none, ${CONNECTOR_TYPES.join(', ')}; got '${String(c.aligner)}'`);
    }
  });
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
    valid.forEach((c, i) => {
      if (c.method === 'holistic') {
        for (const k of Object.keys(c)) {
          if (!TERM_KEYS.includes(k) && !HOLISTIC_OPTION_KEYS.includes(k)) {
            throw new Error(`term '${names[i]}': unknown option '${k}' for method 'holistic' (options: ${HOLISTIC_OPTION_KEYS.join(', ')})`);
          }
        }
        if (c.on !== 'logits') throw new Error(`term '${names[i]}': the holistic term discriminates score maps: use on: "logits"`);
        terms.push(new HolisticTerm(names[i], c, { numClasses: ctx.student.config.numClasses, seed: hashInts([ctx.seed, 0xd15c, i]) }));
        return;
      }
      if (!LOSS_NAMES.includes(c.method as never)) {
        throw new Error(`terms[${i}]: unknown method '${c.method}'; valid: ${termMethods().join(', ')}`);
      }
      terms.push(new RegistryTerm(names[i], c, ctx, i));
    });
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
