/**
 * Registering a kernel over an existing one: the one helper every backend fix and native kernel set uses
 * (wasm-kernels.ts, loss-kernels.ts, cpu.ts, webgpu.ts). Its own module so that loss-kernels.ts, which
 * wasm-kernels.ts loads, can use it without an import cycle.
 */
import * as tf from '@tensorflow/tfjs';

/** Replace (or add) `kernelName` for `backendName`. */
export function replaceKernel(kernelName: string, backendName: string, kernelFunc: tf.KernelFunc): void {
  if (tf.getKernel(kernelName, backendName)) tf.unregisterKernel(kernelName, backendName);
  tf.registerKernel({ kernelName, backendName, kernelFunc });
}
