/**
 * The PyTorch reference module (bench/torch/losses.py: the goldens' references and the bench twins) and
 * the lib/distill registry agree: the same names, the same losses needing labels, and — where a python
 * with torch is found — the same value at every loss's default options (float64 reference, float32 tolerance).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as path from 'path';
import { spawnSync } from 'child_process';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../lib/backend';
import { getLoss, LOSS_NAMES } from '../../lib/distill';
import { findTorch } from '../../bench/torch';
import { seededNormal } from './helpers';

const MODULE = path.join(__dirname, '..', '..', 'bench', 'torch', 'losses.py');
const source = fs.readFileSync(MODULE, 'utf8');

test.before(async () => {
  await initBackend({ quiet: true });
});

test('bench/torch/losses.py LOSSES has exactly the registry\'s losses, NEEDS_LABELS exactly those needing labels', () => {
  const block = /^LOSSES = \{([\s\S]*?)^\}/m.exec(source);
  assert.ok(block, 'LOSSES dict found');
  const keys = [...block![1].matchAll(/^\s+'([^']+)':/gm)].map((m) => m[1]);
  assert.equal(keys, LOSS_NAMES);
  const labels = /^NEEDS_LABELS = \{([^}]*)\}/m.exec(source);
  assert.equal([...labels![1].matchAll(/'([^']+)'/g)].map((m) => m[1]), LOSS_NAMES.filter((n) => getLoss(n).needsLabels));
});

test('every registry loss at its default options equals its PyTorch reference', () => {
  const torch = findTorch();
  if (!torch.info) {
    console.log(`  skipped: ${torch.why}`);
    return;
  }
  const [n, h, w, c] = [2, 6, 7, 4];
  const s = seededNormal([n, h, w, c], 11, 1.5);
  const t = seededNormal([n, h, w, c], 12, 1.5, 0.3);
  const labels = Array.from({ length: n * 13 * 16 }, (_, i) => ((i * 7919) % 23 < 3 ? 255 : (i * 31) % 19));
  const ours: Record<string, number> = {};
  const options: Record<string, Record<string, unknown>> = {};
  for (const name of LOSS_NAMES) {
    const spec = getLoss(name);
    const o = { ...(spec.defaultConfig() as Record<string, unknown>) };
    options[name] = { ...o };
    tf.tidy(() => {
      if (spec.needsLabels) o.labels = tf.tensor3d(labels, [n, 13, 16], 'int32');
      ours[name] = spec.fn(s, t, o).dataSync()[0];
    });
  }
  const script = `
import json, sys
import numpy as np, torch
sys.path.insert(0, ${JSON.stringify(path.dirname(MODULE))})
from losses import LOSSES, NEEDS_LABELS
torch.set_default_dtype(torch.float64)
d = json.load(sys.stdin)
nchw = lambda a: torch.tensor(np.array(a['data'], dtype=np.float64).reshape(a['shape']).transpose(0, 3, 1, 2).copy())
s, t = nchw(d['s']), nchw(d['t'])
labels = torch.tensor(np.array(d['labels']).reshape(${n}, 13, 16))
out = {}
for name, o in d['options'].items():
    o = {k: v for k, v in o.items()}
    if name in NEEDS_LABELS:
        o['labels'] = labels
    out[name] = LOSSES[name](s, t, **o).item()
print(json.dumps(out))
`;
  const r = spawnSync(torch.info.python, ['-c', script], {
    input: JSON.stringify({ s: { shape: s.shape, data: Array.from(s.dataSync()) }, t: { shape: t.shape, data: Array.from(t.dataSync()) }, labels, options }),
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  const ref = JSON.parse(r.stdout) as Record<string, number>;
  for (const name of LOSS_NAMES) {
    assert.ok(Math.abs(ours[name] - ref[name]) <= 2e-5 * Math.abs(ref[name]) + 1e-7, `${name}: lib/distill ${ours[name]}, reference ${ref[name]}`);
  }
  tf.dispose([s, t]);
});

test.run();
