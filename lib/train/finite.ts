/**
 * Finite-value checks of training state: a checkpoint, an export or a model package never holds NaN
 * or Infinity. Values are read on the CPU (one pass over each tensor), which costs far less than a
 * training step.
 */
import * as tf from '@tensorflow/tfjs';

export interface NonFiniteReport {
  /** Non-finite values in all tensors. */
  count: number;
  /** All values. */
  total: number;
  /** The tensors with non-finite values (name, count, size), in the order given. */
  tensors: { name: string; count: number; size: number }[];
}

/** Count NaN / ±Infinity values in named tensors (float tensors only; int and bool are always finite). */
export function countNonFinite(named: { name: string; tensor: tf.Tensor }[]): NonFiniteReport {
  const r: NonFiniteReport = { count: 0, total: 0, tensors: [] };
  for (const { name, tensor } of named) {
    r.total += tensor.size;
    if (tensor.dtype !== 'float32') continue;
    const v = tensor.dataSync() as Float32Array;
    let bad = 0;
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i])) bad++;
    if (bad > 0) {
      r.count += bad;
      r.tensors.push({ name, count: bad, size: tensor.size });
    }
  }
  return r;
}

/** Every weight of a model, trainable or not (BatchNorm moving statistics included), by its original name. */
export function modelWeightTensors(model: tf.LayersModel): { name: string; tensor: tf.Tensor }[] {
  return model.weights.map((w) => ({ name: w.originalName, tensor: w.read() }));
}

/** "868760 of 869995 values of <what> are not finite (NaN/Infinity), in 92 tensors (first: conv1/kernel 1728 of 1728)". */
export function describeNonFinite(r: NonFiniteReport, what: string): string {
  const first = r.tensors[0];
  return `${r.count} of ${r.total} values of ${what} are not finite (NaN/Infinity), in ${r.tensors.length} tensor(s)`
    + (first ? ` (first: ${first.name}, ${first.count} of ${first.size})` : '');
}

/** Throw when any weight of `model` is not finite, naming `what` and the first bad tensor. */
export function assertFiniteModel(model: tf.LayersModel, what: string, hint = ''): void {
  const r = countNonFinite(modelWeightTensors(model));
  if (r.count > 0) throw new Error(`${describeNonFinite(r, what)}${hint ? `: ${hint}` : ''}`);
}
