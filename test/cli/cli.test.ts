import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { main } from '../../lib/cli/main';
import { currentBackend } from '../../lib/backend';
import { capture, tinyDataset } from './fixtures';

let data = '';
let runs = '';
let teacher = '';
test.before(async () => {
  data = await tinyDataset();
  runs = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-cli-runs-'));
  teacher = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-cli-teacher-'));
  fs.writeFileSync(path.join(teacher, 'manifest.json'), JSON.stringify({ modelConfig: {}, quantization: 'none' }));
});

test('--help of the CLI and of every command exits 0 and lists options', async () => {
  const top = await capture(() => main(['--help']));
  assert.is(top.code, 0);
  for (const cmd of ['data', 'train-teacher', 'train-student', 'distill', 'sweep', 'merge', 'eval', 'export', 'demo']) {
    assert.match(top.out, cmd);
    const r = await capture(() => main([cmd, '--help']));
    assert.is(r.code, 0, cmd);
    assert.match(r.out, `Usage: channel-distill ${cmd}`);
    assert.match(r.out, '--help');
  }
});

// [argv, expected error pattern]. Each must fail before any work: no run folder, no backend start.
const BAD: [string[], RegExp][] = [
  [['frobnicate'], /unknown command 'frobnicate'/],
  [['train-student', '--itres', '5'], /unknown option --itres \(did you mean --iters\?\)/],
  [['train-student', '--iters', '0'], /--iters must be >= 1, got '0'/],
  [['train-student', '--iters', 'ten'], /--iters must be an integer, got 'ten'/],
  [['train-student', '--iters'], /--iters needs a value/],
  [['train-student', '--batch', '1.5'], /--batch must be an integer/],
  [['train-student', '--lr', '0'], /--lr must be > 0/],
  [['train-student', '--lr', '-1'], /--lr must be > 0/],
  [['train-student', '--momentum', 'x'], /--momentum must be a number/],
  [['train-student', '--optimizer', 'rmsprop'], /--optimizer must be one of sgd, adam/],
  [['train-student', '--loss-mode', 'sideways'], /--loss-mode must be one of upsample, downsample/],
  [['train-student', '--crop', '12x'], /--crop must be HEIGHTxWIDTH/],
  [['train-student', 'positional'], /unexpected argument 'positional'/],
  [['train-student', '--fresh=maybe'], /--fresh is a flag/],
  [['train-student', '--model', 'resnet9000'], /unknown model preset 'resnet9000'; valid: .*student-r18/],
  [['train-student', '--model-config', '{"bogus": 1}'], /bogus/],
  [['train-student', '--model-config', '{oops'], /--model-config must be JSON/],
  [['train-student', '--config', '/nonexistent/config.json'], /--config: file \/nonexistent\/config.json does not exist/],
  [['train-student', '--config', '@BADCONFIG'], /unknown option 'itres'/],
  [['train-student', '--data', '/nonexistent/data'], /dataset root \/nonexistent\/data \(chosen by the root option \(\/nonexistent\/data\)\) does not exist/],
  [['train-student', '--name', 'bad name!'], /run name 'bad name!' may contain only/],
  [['train-student', '--terms', '[]'], /unknown option --terms/],
  [['train-student', '--config', '@TERMSCONFIG'], /the config has distillation terms: use the distill command/],
  [['distill'], /no distillation terms/],
  [['distill', '--method', 'cwdd'], /unknown method 'cwdd'; valid: .*cwd/],
  [['distill', '--method', 'cwd', '--on', 'middle'], /--on must be one of feature, logits/],
  [['distill', '--method', 'cwd', '--temperature', '0'], /--temperature must be > 0/],
  [['distill', '--weight', '3'], /--on\/--weight\/--temperature need --method/],
  [['distill', '--method', 'cwd', '--terms', '[]'], /either --terms JSON or --method/],
  [['distill', '--terms', '{"method":"cwd"}'], /terms must be a list/],
  [['distill', '--terms', '[{"method":"cwd","on":"feature","weight":3,"temprature":4}]'], /unknown option 'temprature' for method 'cwd'/],
  [['distill', '--terms', '[{"method":"cwd","on":"feature","weight":-3}]'], /weight must be a finite number >= 0/],
  [['distill', '--terms', '[{"method":"cwd","on":"feature","weight":3,"aligner":"magic"}]'], /aligner must be one of none, conv1x1/],
  [['distill', '--terms', '[{"method":"holistic","on":"feature","weight":0.1}]'], /holistic term discriminates score maps/],
  [['distill', '--method', 'cwd', '--teacher', '/nonexistent/teacher'], /\/nonexistent\/teacher: manifest.json is missing/],
  [['sweep', '--seeds', '0,1'], /--name is required/],
  [['sweep', '--name', 's'], /nothing to sweep/],
  [['sweep', '--name', 's', '--seeds', '0,x'], /--seeds must be a comma-separated list of numbers/],
  [['sweep', '--name', 's', '--seeds', '0,-1'], /--seeds must be integers >= 0/],
  [['sweep', '--name', 's', '--methods', 'cwd-feature,magic'], /unknown method preset 'magic'/],
  [['sweep', '--name', 's', '--seeds', '0', '--shard', '2/2'], /need 0 <= i < n/],
  [['sweep', '--name', 's', '--seeds', '0', '--shard', 'half'], /--shard must be i\/n/],
  [['sweep', '--name', 's', '--grid', '{"train.iters":[]}'], /must map to a non-empty list/],
  [['sweep', '--name', 's', '--grid', '{"train.iters":[0]}'], /sweep cell 0 .*iters must be an integer >= 1/],
  [['sweep', '--name', 's', '--temperatures', '1,2'], /distillation terms need a teacher|terms\[0\]|no distillation|teacher/],
  [['merge'], /--name is required/],
  [['merge', '--name', 'nosuchsweep'], /sweep.json does not exist/],
  [['eval'], /exactly one of --model-dir DIR .* or --run DIR/],
  [['eval', '--model-dir', '/nonexistent/pkg'], /is not a model package/],
  [['eval', '--run', '/nonexistent/run'], /has no checkpoint/],
  [['export'], /--run DIR and --out DIR are required/],
  [['export', '--run', '/nonexistent/run', '--out', '/tmp/never'], /has no checkpoint/],
  [['demo', '--method', 'baseline'], /--method must be a distillation preset/],
  [['demo', '--teacher', '/nonexistent/teacher'], /no teacher package in \/nonexistent\/teacher/],
  [['demo', '--iters', '-3'], /--iters must be >= 1/],
  [['data', '--cities', '9'], /--cities must be 1..4/],
  [['data', '--width', '8'], /--width must be >= 32/],
  [['train-teacher', '--export', '@TEACHER'], /already holds a model package: add --overwrite/],
  [['train-student', '--backend', 'gpu'], /--backend must be one of tensorflow, webgpu, wasm, cpu/],
];

test('the installed bin (bin/channel-distill.cjs) reaches the commands that load modules lazily', () => {
  // Runs the real entry point in a child process (CommonJS tsx hook), as `npx channel-distill` does.
  const { spawnSync } = require('child_process') as typeof import('child_process');
  const bin = path.join(__dirname, '..', '..', 'bin', 'channel-distill.cjs');
  const r = spawnSync(process.execPath, [bin, 'sweep', '--name', 'x', '--methods', 'nope', '--runs', runs], { encoding: 'utf8' });
  assert.is(r.status, 2, r.stderr + r.stdout);
  assert.match(r.stderr + r.stdout, /unknown method preset 'nope'/);
  assert.not.match(r.stderr + r.stdout, /Cannot find module/);
});

test('every bad option or config fails with a clear error before any work', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-cli-cfg-'));
  const badConfig = path.join(dir, 'bad.json');
  fs.writeFileSync(badConfig, JSON.stringify({ itres: 5 }));
  const termsConfig = path.join(dir, 'terms.json');
  fs.writeFileSync(termsConfig, JSON.stringify({ terms: [{ method: 'cwd', on: 'feature', weight: 3 }] }));
  const backendBefore = currentBackend();
  for (const [argv0, pattern] of BAD) {
    const argv = argv0.map((a) => a.replace('@BADCONFIG', badConfig).replace('@TERMSCONFIG', termsConfig).replace('@TEACHER', teacher));
    const needsData = !argv.includes('--data') && ['train-student', 'train-teacher', 'distill', 'sweep', 'demo'].includes(argv[0]);
    const full = [...argv, ...(needsData ? ['--data', data] : []), ...(['train-student', 'train-teacher', 'distill', 'sweep', 'merge', 'demo'].includes(argv[0]) && !argv.includes('--help') ? ['--runs', runs] : [])];
    if (argv[0] === 'demo' && !argv.includes('--teacher') && !argv.includes('--method')) full.push('--teacher', teacher);
    const r = await capture(() => main(full));
    assert.ok(r.code !== 0, `${full.join(' ')} should fail`);
    assert.match(r.err, pattern, `${full.join(' ')}\n  got: ${r.err}`);
    assert.not.match(r.err, /\n\s+at /, `no stack trace for ${full.join(' ')}`);
  }
  assert.equal(fs.readdirSync(runs).filter((f) => !f.startsWith('.')), [], 'no run folder was created');
  assert.is(currentBackend(), backendBefore, 'no backend was started');
});

test.run();
