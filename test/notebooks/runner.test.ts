import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { parseArgs, findNotebooks, main, checkJupyter } from '../../scripts/run-notebooks';

const root = path.resolve(__dirname, '../..');
const fixtures = path.join(root, 'test/fixtures/notebooks');

test('parseArgs: profiles, time limits, in-place, filters; bad options are errors', () => {
  const q = parseArgs([]);
  assert.is(q.profile, 'quick');
  assert.is(q.timeout, 900);
  assert.is(q.inPlace, false);
  assert.is(q.outDir, path.join(root, 'notebooks', '.executed'));
  assert.is(q.engine, 'node');
  assert.is(parseArgs(['--engine', 'nbconvert']).engine, 'nbconvert');
  assert.throws(() => parseArgs(['--engine', 'python']), /--engine "python": use node or nbconvert/);
  const f = parseArgs(['--profile', 'full', '--update-committed', '03', '--timeout', '60', '--summary-json', 'x.json']);
  assert.is(f.profile, 'full');
  assert.is(f.inPlace, true);
  assert.is(f.timeout, 60);
  assert.equal(f.filters, ['03']);
  assert.is(f.summaryJson, path.resolve('x.json'));
  assert.is(parseArgs(['--profile', 'full']).timeout, 6 * 3600);
  assert.throws(() => parseArgs(['--profile', 'fast']), /--profile "fast": use quick, medium or full/);
  assert.throws(() => parseArgs(['--timeout', '-1']), /positive number of seconds/);
  assert.throws(() => parseArgs(['--bogus']), /unknown option --bogus/);
  assert.throws(() => parseArgs(['--summary-json']), /--summary-json needs a value/);
});

test('findNotebooks: sorted, filtered by substring', () => {
  assert.equal(findNotebooks(fixtures, []).map((f) => path.basename(f)), ['fails.ipynb', 'passes.ipynb', 'rejects.ipynb']);
  assert.equal(findNotebooks(fixtures, ['pass']).map((f) => path.basename(f)), ['passes.ipynb']);
});

test('a failing cell fails the run, the real error text is reported, the committed notebook is untouched', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-nb-'));
  const summaryFile = path.join(out, 'summary.json');
  const before = fs.readFileSync(path.join(fixtures, 'fails.ipynb'), 'utf8');
  const code = await main(['--dir', fixtures, '--out-dir', out, '--summary-json', summaryFile, '--timeout', '120', 'fails', 'passes']);
  assert.is(code, 1);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
  assert.is(summary.passed, 1);
  assert.is(summary.failed, 1);
  assert.is(summary.profile, 'quick');
  const failed = summary.notebooks.find((n: any) => n.name === 'fails');
  assert.is(failed.ok, false);
  assert.match(failed.error, /fixture failure: shape \[2,3\] vs \[2,4\]/);
  assert.match(failed.error, /code cell 2 of 3/);
  // the partial notebook holds the outputs up to the failure, including the real stderr text
  const partial = JSON.parse(fs.readFileSync(path.join(out, 'fails.partial.ipynb'), 'utf8'));
  assert.match(JSON.stringify(partial.cells[0].outputs), /profile quick/);
  assert.match(JSON.stringify(partial.cells[1].outputs), /fixture failure/);
  // the passing one was executed into out/, with CWD_PROFILE reaching the first cell
  const passed = JSON.parse(fs.readFileSync(path.join(out, 'passes.ipynb'), 'utf8'));
  assert.match(JSON.stringify(passed.cells[0].outputs), /profile quick/);
  assert.is(fs.readFileSync(path.join(fixtures, 'fails.ipynb'), 'utf8'), before);
});

test('an unhandled promise rejection in a cell (an un-awaited async throw) fails the notebook, naming the error', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-nb-'));
  const summaryFile = path.join(out, 'summary.json');
  const code = await main(['--dir', fixtures, '--out-dir', out, '--summary-json', summaryFile, '--timeout', '120', 'rejects']);
  assert.is(code, 1);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
  assert.is(summary.passed, 0);
  assert.is(summary.failed, 1);
  const r = summary.notebooks[0];
  assert.is(r.name, 'rejects');
  assert.is(r.ok, false);
  assert.match(r.error, /unhandled promise rejection/);
  assert.match(r.error, /fixture rejection: nobody awaited this promise/);
  // the cells after the failure did not run
  const partial = JSON.parse(fs.readFileSync(path.join(out, 'rejects.partial.ipynb'), 'utf8'));
  assert.not.match(JSON.stringify(partial.cells[2].outputs), /cell 3 must not run/);
});

/** PATH with one empty folder: no `jupyter`, no `python3`, nothing else either. */
async function withoutJupyter<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const savedPath = process.env.PATH;
  process.env.PATH = path.join(dir, 'no-such-bin');
  try {
    return await fn();
  } finally {
    process.env.PATH = savedPath;
  }
}

let nodeEngineOut = '';

test('the default engine needs no Jupyter: a notebook runs with nothing on PATH', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-nb-'));
  nodeEngineOut = out;
  const summaryFile = path.join(out, 'summary.json');
  const code = await withoutJupyter(out, () => main(['--dir', fixtures, '--out-dir', out, '--summary-json', summaryFile, '--timeout', '120', 'passes']));
  assert.is(code, 0);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
  assert.is(summary.passed, 1);
  assert.is(summary.failed, 0);
  const nb = JSON.parse(fs.readFileSync(path.join(out, 'passes.ipynb'), 'utf8'));
  assert.equal(nb.cells[0].outputs, [{ name: 'stdout', output_type: 'stream', text: ['profile quick\n'] }]);
  assert.is(nb.metadata.language_info.name, 'typescript');
});

test('--engine nbconvert (when Jupyter is installed, as in CI): the real error, and the same outputs as the Node engine', async () => {
  const missing = checkJupyter();
  if (missing) {
    console.log(`  (--engine nbconvert not exercised here: ${missing})`);
    return;
  }
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-nb-'));
  const summaryFile = path.join(out, 'summary.json');
  const code = await main(['--engine', 'nbconvert', '--dir', fixtures, '--out-dir', out, '--summary-json', summaryFile, '--timeout', '120', 'fails', 'passes']);
  assert.is(code, 1);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
  assert.match(summary.notebooks.find((n: any) => n.name === 'fails').error, /code cell 2 of 3\) FAILED.*fixture failure: shape \[2,3\] vs \[2,4\]/);
  const viaNbconvert = JSON.parse(fs.readFileSync(path.join(out, 'passes.ipynb'), 'utf8'));
  const viaNode = JSON.parse(fs.readFileSync(path.join(nodeEngineOut, 'passes.ipynb'), 'utf8'));
  assert.equal(viaNode.cells.map((c: any) => c.outputs), viaNbconvert.cells.map((c: any) => c.outputs));
  assert.equal(viaNode.cells.map((c: any) => c.source), viaNbconvert.cells.map((c: any) => c.source));
  assert.equal(viaNode.metadata, viaNbconvert.metadata);
  assert.equal(Object.keys(viaNode.cells[0].metadata.execution).sort(), Object.keys(viaNbconvert.cells[0].metadata.execution).sort());
});

test('--engine nbconvert without Jupyter: every notebook counts as failed, with the install command', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-nb-'));
  const summaryFile = path.join(out, 'summary.json');
  const errors: string[] = [];
  const savedError = console.error;
  console.error = (...a: unknown[]) => { errors.push(a.join(' ')); };
  let code: number;
  try {
    code = await withoutJupyter(out, () => main(['--engine', 'nbconvert', '--dir', fixtures, '--out-dir', out, '--summary-json', summaryFile]));
  } finally {
    console.error = savedError;
  }
  assert.is(code, 1);
  const summary = JSON.parse(fs.readFileSync(summaryFile, 'utf8'));
  assert.is(summary.passed, 0);
  assert.is(summary.failed, 3);
  assert.match(errors.join('\n'), /apt-get install -y --no-install-recommends jupyter-nbconvert python3-nbclient/);
  assert.match(errors.join('\n'), /pip install nbclient nbconvert/);
});

test.run();
