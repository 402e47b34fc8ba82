/**
 * Fast output through the project kernel. tslab sent every message without waiting for the previous one,
 * and zeromq 6 throws EBUSY ("Socket is busy writing") for a second send in progress: a cell that printed
 * fast (a training log) killed the kernel, and beyond 1000 waiting messages the iopub publisher dropped
 * stream output silently. jupyter/kernels/channel-distill/start.cjs (patch 6) queues the sends and lifts
 * the high-water mark; the runner fails a notebook whose kernel dies after replying.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as path from 'path';
import { KernelClient } from '../../scripts/jupyter-client';

const root = path.resolve(__dirname, '../..');
const kernelDir = path.join(root, 'jupyter/kernels/channel-distill');

test('the project kernel survives a cell that prints 30000 lines in bursts, and every line arrives in order', async () => {
  const kc = await KernelClient.start({ kernelDir, cwd: root });
  try {
    const r = await kc.execute([
      'for (let i = 0; i < 3; i++) {',
      '  await new Promise((ok) => setTimeout(ok, 5));',
      "  for (let j = 0; j < 10000; j++) console.log(`line ${i} ${j} ${'x'.repeat(100)}`);",
      '}',
      "console.log('done');",
    ].join('\n'));
    assert.is(r.status, 'ok');
    const text = r.outputs.filter((o) => o.output_type === 'stream' && o.name === 'stdout').map((o) => (o as { text: string }).text).join('');
    const lines = text.trimEnd().split('\n');
    assert.is(lines.length, 30001);
    assert.is(lines[0].slice(0, 8), 'line 0 0');
    assert.is(lines[29999].slice(0, 12), 'line 2 9999 ');
    assert.is(lines[30000], 'done');
    await new Promise((ok) => setTimeout(ok, 500));
    assert.ok(kc.alive, 'the kernel is still running');
    const after = await kc.execute("console.log('still here')");
    assert.is(after.status, 'ok');
  } finally {
    await kc.shutdown();
  }
});

test.run();
