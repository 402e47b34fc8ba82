import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { KernelClient, ExecuteOutcome } from '../../scripts/jupyter-client';

const root = path.resolve(__dirname, '../..');
const kernelDir = path.join(root, 'jupyter/kernels/channel-distill');

function errorOutput(r: ExecuteOutcome): { ename: string; evalue: string; traceback: string[] } {
  const errors = r.outputs.filter((o) => o.output_type === 'error') as { ename: string; evalue: string; traceback: string[] }[];
  assert.is(errors.length, 1, `one error output, got ${JSON.stringify(r.outputs).slice(0, 400)}`);
  return errors[0];
}

/** tslab drops requests that arrive within 200 ms of a failed cell: wait that out between cells. */
const settle = () => new Promise((r) => setTimeout(r, 400));

test('the project kernel: a failing cell reaches Jupyter with ename / evalue / traceback (reply and iopub error output), no longer as an empty <Error>', async () => {
  const kc = await KernelClient.start({ kernelDir, cwd: root });
  try {
    // a synchronous throw: the stack, without the kernel's own frames; nothing left on stderr
    let r = await kc.execute("function boom(): never { throw new RangeError('fixture: shape [2,3] vs [2,4]'); }\nboom();");
    assert.is(r.status, 'error');
    let e = errorOutput(r);
    assert.is(e.ename, 'RangeError');
    assert.is(e.evalue, 'fixture: shape [2,3] vs [2,4]');
    assert.ok(e.traceback.includes('RangeError: fixture: shape [2,3] vs [2,4]'), e.traceback.join('\n'));
    assert.ok(e.traceback.some((l) => /^\s+at boom /.test(l)), 'the frame of the throwing function');
    assert.not.ok(e.traceback.some((l) => /tslab[\\/]dist|node:vm/.test(l)), 'kernel frames removed');
    assert.equal({ output_type: 'error', ename: r.reply.ename, evalue: r.reply.evalue, traceback: r.reply.traceback }, e, 'execute_reply carries the same');
    assert.is(r.outputs.filter((o) => o.output_type === 'stream' && o.name === 'stderr').length, 0, 'not also printed to stderr');
    await settle();
    // an async throw after a top-level await
    r = await kc.execute("await new Promise((ok) => setTimeout(ok, 10));\nthrow new TypeError('fixture: async failure');");
    e = errorOutput(r);
    assert.equal([e.ename, e.evalue, e.traceback[0]], ['TypeError', 'fixture: async failure', 'TypeError: fixture: async failure']);
    await settle();
    // a type error: the diagnostics
    r = await kc.execute("const n: number = 'text';\nconst m: string = 3;");
    e = errorOutput(r);
    assert.is(e.ename, 'TypeScriptError');
    assert.is(e.evalue, "1:7 - Type 'string' is not assignable to type 'number'. (and 1 more)");
    assert.equal(e.traceback, ["1:7 - Type 'string' is not assignable to type 'number'.", "2:7 - Type 'number' is not assignable to type 'string'."]);
    await settle();
    // a thrown non-Error
    r = await kc.execute("throw 'plain text';");
    e = errorOutput(r);
    assert.equal([e.ename, e.evalue], ['thrown string', 'plain text']);
    await settle();
    // a custom error class keeps its name
    r = await kc.execute("class ShapeError extends Error { constructor(m: string) { super(m); this.name = 'ShapeError'; } }\nthrow new ShapeError('fixture: custom');");
    e = errorOutput(r);
    assert.equal([e.ename, e.evalue], ['ShapeError', 'fixture: custom']);
    await settle();
    // and the kernel still works
    r = await kc.execute('console.log(6 * 7)');
    assert.is(r.status, 'ok');
    assert.equal(r.outputs, [{ output_type: 'stream', name: 'stdout', text: '42\n' }]);
  } finally {
    await kc.shutdown();
  }
});

test('the project kernel: tf before initBackend() names `await initBackend()`; afterwards it works, and a figure carries image/png', async () => {
  const kc = await KernelClient.start({ kernelDir, cwd: root, env: { ...process.env, CWD_NO_AUTO_WEBGPU: '1', CWD_QUIET_BACKEND: '1' } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-kfig-'));
  try {
    let r = await kc.execute("import * as tf from '@tensorflow/tfjs';\nimport { initBackend, figure, show, heatmapSpec } from './lib';");
    assert.is(r.status, 'ok', JSON.stringify(r.outputs).slice(0, 500));
    r = await kc.execute('const t = tf.scalar(3).square();');
    assert.is(r.status, 'error');
    const e = errorOutput(r);
    assert.match(e.evalue, /TensorFlow\.js has no backend yet: run `await initBackend\(\)`/);
    assert.match(e.evalue, /run the set-up cell at the top first/);
    await settle();
    r = await kc.execute("await initBackend();\nconsole.log(tf.getBackend(), (await tf.scalar(3).square().data())[0]);");
    assert.is(r.status, 'ok', JSON.stringify(r.outputs));
    assert.match(JSON.stringify(r.outputs), /(wasm|cpu|tensorflow) 9\\n/);
    r = await kc.execute(`show(await figure('kfig', heatmapSpec([{ x: 1, y: 1, value: 0.5 }, { x: 2, y: 1, value: 0.7 }]), { dir: ${JSON.stringify(dir)} }));`);
    assert.is(r.status, 'ok', JSON.stringify(r.outputs).slice(0, 500));
    const shown = r.outputs.filter((o) => o.output_type === 'display_data') as { data: Record<string, unknown>; metadata: Record<string, any> }[];
    assert.is(shown.length, 1);
    const data = shown[0].data;
    assert.equal(Object.keys(data).sort(), ['application/vnd.vegalite.v5+json', 'image/png', 'image/svg+xml', 'text/plain']);
    const png = Buffer.from(data['image/png'] as string, 'base64');
    assert.ok(png.equals(fs.readFileSync(path.join(dir, 'kfig.png'))), 'the PNG shown is the PNG saved');
    assert.is(data['text/plain'], `figure kfig: ${path.join(dir, 'kfig.png')} (.svg, .vl.json)`);
    assert.ok(shown[0].metadata['image/png'].width > 0);
  } finally {
    await kc.shutdown();
  }
});

test('a script: tf before initBackend() names `await initBackend()` and starts no backend behind its back', () => {
  const script = [
    "const tf = require('@tensorflow/tfjs');",
    "const { initBackend } = require('./lib/backend');",
    "let message = 'no error';",
    "try { tf.scalar(2).square(); } catch (e) { message = e.message; }",
    "console.log(JSON.stringify({ message, backend: tf.getBackend() ?? null }));",
    "initBackend({ quiet: true }).then(async (b) => console.log(JSON.stringify({ b, v: (await tf.scalar(3).square().data())[0] })));",
  ].join('\n');
  const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root, encoding: 'utf8', env: { ...process.env, CWD_NO_AUTO_WEBGPU: '1', CWD_BACKEND: 'wasm' }, timeout: 120000,
  });
  assert.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
  const first = JSON.parse(lines[0]);
  assert.match(first.message, /^TensorFlow\.js has no backend yet: run `await initBackend\(\)`/);
  assert.match(first.message, /tfjs would start 'wasm' on its own/);
  assert.is(first.backend, null, 'no backend was started by the failed call');
  assert.equal(JSON.parse(lines[1]), { b: 'wasm', v: 9 });
});

test.run();
