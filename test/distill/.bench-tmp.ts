import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { distillationLosses, LOSS_NAMES } from '../../lib/distill';
(async () => {
  const b = await initBackend({ quiet: true });
  const shape: [number, number, number, number] = [8, 16, 32, 256];
  const s = tf.randomNormal(shape) as tf.Tensor4D, t = tf.randomNormal(shape) as tf.Tensor4D;
  const labels = tf.randomUniform([8, 128, 256], 0, 19, 'int32') as tf.Tensor3D;
  for (const name of LOSS_NAMES) {
    const spec = distillationLosses[name];
    const opts: any = { ...(spec.defaultConfig() as object) };
    if (spec.needsLabels) Object.assign(opts, { labels });
    const f = () => { const { value, grad } = tf.valueAndGrad((x: tf.Tensor) => (spec.fn as any)(x, t, opts))(s); value.dataSync(); tf.dispose([value, grad]); };
    f();
    const t0 = Date.now(); for (let i = 0; i < 5; i++) f();
    console.log(`${b} ${name.padEnd(22)} ${((Date.now() - t0) / 5).toFixed(1)} ms (value+grad, [8,16,32,256])`);
  }
})();
