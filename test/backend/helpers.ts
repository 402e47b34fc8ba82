/** Shared helpers for the backend tests: run the same computation on two backends and compare. */
import * as tf from '@tensorflow/tfjs';
import { patchCpuBackend, startWasmBackend } from '../../lib/backend/index';

let ready: Promise<void> | null = null;

/** Start wasm (threads as lib/backend chooses) and patch cpu, once per process. */
export function backendsReady(): Promise<void> {
  ready ??= (async () => {
    const previous = tf.getBackend();
    if (!(await startWasmBackend())) throw new Error('the wasm backend did not start');
    patchCpuBackend();
    if (previous) await tf.setBackend(previous);
  })();
  return ready;
}

/** Run `fn` on `backend` with fresh tensors, return the values of its outputs as plain arrays. */
export async function runOn(backend: string, fn: () => tf.Tensor | tf.Tensor[]): Promise<{ shape: number[]; values: Float32Array }[]> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    const outs = tf.tidy(fn);
    const list = Array.isArray(outs) ? outs : [outs];
    const res = list.map((t) => ({ shape: t.shape.slice(), values: Float32Array.from(t.dataSync()) }));
    tf.dispose(list);
    return res;
  } finally {
    await tf.setBackend(previous);
  }
}

/** Deterministic pseudo-random values in [-1, 1) (no backend involved). */
export function randomValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = (s / 4294967296) * 2 - 1;
  }
  return out;
}

export function rand(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(randomValues(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** max |a-b| / max(|b|max, tiny) */
export function relMaxDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / Math.max(m, 1e-12);
}

/** Expand a [KH,KW,...] filter with zeros so that a non-dilated conv equals the dilated one. */
export function dilateFilter(w: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [kh, kw, a, b] = w.shape;
  const ekh = (kh - 1) * dh + 1;
  const ekw = (kw - 1) * dw + 1;
  const rows = tf.pad(w.reshape([kh, 1, kw, 1, a, b]), [[0, 0], [0, dh - 1], [0, 0], [0, dw - 1], [0, 0], [0, 0]])
    .reshape([kh * dh, kw * dw, a, b]);
  return tf.slice(rows, [0, 0, 0, 0], [ekh, ekw, a, b]) as tf.Tensor4D;
}

/** Inverse of dilateFilter for a gradient: keep the taps of the original filter. */
export function undilateFilter(g: tf.Tensor4D, kh: number, kw: number, dh: number, dw: number): tf.Tensor4D {
  const [, , a, b] = g.shape;
  return tf.stridedSlice(g, [0, 0, 0, 0], [(kh - 1) * dh + 1, (kw - 1) * dw + 1, a, b], [dh, dw, 1, 1]) as tf.Tensor4D;
}
