/**
 * Fixes for the pure-JS `cpu` backend of tfjs 4.22.
 *
 * - `ResizeBilinearGrad` returns its (correct) values under the shape `[batch, inWidth, inHeight, depth]`
 *   (height and width swapped), which breaks the gradient of `tf.image.resizeBilinear` whenever the
 *   input is not square. The patched kernel returns the images' own shape.
 * @example
 *   await tf.setBackend('cpu');
 *   patchCpuBackend();   // idempotent
 */
import * as tf from '@tensorflow/tfjs';
import { replaceKernel } from './kernel-registry';
import { registerDilatedConvGradients } from './gradients';

let patched = false;

/** Patch the cpu backend's broken kernels (idempotent) and register the dilated-conv gradients. */
export function patchCpuBackend(): void {
  registerDilatedConvGradients();
  if (patched) return;
  const original = tf.getKernel('ResizeBilinearGrad', 'cpu');
  if (!original) throw new Error('patchCpuBackend: the cpu backend has no ResizeBilinearGrad kernel');
  replaceKernel('ResizeBilinearGrad', 'cpu', (args) => {
    const out = original.kernelFunc(args) as tf.TensorInfo;
    const images = args.inputs.images as tf.TensorInfo;
    // The values are laid out as [batch, inHeight, inWidth, depth] already; only the shape is wrong.
    (out as { shape: number[] }).shape = images.shape.slice();
    return out;
  });
  patched = true;
}
