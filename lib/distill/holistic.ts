/**
 * The holistic (adversarial) term of Structured KD (Liu et al., CVPR 2019, "HO" in CWD Table 2),
 * trained with WGAN-GP as SKD/TorchDistiller/IFVD do (SKD `utils/criterion.py`
 * CriterionAdv + CriterionAdditionalGP, TorchDistiller and IFVD the same):
 *
 *   critic:    L_D = λ_d · ( mean D(S) − mean D(T) + λ_gp · E[(‖∇_x̂ D(x̂)‖₂ − 1)²] ),
 *              x̂ = α·T + (1−α)·S, α ~ U(0,1) per sample;
 *   student:   L_G = −mean D(S)   (multiplied by the term weight λ_adv of Eq. 1).
 *
 * D is a small fully-convolutional critic: three 4×4 stride-2 convs (LeakyReLU 0.1) and a 3×3 conv
 * to a score map, averaged. Deviations from SKD's SAGAN critic, chosen for a CPU: no spectral norm
 * (WGAN-GP does not need it), no self-attention blocks, and D sees the class-probability map
 * softmax(logits) instead of BatchNorm-preprocessed logits (optionally concatenated with the image
 * resized to the logits size: `withImage: true`). D has its own Adam optimiser (4e-4, β = (0.9, 0.99),
 * as TorchDistiller/CIRKD) and is updated once per student step on the detached student output.
 */
import * as tf from '@tensorflow/tfjs';
import { hashInts, Rng } from '../rng';
import { defineStatefulLoss, StatefulContext, StatefulLoss, TermInputs, TermOptimizer } from './descriptor';

export interface HolisticOptions {
  /** λ_gp of the gradient penalty (WGAN-GP: 10). */
  lambdaGP: number;
  /** λ_d, the critic loss weight (TorchDistiller/IFVD: 0.1). */
  discWeight: number;
  /** Learning rate of the critic's Adam (4e-4). */
  discLR: number;
  /** Width of the first critic conv (doubles per stride-2 conv). */
  discChannels: number;
  /** Concatenate the (resized) image to the score map, as the paper describes D. */
  withImage: boolean;
}

export function defaultHolisticOptions(): HolisticOptions {
  return { lambdaGP: 10, discWeight: 0.1, discLR: 4e-4, discChannels: 32, withImage: false };
}

let counter = 0;

/**
 * The critic D as plain variables (no tf.layers, so checkpointing is a tensor list).
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { Discriminator } = require('./lib/distill');
 *   const logits = tf.randomNormal([2, 16, 16, 19]);
 *   const d = new Discriminator(19, {channels: 16, seed: 1});
 *   d.score(tf.softmax(logits)).print();   // [N] critic values
 *   d.dispose();
 */
export class Discriminator {
  readonly variables: tf.Variable[];
  constructor(readonly inChannels: number, readonly o: { channels: number; seed: number }) {
    const c = o.channels;
    const shapes: [number, number, number, number][] = [
      [4, 4, inChannels, c], [4, 4, c, 2 * c], [4, 4, 2 * c, 4 * c], [3, 3, 4 * c, 1],
    ];
    const id = ++counter;
    this.variables = [];
    shapes.forEach((s, i) => {
      const fanIn = s[0] * s[1] * s[2];
      this.variables.push(tf.variable(tf.randomNormal(s, 0, Math.sqrt(2 / fanIn), 'float32', hashInts([o.seed, i])), true, `holistic_D${id}_w${i}`));
      this.variables.push(tf.variable(tf.zeros([s[3]]), true, `holistic_D${id}_b${i}`));
    });
  }

  /** Critic value per sample, [N]. */
  score(x: tf.Tensor4D): tf.Tensor1D {
    return tf.tidy(() => {
      let h: tf.Tensor4D = x;
      for (let i = 0; i < 4; i++) {
        const w = this.variables[2 * i] as tf.Tensor4D;
        const b = this.variables[2 * i + 1];
        h = tf.add(tf.conv2d(h, w, i < 3 ? 2 : 1, 'same'), b) as tf.Tensor4D;
        // LeakyReLU(0.1) written as 0.55·x + 0.45·|x|: tf.leakyRelu's gradient uses Greater, which has
        // no gradient itself, so the gradient penalty (a second derivative) could not go through it.
        if (i < 3) h = tf.add(tf.mul(h, 0.55), tf.mul(tf.abs(h), 0.45)) as tf.Tensor4D;
      }
      return tf.mean(h, [1, 2, 3]) as tf.Tensor1D;
    });
  }

  dispose(): void {
    this.variables.forEach((v) => v.dispose());
  }
}

/**
 * The state of one holistic term: the critic D and its own Adam. `stateTensors()` is
 * [D's variables (w0, b0, …, w3, b3), then the Adam slots], the order checkpoints store.
 */
export class HolisticCritic implements StatefulLoss {
  readonly options: HolisticOptions;
  readonly discriminator: Discriminator;
  readonly discOptimizer: TermOptimizer;

  constructor(options: HolisticOptions, ctx: StatefulContext) {
    const o = options as HolisticOptions & Record<string, unknown>;
    const name = ctx.name;
    const pos = (k: 'lambdaGP' | 'discWeight' | 'discLR' | 'discChannels') => {
      if (typeof o[k] !== 'number' || !(o[k] >= 0) || !Number.isFinite(o[k])) throw new Error(`term '${name}': ${k} must be a number >= 0, got ${JSON.stringify(o[k])}`);
    };
    pos('lambdaGP'); pos('discWeight'); pos('discLR'); pos('discChannels');
    if (!Number.isInteger(o.discChannels) || o.discChannels < 1) throw new Error(`term '${name}': discChannels must be an integer >= 1`);
    if (typeof o.withImage !== 'boolean') throw new Error(`term '${name}': withImage must be true or false`);
    this.options = options;
    this.discriminator = new Discriminator(ctx.inChannels + (o.withImage ? 3 : 0), { channels: o.discChannels, seed: ctx.seed });
    this.discOptimizer = ctx.optimizer(this.discriminator.variables, { type: 'adam', beta1: 0.9, beta2: 0.99, weightDecay: 0 });
  }

  /** D's input for a score map: softmax over classes (+ the image resized to the map). */
  private input(logits: tf.Tensor4D, images: tf.Tensor4D): tf.Tensor4D {
    const p = tf.softmax(logits);
    if (!this.options.withImage) return p;
    const img = tf.image.resizeBilinear(images, [logits.shape[1], logits.shape[2]], false);
    return tf.concat([p, img], -1);
  }

  /** L_G = −mean D(S): the student tries to raise its critic score. */
  compute(x: TermInputs): tf.Scalar {
    return tf.neg(tf.mean(this.discriminator.score(this.input(x.student, x.images)))) as tf.Scalar;
  }

  /**
   * One critic update with gradient penalty, on detached maps. Returns the critic loss, the
   * Wasserstein estimate mean D(T) − mean D(S) and the penalty, as scalar tensors the caller reads
   * asynchronously and disposes (no synchronous read: webgpu has none in Node).
   */
  criticStep(student: tf.Tensor4D, teacher: tf.Tensor4D, images: tf.Tensor4D, alphaSeed: number): Record<string, tf.Scalar> {
    const { lambdaGP, discWeight, discLR } = this.options;
    const D = this.discriminator;
    return tf.tidy(() => {
      const xs = this.input(student, images);
      const xt = this.input(teacher, images);
      const n = xs.shape[0];
      const alpha = tf.randomUniform([n, 1, 1, 1], 0, 1, 'float32', alphaSeed);
      const xhat = tf.add(tf.mul(alpha, xt), tf.mul(tf.sub(1, alpha), xs)) as tf.Tensor4D;
      let parts: tf.Tensor | null = null;
      const { grads } = tf.variableGrads(() => {
        const ds = tf.mean(D.score(xs));
        const dt = tf.mean(D.score(xt));
        const gx = tf.grad((x: tf.Tensor) => tf.sum(D.score(x as tf.Tensor4D)))(xhat);
        const norm = tf.sqrt(tf.add(tf.sum(tf.square(gx), [1, 2, 3]), 1e-12));
        const gp = tf.mean(tf.square(tf.sub(norm, 1)));
        const loss = tf.mul(tf.add(tf.sub(ds, dt), tf.mul(gp, lambdaGP)), discWeight) as tf.Scalar;
        parts = tf.keep(tf.stack([loss, tf.sub(dt, ds), gp]));
        return loss;
      }, D.variables);
      this.discOptimizer.apply(D.variables.map((v) => grads[v.name]), discLR);
      const [loss, wdist, gp] = tf.unstack(parts as unknown as tf.Tensor) as tf.Scalar[];
      (parts as unknown as tf.Tensor).dispose();   // kept past variableGrads' tidy: free it here
      return { d_loss: loss, wasserstein: wdist, gp };
    });
  }

  afterStudentStep(x: TermInputs, step: number, seed: number): Record<string, tf.Scalar> {
    return this.criticStep(x.student, x.teacher, x.images, new Rng(hashInts([seed, step, 0x6a7])).seed());
  }

  stateTensors(): tf.Tensor[] {
    return [...this.discriminator.variables, ...this.discOptimizer.stateTensors()];
  }

  stateIterations(): number[] {
    return [this.discOptimizer.iterations];
  }

  setState(tensors: tf.Tensor[], iterations: number[]): void {
    const nv = this.discriminator.variables.length;
    if (tensors.length !== nv + this.discOptimizer.stateTensors().length) {
      throw new Error(`checkpoint has ${tensors.length} tensors, the critic needs ${nv + this.discOptimizer.stateTensors().length}`);
    }
    this.discriminator.variables.forEach((v, i) => v.assign(tensors[i]));
    this.discOptimizer.setState(tensors.slice(nv), iterations[0] ?? 0);
  }

  dispose(): void {
    this.discriminator.dispose();
    this.discOptimizer.dispose();
  }
}

export const holisticLoss = defineStatefulLoss({
  name: 'holistic', defaultConfig: defaultHolisticOptions,
  description: 'holistic (adversarial) term: a WGAN-GP critic on softmax score maps, the student raises its score',
  source: 'Liu et al. CVPR 2019 (SKD) Eq. 5-6; CWD Table 2 HO', needsSameChannels: false, needsLabels: false,
  referenceWeight: { value: 0.1, source: 'SKD λ_ho = 0.1 (critic λ_d = 0.1, TorchDistiller/IFVD)' },
  tap: { on: 'logits', why: 'the holistic term discriminates score maps' },
  create: (options, ctx) => new HolisticCritic(options, ctx),
});
