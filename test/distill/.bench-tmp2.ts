import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { maxPoolCeil } from '../../lib/distill';
function viaPool(x: tf.Tensor4D, kh: number, kw: number) {
  const [n, h, w, c] = x.shape; const oh = Math.ceil(h / kh), ow = Math.ceil(w / kw);
  const p = (oh * kh !== h || ow * kw !== w) ? tf.pad(x, [[0, 0], [0, oh * kh - h], [0, ow * kw - w], [0, 0]], -Infinity) : x;
  return tf.maxPool(p as tf.Tensor4D, [kh, kw], [kh, kw], 'valid');
}
function lseDetached(x: tf.Tensor, axis: number) { return x; }
(async () => {
  await initBackend({ quiet: true });
  const s = tf.randomNormal([8, 16, 32, 256]) as tf.Tensor4D;
  for (const [name, f] of [['reshape-max', maxPoolCeil], ['maxPool', viaPool]] as const) {
    const g = () => { const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.square((f as any)(x, 8, 16))))(s); value.dataSync(); tf.dispose([value, grad]); };
    g(); const t0 = Date.now(); for (let i = 0; i < 5; i++) g(); console.log(name, (Date.now() - t0) / 5, 'ms');
    const g2 = () => { const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.square((f as any)(x, 3, 3))))(s); value.dataSync(); tf.dispose([value, grad]); };
    g2(); const t1 = Date.now(); for (let i = 0; i < 5; i++) g2(); console.log(name, '3x3 partial', (Date.now() - t1) / 5, 'ms');
  }
  const a = tf.randomNormal([8, 256, 512]);
  const h1 = () => { const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.logSumExp(x, 2)))(a); value.dataSync(); tf.dispose([value, grad]); };
  h1(); let t2 = Date.now(); for (let i = 0; i < 5; i++) h1(); console.log('logSumExp', (Date.now() - t2) / 5);
  const h2 = () => { const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => tf.sum(tf.logSoftmax(x)))(a); value.dataSync(); tf.dispose([value, grad]); };
  h2(); t2 = Date.now(); for (let i = 0; i < 5; i++) h2(); console.log('logSoftmax', (Date.now() - t2) / 5);
})();
