/**
 * lib/distill: every distillation method of the CWD paper's comparison (Table 2, Table 4), the channel
 * connectors and the method registry (one descriptor per loss file). The losses take NHWC tensors
 * `(student, teacher, options) => tf.Scalar`, are unweighted (multiply by the loss weight yourself) and
 * never send gradient to the teacher; the holistic term also has a trainable critic (a stateful method).
 */
export { stopGradient, logSoftmaxOverSpace, logSoftmaxOverChannels } from './common';
export * from './normalized-divergence';
export * from './cwd';
export * from './pixelwise';
export * from './attention-transfer';
export * from './local-affinity';
export * from './pairwise-affinity';
export * from './ifvd';
export * from './mse';
export * from './channel-norm-mse';
export * from './bhattacharyya';
export * from './channel-mean-mse';
export * from './holistic';
export * from './connectors';
export * from './descriptor';
export * from './registry';
