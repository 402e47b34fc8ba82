import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { pairwiseAffinity } from '../../lib/distill';
import { inputTensor, loadGolden } from './helpers';
(async () => {
  await initBackend({ quiet: true });
  const g = loadGolden();
  const c = g.cases.find((x) => x.name === 'pa_6x7_cirkd_norm')!;
  for (const b of ['wasm', 'cpu']) {
    await tf.setBackend(b);
    const s = inputTensor(g, c.student) as tf.Tensor4D, t = inputTensor(g, c.teacher) as tf.Tensor4D;
    const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => pairwiseAffinity(x as tf.Tensor4D, t, { detachNorm: false }))([s]);
    const gr = tf.grad((x: tf.Tensor) => pairwiseAffinity(x as tf.Tensor4D, t, { detachNorm: false }))(s);
    console.log(b, value.dataSync()[0], c.value, Array.from(grads[0].dataSync()).slice(0, 8).map((v) => v.toFixed(5)).join(' '), '|', Array.from(gr.dataSync()).slice(0, 8).map((v) => v.toFixed(5)).join(' '), '| ref', c.grad_student.slice(0, 8).map((v) => v.toFixed(5)).join(' '));
  }
})();
(async () => {
  await new Promise((r) => setTimeout(r, 3000));
  const { relMaxError } = require('./helpers');
  const g = loadGolden();
  for (const c of g.cases.filter((x) => x.loss === 'pairwiseAffinity')) {
    for (const b of ['wasm', 'cpu']) {
      await tf.setBackend(b);
      const s = inputTensor(g, c.student) as tf.Tensor4D, t = inputTensor(g, c.teacher) as tf.Tensor4D;
      const gr = tf.grad((x: tf.Tensor) => pairwiseAffinity(x as tf.Tensor4D, t, c.options as any))(s);
      const d = Array.from(gr.dataSync());
      let worst = 0, wi = 0; d.forEach((v, i) => { const e = Math.abs(v - c.grad_student[i]); if (e > worst) { worst = e; wi = i; } });
      console.log('X', b, c.name, relMaxError(d, c.grad_student), 'worst idx', wi, d[wi], c.grad_student[wi], 'x', s.dataSync()[wi]);
    }
  }
})();
