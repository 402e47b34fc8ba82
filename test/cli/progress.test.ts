import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Progress, formatDuration } from '../../lib/cli/progress';
import type { StepRecord } from '../../lib/train/trainer';

function fakeStream(tty: boolean) {
  const chunks: string[] = [];
  return { chunks, stream: { isTTY: tty, columns: 200, write: (s: string) => { chunks.push(s); return true; } } as unknown as NodeJS.WriteStream };
}
const rec = (step: number): StepRecord => ({ step, lr: 0.01, loss: 1.5, ce: 1.2, terms: { 'cwd@feature': 0.1, 'holistic@logits.gp': 0.3 }, seconds: 0.5, imgPerSec: 8 });

test('progress: a one-line bar on a TTY (step, loss terms, img/s, ETA), log lines every N steps otherwise', () => {
  const t = fakeStream(true);
  const p = new Progress('run', 20, { stream: t.stream, tty: true });
  p.update(rec(10));
  assert.match(t.chunks[0], /^\r\x1b\[K\[#{10}\.{10}\] run step 10\/20 loss 1\.5000 ce 1\.2000 cwd@feature 0\.1000 lr 1\.00e-2 8\.00 img\/s ETA 5s/);
  assert.not.match(t.chunks[0], /holistic@logits.gp/, 'sub-values (critic) are logged to metrics.jsonl, not the bar');
  const l = fakeStream(false);
  const q = new Progress('run', 20, { stream: l.stream, tty: false, logEvery: 5 });
  for (let s = 1; s <= 20; s++) q.update(rec(s));
  assert.is(l.chunks.length, 5, 'first step + every 5th step');
  assert.ok(l.chunks.every((c) => c.endsWith('\n') && !c.includes('\r')));
  assert.is(formatDuration(3725), '1h02m');
  assert.is(formatDuration(65), '1m05s');
});

test.run();
