/**
 * Optimisers written out in full so that their state is a plain list of tensors that checkpoints
 * save and restore exactly, and so that the learning rate can follow any schedule per step.
 *
 * - SGD with momentum (PyTorch semantics, the paper's optimiser): g ← ∇ + wd·w; v ← μ·v + g; w ← w − lr·v.
 * - Adam (PyTorch `Adam` semantics, L2 weight decay added to the gradient).
 */
import * as tf from '@tensorflow/tfjs';

/** Backend kernel of one variable's update (lib/backend/native.ts registers it for wasm with the native addon). */
const UPDATE_KERNEL = 'CwdOptimizerUpdate';

export interface OptimizerConfig {
  type: 'sgd' | 'adam';
  /** SGD momentum μ (paper: 0.9). */
  momentum: number;
  /** L2 weight decay (paper/mmseg: 5e-4). */
  weightDecay: number;
  /** Adam β1, β2, ε. */
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** Paper defaults: SGD, momentum 0.9, weight decay 5e-4. */
export function defaultOptimizerConfig(): OptimizerConfig {
  return { type: 'sgd', momentum: 0.9, weightDecay: 5e-4, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 };
}

/**
 * Applies gradients to a fixed, ordered list of variables. The slot tensors are kept per variable
 * index (not name: TF.js renames variables when a model is built twice in one process).
 * @example
 *   const w = tf.variable(tf.ones([2]));
 *   const opt = new Optimizer([w], {...defaultOptimizerConfig(), weightDecay: 0});
 *   opt.apply([tf.ones([2])], 0.1);   // w = [0.9, 0.9]
 */
export class Optimizer {
  readonly config: OptimizerConfig;
  readonly variables: tf.Variable[];
  /** Number of updates applied so far (Adam bias correction). */
  iterations = 0;
  private slots: tf.Variable[][];

  constructor(variables: tf.Variable[], config: Partial<OptimizerConfig> = {}) {
    this.config = { ...defaultOptimizerConfig(), ...config };
    if (this.config.type !== 'sgd' && this.config.type !== 'adam') {
      throw new Error(`optimizer.type must be 'sgd' or 'adam', got '${this.config.type}'`);
    }
    this.variables = variables;
    const nSlots = this.config.type === 'sgd' ? 1 : 2;
    this.slots = variables.map((v) =>
      Array.from({ length: nSlots }, () => tf.variable(tf.zerosLike(v), false)),
    );
  }

  /** Apply one update with learning rate `lr`; `grads[i]` belongs to `variables[i]`. Does not dispose grads. */
  apply(grads: tf.Tensor[], lr: number): void {
    if (grads.length !== this.variables.length) {
      throw new Error(`Optimizer.apply: ${grads.length} gradients for ${this.variables.length} variables`);
    }
    const c = this.config;
    this.iterations += 1;
    const t = this.iterations;
    if (tf.getKernel(UPDATE_KERNEL, tf.getBackend())) {
      this.applyKernel(grads, lr, t);
      return;
    }
    tf.tidy(() => {
      const lrT = tf.scalar(lr);
      for (let i = 0; i < this.variables.length; i++) {
        const w = this.variables[i];
        let g = grads[i];
        if (!g) continue;
        if (c.weightDecay > 0) g = tf.add(g, tf.mul(w, c.weightDecay));
        if (c.type === 'sgd') {
          const v = this.slots[i][0];
          const vNew = c.momentum > 0 ? tf.add(tf.mul(v, c.momentum), g) : g;
          if (c.momentum > 0) v.assign(vNew);
          w.assign(tf.sub(w, tf.mul(vNew, lrT)));
        } else {
          const [m, s] = this.slots[i];
          const mNew = tf.add(tf.mul(m, c.beta1), tf.mul(g, 1 - c.beta1));
          const sNew = tf.add(tf.mul(s, c.beta2), tf.mul(tf.square(g), 1 - c.beta2));
          m.assign(mNew);
          s.assign(sNew);
          const mHat = tf.div(mNew, 1 - Math.pow(c.beta1, t));
          const sHat = tf.div(sNew, 1 - Math.pow(c.beta2, t));
          w.assign(tf.sub(w, tf.mul(lrT, tf.div(mHat, tf.add(tf.sqrt(sHat), c.epsilon)))));
        }
      }
    });
  }

  /**
   * The same update as one backend kernel per variable (lib/backend's native `CwdOptimizerUpdate` on
   * wasm: new w and slots in one pass instead of ~6 (SGD) or ~14 (Adam) element-wise ops).
   */
  private applyKernel(grads: tf.Tensor[], lr: number, t: number): void {
    const c = this.config;
    const attrs = {
      type: c.type, lr, momentum: c.momentum, weightDecay: c.weightDecay, beta1: c.beta1, beta2: c.beta2, epsilon: c.epsilon,
      biasCorrection1: 1 - Math.pow(c.beta1, t), biasCorrection2: 1 - Math.pow(c.beta2, t),
    };
    for (let i = 0; i < this.variables.length; i++) {
      const g = grads[i];
      if (!g) continue;
      const w = this.variables[i];
      const [m, s] = this.slots[i];
      const outs = tf.engine().runKernel(UPDATE_KERNEL, c.type === 'adam' ? { w, g, m, s } : { w, g, m }, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      w.assign(outs[0]);
      if (c.type === 'adam' || c.momentum > 0) m.assign(outs[1]);
      if (c.type === 'adam') s.assign(outs[2]);
      tf.dispose(outs);
    }
  }

  /** The slot tensors in a fixed order (for checkpoints). */
  stateTensors(): tf.Tensor[] {
    return this.slots.flat();
  }

  /** Restore slots saved by `stateTensors()` (same variable list, same order). */
  setState(tensors: tf.Tensor[], iterations: number): void {
    const flat = this.slots.flat();
    if (tensors.length !== flat.length) {
      throw new Error(`Optimizer.setState: checkpoint has ${tensors.length} slot tensors, this optimizer has ${flat.length} (different model or optimizer type?)`);
    }
    flat.forEach((v, i) => {
      if (v.shape.join(',') !== tensors[i].shape.join(',')) {
        throw new Error(`Optimizer.setState: slot ${i} has shape [${tensors[i].shape}] in the checkpoint, expected [${v.shape}]`);
      }
      v.assign(tensors[i]);
    });
    this.iterations = iterations;
  }

  dispose(): void {
    this.slots.flat().forEach((v) => v.dispose());
  }
}
