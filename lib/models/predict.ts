/**
 * Running a segmentation network: the raw two outputs, logits upsampled to the image size, and
 * per-pixel labels (argmax), for training code and evaluation.
 */
import * as tf from '@tensorflow/tfjs';
import { upsampleLogits } from './layers';
import type { SegmentationNet } from './types';

function checkImages(net: SegmentationNet, images: tf.Tensor4D, where: string): void {
  if (images.rank !== 4 || images.shape[3] !== 3) {
    throw new Error(`${where}: images must be [N, H, W, 3] (NHWC), got [${images.shape}] for model '${net.config.arch}'`);
  }
}

/**
 * One forward pass returning both outputs at stride 8. `training: true` uses batch statistics in
 * BatchNorm (and updates its moving averages) and enables dropout: use it for the network being
 * trained; a frozen teacher runs with `training: false` (moving statistics, no dropout).
 * Not wrapped in tf.tidy: call it inside your loss function / tidy.
 * @example const {feature, logits} = forward(student, images, {training: true});
 */
export function forward(
  net: SegmentationNet, images: tf.Tensor4D, options: { training?: boolean } = {},
): { feature: tf.Tensor4D; logits: tf.Tensor4D } {
  checkImages(net, images, 'forward');
  const out = net.model.apply(images, { training: options.training ?? false }) as tf.Tensor[];
  if (!Array.isArray(out) || out.length !== 2) {
    throw new Error(`forward: model '${net.model.name}' must have two outputs [feature, logits], got ${Array.isArray(out) ? out.length : 1}`);
  }
  return { feature: out[0] as tf.Tensor4D, logits: out[1] as tf.Tensor4D };
}

/**
 * Inference-mode logits upsampled bilinearly (align corners) to the image size: [N, H, W, classes].
 * Runs in tf.tidy: only the returned tensor stays alive.
 * @example const scores = predictLogits(net, images); // [N, H, W, 19]
 */
export function predictLogits(net: SegmentationNet, images: tf.Tensor4D): tf.Tensor4D {
  checkImages(net, images, 'predictLogits');
  return tf.tidy(() => {
    const { logits } = forward(net, images, { training: false });
    return upsampleLogits(logits, [images.shape[1], images.shape[2]]);
  });
}

/**
 * Inference-mode per-pixel class ids (argmax of the upsampled logits): int32 [N, H, W].
 * @example const labels = predictLabels(net, images); // compare with ground truth for IoU
 */
export function predictLabels(net: SegmentationNet, images: tf.Tensor4D): tf.Tensor3D {
  return tf.tidy(() => tf.argMax(predictLogits(net, images), 3) as tf.Tensor3D);
}

/**
 * The tf.Variables an optimiser should update for this network (conv kernels, biases, BatchNorm
 * γ/β; not the BatchNorm moving statistics, which BatchNorm updates itself in training mode).
 * @example optimizer.minimize(() => loss(), false, trainableVariables(student));
 */
export function trainableVariables(net: SegmentationNet): tf.Variable[] {
  return net.model.trainableWeights.map((w) => w.read() as tf.Variable);
}

/**
 * Freeze a network (e.g. the teacher during distillation): its variables become non-trainable, so
 * no optimiser's default variable list includes them. Run it with `forward(net, x)` (inference
 * mode: BatchNorm moving statistics, no dropout). Returns the net.
 * @example const teacher = freezeNet(await loadNet(handler));
 */
export function freezeNet(net: SegmentationNet): SegmentationNet {
  net.model.trainable = false;
  return net;
}
