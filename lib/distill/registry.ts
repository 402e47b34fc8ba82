/**
 * The method registry: the list of every distillation method's descriptor (descriptor.ts), one entry
 * per loss file. A term config or a preset names a method by its descriptor's `name`.
 * To add a loss, see "Adding a loss" in lib/distill/README.md.
 *
 * - `DISTILLATION_METHODS`: every descriptor, in this order (listings, errors, the bench);
 * - `getMethod(name)`: any method, the stateful holistic term included;
 * - `getLoss(name)`, `LOSS_NAMES`, `distillationLosses`: the losses that are functions of two maps.
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { getLoss, computeLoss } = require('./lib/distill');
 *   const cwd = getLoss('cwd');                                   // unknown names throw, listing the valid ones
 *   const options = { ...cwd.defaultConfig(), temperature: 3 };   // { temperature: 3 }
 *   const student = tf.randomNormal([2, 8, 8, 16]), teacher = tf.randomNormal([2, 8, 8, 16]);
 *   cwd.fn(student, teacher, options).print();                    // tf.Scalar
 *   computeLoss('pa', student, teacher, {scale: 0.5}).print();
 */
import type * as tf from '@tensorflow/tfjs';
import { atLoss } from './attention-transfer';
import { bhattacharyyaLoss } from './bhattacharyya';
import { channelMeanMseLoss } from './channel-mean-mse';
import { channelMseLoss } from './channel-norm-mse';
import { cwdLoss } from './cwd';
import type { LossDescriptor, MethodDescriptor } from './descriptor';
import { holisticLoss } from './holistic';
import { ifvdLoss } from './ifvd';
import { localLoss } from './local-affinity';
import { mseLoss } from './mse';
import { spatialBhattacharyyaLoss, spatialMseLoss } from './normalized-divergence';
import { paLoss } from './pairwise-affinity';
import { piLoss, spatialKLLoss } from './pixelwise';

/** Every distillation method, one descriptor per loss file. */
export const DISTILLATION_METHODS = [
  cwdLoss,
  piLoss,
  spatialKLLoss,
  atLoss,
  localLoss,
  paLoss,
  ifvdLoss,
  mseLoss,
  channelMseLoss,
  spatialMseLoss,
  bhattacharyyaLoss,
  spatialBhattacharyyaLoss,
  channelMeanMseLoss,
  holisticLoss,
] as const;

type Losses = Extract<(typeof DISTILLATION_METHODS)[number], { kind: 'loss' }>;
/** Names of the losses that are functions of two maps. */
export type LossName = Losses['name'];
/** Options type of each such loss. */
export type LossOptionsMap = { [D in Losses as D['name']]: D extends LossDescriptor<string, infer O> ? O : never };
/** A registered loss (the descriptor of a function of two maps). */
export type DistillationLoss<O> = LossDescriptor<LossName, O>;

/** Names of every method a term config accepts. */
export const METHOD_NAMES: string[] = DISTILLATION_METHODS.map((d) => d.name);

/** Every loss that is a function of two maps, by name. */
export const distillationLosses = Object.fromEntries(
  DISTILLATION_METHODS.filter((d) => d.kind === 'loss').map((d) => [d.name, d]),
) as { [K in LossName]: DistillationLoss<LossOptionsMap[K]> };

export const LOSS_NAMES = Object.keys(distillationLosses) as LossName[];

const has = (o: object, k: string) => Object.prototype.hasOwnProperty.call(o, k);

/** Any method by name (the stateful holistic term included); an unknown name is an error listing the valid ones. */
export function getMethod(name: string): MethodDescriptor {
  const d = DISTILLATION_METHODS.find((m) => m.name === name);
  if (!d) throw new Error(`unknown distillation method '${name}'; valid: ${METHOD_NAMES.join(', ')}`);
  return d as MethodDescriptor;
}

/** Look a loss up by name; an unknown name is an error listing the valid ones. */
export function getLoss<K extends LossName>(name: K): DistillationLoss<LossOptionsMap[K]>;
export function getLoss(name: string): DistillationLoss<unknown>;
export function getLoss(name: string): DistillationLoss<unknown> {
  if (!has(distillationLosses, name)) {
    throw new Error(`unknown distillation loss '${name}'; valid names: ${LOSS_NAMES.join(', ')}`);
  }
  return distillationLosses[name as LossName] as unknown as DistillationLoss<unknown>;
}

/**
 * Evaluate a loss by name: `computeLoss('cwd', s, t, {temperature: 4})`; missing options take the defaults.
 */
export function computeLoss<K extends LossName>(
  name: K, student: tf.Tensor4D, teacher: tf.Tensor4D, options?: LossOptionsMap[K],
): tf.Scalar {
  return getLoss(name).fn(student, teacher, options);
}
