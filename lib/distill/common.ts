/**
 * Shared helpers of the distillation losses: input validation, the teacher gradient stop, numerically
 * safe square roots and the two softmax normalisations of the paper (Eq. 3 and the pixel-wise one).
 *
 * Layout: every tensor is NHWC, `[N, H, W, C]`. Source code of the reference implementations is NCHW.
 */
import * as tf from '@tensorflow/tfjs';

/** Format a shape for an error message: `[2,8,8,19]`. */
export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** Throw unless `x` is a rank-4 NHWC tensor. `what` names the argument in the message. */
export function assertRank4(x: tf.Tensor, what: string, loss: string): void {
  if (!(x instanceof tf.Tensor)) {
    throw new Error(`${loss}: ${what} must be a tf.Tensor4D [N,H,W,C], got ${x === null ? 'null' : typeof x}`);
  }
  if (x.rank !== 4) {
    throw new Error(`${loss}: ${what} must be rank 4 [N,H,W,C] (NHWC), got rank ${x.rank} with shape ${shapeStr(x.shape)}`);
  }
  if (x.dtype !== 'float32') {
    throw new Error(`${loss}: ${what} must be float32, got ${x.dtype}`);
  }
}

/**
 * Validate a (student, teacher) pair.
 * `sameChannels`: the loss compares channel c of the student with channel c of the teacher (CWD, PI, L2,
 * …), so the channel counts must match; a mismatch is an error with a hint at the 1×1 aligner.
 * Losses that only compare per-pixel scalars or pixel-pair matrices (AT, PA, LOCAL, IFVD) pass false.
 */
export function checkPair(
  student: tf.Tensor, teacher: tf.Tensor, loss: string, sameChannels: boolean,
): void {
  assertRank4(student, 'student', loss);
  assertRank4(teacher, 'teacher', loss);
  const [ns, hs, ws, cs] = student.shape;
  const [nt, ht, wt, ct] = teacher.shape;
  if (ns !== nt || hs !== ht || ws !== wt) {
    throw new Error(
      `${loss}: student ${shapeStr(student.shape)} and teacher ${shapeStr(teacher.shape)} must have the same `
      + `batch and spatial size [N,H,W,·]; resize one of them (e.g. tf.image.resizeBilinear on the student) first`,
    );
  }
  if (sameChannels && cs !== ct) {
    throw new Error(
      `${loss}: student ${shapeStr(student.shape)} has ${cs} channels but teacher ${shapeStr(teacher.shape)} has ${ct}; `
      + `map the student to the teacher's channels with an aligner first, e.g. `
      + `new Conv1x1Aligner({inChannels: ${cs}, outChannels: ${ct}}).apply(student)`,
    );
  }
}

/** Throw unless `t` is a finite number > 0. */
export function checkTemperature(t: unknown, loss: string, name = 'temperature'): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) {
    throw new Error(`${loss}: option ${name} must be a finite number > 0, got ${String(t)}`);
  }
  return t;
}

/** Throw when `options` has a key that the loss does not know (catches typos such as `temprature`). */
export function checkOptionKeys(options: object | undefined, known: readonly string[], loss: string): void {
  if (!options) return;
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) {
      throw new Error(`${loss}: unknown option '${k}'; valid options: ${known.join(', ') || '(none)'}`);
    }
  }
}

/**
 * Identity in the forward pass, zero gradient in the backward pass (PyTorch `.detach()`).
 * tfjs-core 4.22 has no stopGradient op, so it is a tf.customGrad. Every loss passes the teacher through
 * it: `tf.grad(t => loss(s, t))(t)` is an all-zero tensor, never an error, and the teacher network
 * never receives gradient even if someone differentiates w.r.t. its variables.
 */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  ((x: tf.Tensor) => ({ value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) })) as any,
) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * `sqrt(x)` for x ≥ 0 with the gradient defined as 0 where x == 0 (PyTorch's `norm` backward at 0),
 * instead of the +Inf/NaN of `tf.sqrt`. Used for Euclidean norms of feature vectors that can be all-zero
 * (ReLU features) or distances between identical neighbours.
 */
export const safeSqrt: (x: tf.Tensor) => tf.Tensor = tf.customGrad(
  ((x: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.sqrt(x);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [r] = saved;
        const positive = tf.greater(r, 0);
        const safe = tf.where(positive, r, tf.onesLike(r));
        return tf.where(positive, tf.div(dy, tf.mul(safe, 2)), tf.zerosLike(dy));
      },
    };
  }) as any,
) as unknown as (x: tf.Tensor) => tf.Tensor;

/**
 * Channel normalisation of the paper (Eq. 3): log of the softmax over the H·W positions of each
 * channel of x/T. Input NHWC `[N,H,W,C]`, output `[N, C, H·W]` (one distribution per row).
 */
export function logSoftmaxOverSpace(x: tf.Tensor4D, temperature: number): tf.Tensor3D {
  const [n, h, w, c] = x.shape;
  const rows = tf.transpose(tf.reshape(x, [n, h * w, c]), [0, 2, 1]) as tf.Tensor3D;
  return tf.logSoftmax(temperature === 1 ? rows : tf.div(rows, temperature)) as tf.Tensor3D;
}

/**
 * Spatial (pixel-wise) normalisation: log of the softmax over the C channels at each pixel of x/T.
 * Input `[N,H,W,C]`, output `[N·H·W, C]`.
 */
export function logSoftmaxOverChannels(x: tf.Tensor4D, temperature: number): tf.Tensor2D {
  const [n, h, w, c] = x.shape;
  const rows = tf.reshape(x, [n * h * w, c]) as tf.Tensor2D;
  return tf.logSoftmax(temperature === 1 ? rows : tf.div(rows, temperature)) as tf.Tensor2D;
}

/** Σ p_t (log p_t − log p_s) over every element, from the two log-distributions (teacher first). */
export function klSum(logPt: tf.Tensor, logPs: tf.Tensor): tf.Scalar {
  return tf.sum(tf.mul(tf.exp(logPt), tf.sub(logPt, logPs)));
}

/**
 * log Σ exp(x) along `axis` (dropped), stable (max shift), as one custom op whose gradient is
 * dy · softmax(x). Same value and gradient as tf.logSumExp, whose backward pass also differentiates the
 * max shift (an Equal mask that costs ~10× the rest on wasm).
 */
export function logSumExpFast(x: tf.Tensor, axis: number): tf.Tensor {
  const ax = axis < 0 ? x.rank + axis : axis;
  const op = tf.customGrad(((input: tf.Tensor, save: tf.GradSaveFunc) => {
    const m = tf.max(input, ax, true);
    const lse = tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(input, m)), ax, true)));
    save([input, lse]);
    return {
      value: tf.squeeze(lse, [ax]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, l] = saved;
        return tf.mul(tf.expandDims(dy, ax), tf.exp(tf.sub(xs, l)));
      },
    };
  }) as any);
  return op(x) as tf.Tensor;
}

/**
 * Σ over rows of the Bhattacharyya distance −ln Σ_i √(p_s,i · p_t,i), computed as
 * −logSumExp(½(log p_s + log p_t)) along `axis` (stable for any magnitude).
 */
export function bhattacharyyaSum(logPt: tf.Tensor, logPs: tf.Tensor, axis: number): tf.Scalar {
  return tf.neg(tf.sum(logSumExpFast(tf.mul(tf.add(logPt, logPs), 0.5), axis))) as tf.Scalar;
}
