/**
 * No synchronous tensor reads (`dataSync`, `arraySync`, `bufferSync`) on the training, evaluation,
 * loss and metric paths: the webgpu backend has none in Node (they throw
 * `ReferenceError: OffscreenCanvas is not defined`), so one such call breaks GPU training.
 * 1. Static: the sources of lib/train, lib/distill, lib/metrics, lib/models and lib/data contain no
 *    such call (outside comments), except the allow-list below.
 * 2. Dynamic: with the three methods replaced by throwing ones on tf.Tensor, a KD training step
 *    (CWD + the holistic critic), an evaluation, every distillation loss, the task loss in both modes
 *    and the confusion matrix run to the end (this also catches calls made through helpers elsewhere).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { Trainer } from '../../lib/train/trainer';
import { buildTerms } from '../../lib/train/build-terms';
import { evaluate } from '../../lib/train/evaluate';
import { crossEntropy2d } from '../../lib/train/loss';
import { ConfusionMatrix } from '../../lib/metrics';
import { getLoss, LOSS_NAMES } from '../../lib/distill';
import { tinyNet, toyBatch, toyData, toyVal } from './helpers';

const ROOT = path.join(__dirname, '..', '..');
const SCANNED = ['lib/train', 'lib/distill', 'lib/metrics', 'lib/models', 'lib/data'];
/** file → why a synchronous read is acceptable there (it is not on a training/evaluation path). */
const ALLOWED: Record<string, string> = {
  'lib/distill/connectors/connector.ts': 'toJSON() is the synchronous JSON serialisation for users; checkpoints save aligners with saveTensors',
};
const SYNC_READ = /\.\s*(dataSync|arraySync|bufferSync)\s*\(/g;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Source without comments (string contents are kept: good enough for this scan). */
function stripComments(src: string): string {
  return src.replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

test('static: no dataSync/arraySync/bufferSync in lib/{train,distill,metrics,models,data} (outside the allow-list)', () => {
  const found: string[] = [];
  let files = 0;
  for (const dir of SCANNED) {
    for (const file of sources(path.join(ROOT, dir))) {
      files++;
      const rel = path.relative(ROOT, file).split(path.sep).join('/');
      if (rel in ALLOWED) continue;
      const lines = stripComments(fs.readFileSync(file, 'utf8')).split('\n');
      lines.forEach((line, i) => {
        for (const m of line.matchAll(SYNC_READ)) found.push(`${rel}:${i + 1}: ${m[1]}()`);
      });
    }
  }
  assert.ok(files > 30, `scanned only ${files} files: wrong root?`);
  assert.equal(found, [], `synchronous reads on the training/evaluation paths (use \`await t.data()\`/\`await t.array()\`):\n${found.join('\n')}`);
});

test('static: the scan finds a synchronous read when there is one (self-check of the pattern)', () => {
  const probe = 'const v = x.dataSync(); // ok\n/* y.arraySync() */\nconst w = (await t.data())[0];\nz .bufferSync ()';
  const hits = stripComments(probe).split('\n').flatMap((l) => [...l.matchAll(SYNC_READ)].map((m) => m[1]));
  assert.equal(hits, ['dataSync', 'bufferSync']);
});

type Proto = Record<string, unknown>;
const METHODS = ['dataSync', 'arraySync', 'bufferSync'];

async function withoutSyncReads<T>(fn: () => Promise<T>): Promise<T> {
  const proto = tf.Tensor.prototype as unknown as Proto;
  const saved = METHODS.map((m) => proto[m]);
  for (const m of METHODS) {
    proto[m] = function (this: tf.Tensor) {
      throw new Error(`synchronous ${m}() on a training/evaluation path (shape [${this.shape}]); read with await t.data()`);
    };
  }
  try {
    return await fn();
  } finally {
    METHODS.forEach((m, i) => (proto[m] = saved[i]));
  }
}

test.before(async () => {
  await initBackend({ quiet: true });
});

test('dynamic: the guard itself throws (so the checks below can fail)', async () => {
  const x = tf.scalar(1);
  let threw = false;
  await withoutSyncReads(async () => {
    try { x.dataSync(); } catch { threw = true; }
  });
  assert.ok(threw, 'dataSync did not throw under the guard');
  assert.is(x.dataSync()[0], 1, 'restored after the guard');
  x.dispose();
});

test('dynamic: KD training steps (CWD + holistic critic) and evaluation without synchronous reads', async () => {
  const teacher = tinyNet(2, 12);
  const student = tinyNet(4, 8);
  const cfg = [{ method: 'cwd', on: 'feature' as const, weight: 3, temperature: 4 }, { method: 'holistic', on: 'logits' as const, weight: 0.1, discChannels: 4 }];
  const terms = buildTerms(cfg, { student, teacher, seed: 0 });
  const tr = new Trainer({ student, teacher, terms, config: { iters: 2, batchSize: 2, lr: 0.01, terms: cfg }, data: toyData(3) });
  const n0 = tf.memory().numTensors;
  const r = await withoutSyncReads(() => tr.trainStep());
  assert.ok(Number.isFinite(r.loss) && Number.isFinite(r.terms['cwd@feature']) && Number.isFinite(r.terms['holistic@logits.d_loss']), JSON.stringify(r));
  const ev = await withoutSyncReads(() => evaluate(student, toyVal(2, 2)));
  assert.ok(ev.mIoU >= 0 && ev.mIoU <= 1 && ev.images === 4, JSON.stringify(ev));
  assert.is(tf.memory().numTensors, n0, 'no tensor leaked by the step and the evaluation');
  tr.dispose();
  teacher.model.dispose();
  student.model.dispose();
});

test('dynamic: every distillation loss and its gradient, the task loss (both modes), the confusion matrix', async () => {
  const b = toyBatch(11, 2, 8, 12);
  await withoutSyncReads(async () => {
    for (const name of LOSS_NAMES) {
      const loss = getLoss(name);
      const s = tf.randomNormal([2, 4, 6, 5], 0, 1, 'float32', 1) as tf.Tensor4D;
      const t = tf.randomNormal([2, 4, 6, 5], 0, 1, 'float32', 2) as tf.Tensor4D;
      const opts = name === 'ifvd' ? { labels: b.labels, numClasses: 4 } : {};
      const { value, grads } = tf.valueAndGrads((x: tf.Tensor) => (loss.fn as (a: tf.Tensor4D, b: tf.Tensor4D, o: unknown) => tf.Scalar)(x as tf.Tensor4D, t, opts))([s]);
      const v = (await value.data())[0];
      assert.ok(Number.isFinite(v), `${name}: value ${v}`);
      tf.dispose([s, t, value, ...grads]);
    }
    const logits = tf.randomNormal([2, 4, 6, 4], 0, 1, 'float32', 3) as tf.Tensor4D;
    for (const mode of ['upsample', 'downsample'] as const) {
      const ce = crossEntropy2d(logits, b.labels, { mode });
      assert.ok(Number.isFinite((await ce.data())[0]), `crossEntropy2d ${mode}`);
      ce.dispose();
    }
    const cm = await new ConfusionMatrix(4).updateAsync(b.labels, b.labels);
    assert.is(cm.pixelAccuracy(), 1);
    logits.dispose();
  });
  tf.dispose([b.images, b.labels]);
});

test.run();
