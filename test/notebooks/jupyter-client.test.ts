import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  sign, serialize, deserialize, coalesceStreams, notebookJson, realErrorText, runNotebook, KernelClient,
  Notebook, Output,
} from '../../scripts/jupyter-client';

const root = path.resolve(__dirname, '../..');
const kernelDir = path.join(root, 'jupyter/kernels/channel-distill');

function notebook(...sources: string[]): Notebook {
  return {
    cells: sources.map((source, i) => ({ cell_type: 'code', id: `t${i}`, metadata: {}, source, outputs: [], execution_count: null })),
    metadata: { kernelspec: { name: 'channel-distill', display_name: 'TypeScript (channel-distill)', language: 'typescript' } },
    nbformat: 4, nbformat_minor: 5,
  };
}

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a rejection matching ${re}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('sign: HMAC-SHA256 over the parts (RFC 4231 test case 2); a tampered message is rejected', () => {
  // RFC 4231, 4.3: key "Jefe", data "what do ya want for nothing?"
  assert.is(sign('Jefe', [Buffer.from('what do ya '), Buffer.from('want for nothing?')]),
    '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  const msg = {
    header: { msg_id: 'm1', session: 's', username: 'u', date: '2026-01-01T00:00:00Z', msg_type: 'execute_request', version: '5.3' },
    parent_header: {}, metadata: {}, content: { code: '1 + 1' },
  };
  const frames = [Buffer.from('routing-id'), ...serialize('k3y', msg)];
  assert.is(frames[1].toString(), '<IDS|MSG>');
  const back = deserialize('k3y', frames);
  assert.equal(back.header, msg.header);
  assert.equal(back.content, { code: '1 + 1' });
  assert.throws(() => deserialize('other-key', frames), /invalid HMAC signature/);
  const tampered = frames.slice();
  tampered[6] = Buffer.from(JSON.stringify({ code: 'rm -rf /' }));
  assert.throws(() => deserialize('k3y', tampered), /invalid HMAC signature/);
  assert.throws(() => deserialize('k3y', [Buffer.from('x')]), /no <IDS\|MSG> delimiter/);
});

test('coalesceStreams and notebookJson: nbconvert\'s stream merging, split lines, JSON MIME kept as objects', () => {
  const outs: Output[] = [
    { output_type: 'stream', name: 'stdout', text: 'a\n' },
    { output_type: 'stream', name: 'stdout', text: 'progress 10%\rprogress 100%\nb' },
    { output_type: 'stream', name: 'stderr', text: 'warn\n' },
    { output_type: 'stream', name: 'stdout', text: 'c\n' },
  ];
  const merged = coalesceStreams(outs);
  assert.equal(merged.map((o) => (o as { name: string }).name), ['stdout', 'stderr', 'stdout']);
  assert.is((merged[0] as { text: string }).text, 'a\nprogress 100%\nb');
  assert.is((outs[0] as { text: string }).text, 'a\n', 'input outputs untouched');
  const nb = notebook('x;\ny;');
  nb.cells[0].outputs = [{ output_type: 'display_data', metadata: {}, data: {
    'text/plain': '<f>', 'image/svg+xml': '<svg>\n</svg>\n', 'application/vnd.vegalite.v5+json': { mark: 'bar' },
  } }];
  const json = JSON.parse(notebookJson(nb));
  assert.equal(json.cells[0].source, ['x;\n', 'y;']);
  assert.equal(json.cells[0].outputs[0].data['image/svg+xml'], ['<svg>\n', '</svg>\n']);
  assert.equal(json.cells[0].outputs[0].data['application/vnd.vegalite.v5+json'], { mark: 'bar' });
  assert.equal(Object.keys(json), ['cells', 'metadata', 'nbformat', 'nbformat_minor']);
  assert.ok(notebookJson(nb).startsWith('{\n "cells": [\n  {\n   "cell_type": "code",'));
});

test('realErrorText: error output first, else the error line of the stderr (tslab), else a TS diagnostic', () => {
  assert.is(realErrorText([{ output_type: 'error', ename: 'ValueError', evalue: 'bad', traceback: [] }]), 'ValueError: bad');
  assert.is(realErrorText([{ output_type: 'stream', name: 'stderr', text: 'evalmachine:3\n   ^\n\nRangeError: shape [2] vs [3]\n    at x\n' }]),
    'RangeError: shape [2] vs [3]');
  assert.is(realErrorText([{ output_type: 'stream', name: 'stderr', text: '2:7 - Cannot find name \'tff\'.\n' }]), '2:7 - Cannot find name \'tff\'.');
  assert.is(realErrorText([{ output_type: 'stream', name: 'stdout', text: 'Error: not stderr\n' }]), undefined);
});

test('a notebook through the real tslab kernel: every MIME bundle kept, display updates, a failing cell stops it with its message', async () => {
  const nb = notebook(
    "console.log('out 1');\nconsole.error('err 1');\nconsole.log('out 2');",
    [
      "const jupyter = require('tslab/dist/jupyter');",
      "jupyter.lastWriteDisplayData({ data: {",
      "  'text/plain': '<figure t>', 'image/svg+xml': '<svg xmlns=\"http://www.w3.org/2000/svg\">\\n<rect/>\\n</svg>',",
      "  'image/png': 'iVBORw0KGgo=', 'application/vnd.vegalite.v5+json': { mark: 'bar', data: { values: [{ a: 1 }] } },",
      "}, metadata: { 'image/png': { width: 2 } }, transient: {} }, false);",
    ].join('\n'),
    "import * as tslab from 'tslab';\nconst d = tslab.newDisplay();\nd.text('first');\nd.html('<b>second</b>');",
    "function boom(): never { throw new RangeError('fixture: shape [2,3] vs [2,4]'); }\nboom();",
    "console.log('must not run');",
  );
  const logs: string[] = [];
  const r = await runNotebook(nb, { kernelDir, cwd: root, timeout: 120, log: (l) => logs.push(l) });
  assert.is(r.ok, false);
  assert.is(r.failedCell, 3);
  assert.match(r.error!, /cell 3 \(code cell 4 of 5\) FAILED after [\d.]+ s: CellExecutionError: RangeError: fixture: shape \[2,3\] vs \[2,4\]/);
  assert.match(logs.join('\n'), /--- error output[^\n]*\nRangeError: fixture: shape \[2,3\] vs \[2,4\]\n[\s\S]*at boom/);
  assert.match(logs.join('\n'), /\[cell 3\/5\] ok in/);
  const [c0, c1, c2, c3, c4] = nb.cells;
  assert.equal(c0.outputs, [
    { output_type: 'stream', name: 'stdout', text: 'out 1\n' },
    { output_type: 'stream', name: 'stderr', text: 'err 1\n' },
    { output_type: 'stream', name: 'stdout', text: 'out 2\n' },
  ]);
  assert.is(c0.execution_count, 1);
  assert.ok(c0.metadata.execution['iopub.status.busy'] && c0.metadata.execution['iopub.status.idle'] && c0.metadata.execution['shell.execute_reply']);
  assert.equal(c1.outputs, [{ output_type: 'display_data', metadata: { 'image/png': { width: 2 } }, data: {
    'text/plain': '<figure t>', 'image/svg+xml': '<svg xmlns="http://www.w3.org/2000/svg">\n<rect/>\n</svg>',
    'image/png': 'iVBORw0KGgo=', 'application/vnd.vegalite.v5+json': { mark: 'bar', data: { values: [{ a: 1 }] } },
  } }]);
  // one display, updated in place by its display_id
  assert.equal(c2.outputs, [{ output_type: 'display_data', metadata: {}, data: { 'text/html': '<b>second</b>' } }]);
  assert.match(JSON.stringify(c3.outputs), /RangeError: fixture: shape/);
  assert.equal(c4.outputs, []);
  assert.is(c4.execution_count, null);
  assert.is(nb.metadata.language_info.name, 'typescript');
});

test('an un-awaited rejection fails the notebook at the next cell, naming the error', async () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-jc-')), 'async.jsonl');
  const nb = notebook(
    "void (async () => { await new Promise((r) => setTimeout(r, 20)); throw new Error('jc fixture: nobody awaited this'); })();",
    "await new Promise((r) => setTimeout(r, 300));",
    "console.log('must not run');",
  );
  const r = await runNotebook(nb, { kernelDir, cwd: root, timeout: 120, asyncErrorsFile: file, env: { ...process.env, CWD_NB_REJECTIONS: file } });
  assert.is(r.ok, false);
  assert.match(r.error!, /code cell [12] of 3\) FAILED .*unhandled promise rejection in the kernel during or before this cell: Error: jc fixture: nobody awaited this/);
  assert.equal(nb.cells[2].outputs, []);
});

test('the time limit interrupts the cell, fails the notebook, and the kernel process is gone', async () => {
  const nb = notebook("console.log('started');", "await new Promise((r) => setTimeout(r, 120000));\nconsole.log('not reached');");
  const t0 = Date.now();
  const r = await runNotebook(nb, { kernelDir, cwd: root, timeout: 4 });
  const seconds = (Date.now() - t0) / 1000;
  assert.is(r.ok, false);
  assert.match(r.error!, /cell 1 \(code cell 2 of 2\) FAILED after [\d.]+ s: time limit of 4 s for the notebook reached/, r.error);
  assert.ok(seconds < 60, `took ${seconds} s`);
  assert.match(JSON.stringify(nb.cells[0].outputs), /started/);
  assert.not.match(JSON.stringify(nb.cells[1].outputs), /not reached/);
  assert.ok(r.kernelPid && r.kernelPid > 0);
  assert.is(isRunning(r.kernelPid!), false);
});

test('KernelClient: shutdown ends the kernel process; a kernel that cannot start is a clear error', async () => {
  const kc = await KernelClient.start({ kernelDir, cwd: root });
  const pid = kc.pid!;
  assert.ok(isRunning(pid));
  const r = await kc.execute('console.log(6 * 7)');
  assert.is(r.status, 'ok');
  assert.equal(r.outputs, [{ output_type: 'stream', name: 'stdout', text: '42\n' }]);
  assert.is(kc.badMessages, 0);
  await kc.shutdown();
  assert.is(kc.alive, false);
  assert.is(isRunning(pid), false);
  await rejects(kc.execute('1'), /kernel is not running/);

  const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-badkernel-'));
  fs.writeFileSync(path.join(bad, 'kernel.json'), JSON.stringify({ argv: ['node', '-e', "console.error('no such kernel here'); process.exit(3)", '{connection_file}'] }));
  await rejects(KernelClient.start({ kernelDir: bad, startupTimeout: 30 }), /exited during start-up \(exit code 3\)[\s\S]*no such kernel here/);
  fs.writeFileSync(path.join(bad, 'kernel.json'), '{"argv": []}');
  await rejects(KernelClient.start({ kernelDir: bad }), /kernel\.json: 'argv' must be a non-empty list/);
});

test.run();
