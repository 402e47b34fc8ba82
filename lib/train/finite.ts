/**
 * Finite-value checks of training state: a checkpoint, an export or a model package never holds NaN
 * or Infinity. Values are read asynchronously (no synchronous reads: webgpu has none in Node), one
 * pass over each tensor, which costs far less than a training step. `nonFiniteStored` checks weights
 * as stored in a file (float32, float16 or uint8), before any tensor exists.
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
export async function countNonFinite(named: { name: string; tensor: tf.Tensor }[]): Promise<NonFiniteReport> {
  const r: NonFiniteReport = { count: 0, total: 0, tensors: [] };
  for (const { name, tensor } of named) {
    r.total += tensor.size;
    if (tensor.dtype !== 'float32') continue;
    const v = (await tensor.data()) as Float32Array;
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
export async function assertFiniteModel(model: tf.LayersModel, what: string, hint = ''): Promise<void> {
  const r = await countNonFinite(modelWeightTensors(model));
  if (r.count > 0) throw new Error(`${describeNonFinite(r, what)}${hint ? `: ${hint}` : ''}`);
}

/**
 * Non-finite values of weights as stored (a weights manifest + its bytes): float32 values, float16 bit
 * patterns with an all-ones exponent, or a uint8 entry whose scale/min is not finite.
 */
export function nonFiniteStored(specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer): NonFiniteReport {
  const r: NonFiniteReport = { count: 0, total: 0, tensors: [] };
  let offset = 0;
  for (const spec of specs) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    r.total += n;
    let bad = 0;
    const q = spec.quantization;
    if (q && q.dtype === 'float16') {
      const v = new Uint16Array(data.slice(offset, offset + 2 * n));
      for (let i = 0; i < n; i++) if ((v[i] & 0x7c00) === 0x7c00) bad++;
      offset += 2 * n;
    } else if (q) {
      if (!Number.isFinite(q.scale ?? 0) || !Number.isFinite(q.min ?? 0)) bad = n;
      offset += (q.dtype === 'uint16' ? 2 : 1) * n;
    } else if (spec.dtype === 'float32') {
      const v = new Float32Array(data.slice(offset, offset + 4 * n));
      for (let i = 0; i < n; i++) if (!Number.isFinite(v[i])) bad++;
      offset += 4 * n;
    } else {
      offset += (spec.dtype === 'bool' ? 1 : 4) * n;
    }
    if (bad) {
      r.count += bad;
      r.tensors.push({ name: spec.name, count: bad, size: n });
    }
  }
  return r;
}
