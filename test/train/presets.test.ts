/** Method presets: the user-facing method names; stored results depend on their exact term lists. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'crypto';
import { METHOD_PRESETS, methodPreset } from '../../lib/train/presets';
import { checkTermOptions } from '../../lib/train/build-terms';
import { getMethod } from '../../lib/distill';

test('presets are byte-identical to those the stored results were run with (hash taken before descriptors)', () => {
  // sha256 of JSON.stringify(METHOD_PRESETS) at commit 24c1d3a (before weights came from the descriptors)
  const sha = createHash('sha256').update(JSON.stringify(METHOD_PRESETS)).digest('hex').slice(0, 16);
  assert.is(sha, 'dd8010f5a70fe330');
  assert.equal(methodPreset('cwd-both'), [
    { method: 'cwd', on: 'feature', weight: 3, temperature: 4 }, { method: 'cwd', on: 'logits', weight: 3, temperature: 4 },
  ]);
  assert.equal(methodPreset('channel-mlp@0.5'), [{ method: 'mse', on: 'feature', weight: 0.5, aligner: 'channel-mlp' }]);
  assert.equal(methodPreset('holistic'), [{ method: 'holistic', on: 'logits', weight: 0.1 }]);
});

test('every preset names registry methods with options they accept; Table 2 weights are the descriptors\' reference weights', () => {
  for (const [name, p] of Object.entries(METHOD_PRESETS)) checkTermOptions(p.terms, `preset ${name}`);
  for (const m of ['pi', 'at', 'pa', 'ifvd', 'holistic']) {
    assert.is(METHOD_PRESETS[m].terms[0].weight, getMethod(m).referenceWeight!.value, m);
  }
  assert.throws(() => methodPreset('cwd'), /unknown method preset 'cwd'; valid: baseline, pi/);
  assert.throws(() => methodPreset('at@-1'), /weight after @ must be a finite number >= 0/);
  assert.throws(() => methodPreset('baseline@2'), /has no distillation term to weight/);
});

test.run();
