/**
 * Start the wasm backend and register the training kernels it lacks.
 * (Placeholder until the kernels land: the backend helper owns this file.)
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

export async function startWasmBackend(_threads?: number): Promise<boolean> {
  return tf.setBackend('wasm');
}
