import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
(async () => {
  for (const b of ['cpu', 'wasm']) {
    await tf.setBackend(b);
    const x = tf.tensor4d([-3, -1, -2, -5, 2, 1, 0.5, 3, 0, 0, 0, 0, -1e-30, -2, -3, -4], [1, 4, 4, 1]);
    const g = tf.grad((y: tf.Tensor) => tf.sum(tf.maxPool(y as tf.Tensor4D, 2, 2, 'valid')))(x);
    console.log(b, Array.from(g.dataSync()).join(' '));
  }
})();
