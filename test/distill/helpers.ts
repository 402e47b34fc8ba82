/** Shared helpers of the distill tests (not a test file: no `.test.ts`). */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';

export interface GoldenInput { shape: number[]; data: number[] }
export interface GoldenCase {
  name: string; loss: string; options: Record<string, unknown>; student: string; teacher: string;
  value: number; grad_student: number[]; grad_kernel?: number[]; grad_bias?: number[];
  pooled_student?: number[]; pooled_shape?: number[]; resized_labels?: number[];
}
export interface Golden { inputs: Record<string, GoldenInput>; cases: GoldenCase[]; naive_softmax_log_cwd_large_T1_float32: string }

export function loadGolden(): Golden {
  const file = path.join(__dirname, '..', 'fixtures', 'distill', 'golden.json');
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Golden;
}

export function inputTensor(g: Golden, name: string, dtype: 'float32' | 'int32' = 'float32'): tf.Tensor {
  const inp = g.inputs[name];
  if (!inp) throw new Error(`golden.json has no input '${name}'`);
  return tf.tensor(inp.data, inp.shape, dtype);
}

/** max |a − b| / max(max |b|, floor). */
export function relMaxError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-12): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Deterministic pseudo-random normal tensor (Box-Muller on a LCG), independent of the tf seed machinery. */
export function seededNormal(shape: number[], seed: number, scale = 1, offset = 0): tf.Tensor4D {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    data[i] = offset + scale * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
  }
  const x: tf.Tensor = tf.tensor(data, shape, 'float32');
  return x as tf.Tensor4D;
}
