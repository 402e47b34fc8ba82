import { defineLoss } from './descriptor';
import { gridLoss } from './normalized-divergence';

export interface ChannelWiseDivergenceOptions {
  /** Softmax temperature T (default 4: the paper's best in Fig. 3 and the official/CIRKD scripts; the paper's other experiments use T = 3). */
  temperature?: number;
}

/**
 * Channel-wise distillation (CWD), Shu et al. ICCV 2021, Eq. 3-4; Table 2 "CD (Ours)", Table 4 "Ours
 * (Channel, KL)" 74.87 mIoU. https://arxiv.org/abs/2011.13256
 *
 * For every image n and channel c, the H·W activations become a distribution (Eq. 3)
 * `φ(y_c)_i = exp(y_c,i / T) / Σ_j exp(y_c,j / T)`, and the loss is the KL divergence from the teacher's:
 *
 *     L = T² / (N·C) · Σ_{n,c} Σ_i φ(t_nc)_i · (log φ(t_nc)_i − log φ(s_nc)_i)
 *     ∂L/∂s_nc,i = T/(N·C) · (φ(s_nc)_i − φ(t_nc)_i)
 *
 * i.e. Eq. 4 (the per-image T²/C·Σ_c KL) averaged over the batch, exactly as mmrazor
 * `ChannelWiseDivergence` and TorchDistiller `CriterionCWD('channel', 'kl')`. Computed with log-softmax,
 * so activations of ±1e4 stay finite (TorchDistiller's `softmax().log()` gives NaN there).
 * Not multiplied by the loss weight α (the paper's α = 3): the caller does that.
 * = `normalizedDivergence({normalization: 'channel', divergence: 'kl'})` with T = 4 by default: the
 * builder's (Channel, KL) cell is this loss, one custom op with the analytic gradient above (on wasm with
 * the native addon: one fused native kernel each way, lib/backend/loss-kernels.ts, same values).
 *
 * Inputs are NHWC `[N,H,W,C]`, same shape; for a channel mismatch map the student with
 * {@link Conv1x1Aligner} first. The teacher never receives gradient (`tf.grad` w.r.t. it is all zeros).
 * Invariant to adding a per-(n,c) constant to either input (softmax shift invariance). For T → ∞,
 * softmax(x/T)_i ≈ (1 + (x_i − x̄)/T)/(H·W) and KL(p‖q) ≈ ½Σ(p − q)²/p, so the loss tends to the
 * variance-matching limit ½·mean_{n,c} Var_HW(t_nc − s_nc) (tested at T = 5, 25, 100).
 *
 * @example
 *   const tf = require('@tensorflow/tfjs');
 *   const { channelWiseDivergence } = require('./lib/distill');
 *   const s = tf.randomNormal([2, 16, 16, 8]), t = tf.randomNormal([2, 16, 16, 8]);
 *   channelWiseDivergence(s, t, {temperature: 4}).print();   // ≥ 0
 *   channelWiseDivergence(t, t).print();                     // 0
 */
export const channelWiseDivergence = gridLoss('channelWiseDivergence', 'channel', 'kl', 4);

export const cwdLoss = defineLoss({
  name: 'cwd', fn: channelWiseDivergence, defaultConfig: channelWiseDivergence.defaultConfig,
  description: 'channel-wise distillation: softmax over H·W per channel, KL(teacher‖student), ×T²/(N·C)',
  source: 'Shu et al. ICCV 2021 Eq. 3-4; Table 2 CD, Table 4 Channel/KL 74.87',
  needsSameChannels: true, needsLabels: false,
  referenceWeight: { value: 3, source: 'paper α = 3 (T = 3; Fig. 3 best T = 4, α = 3); CIRKD uses 50 on features' },
});
