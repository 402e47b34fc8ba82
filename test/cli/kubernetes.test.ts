/**
 * The Kubernetes manifests in deploy/kubernetes/: each validates against the batch/v1 Job JSON
 * schema fixture (test/fixtures/kubernetes/job-batch-v1.schema.json, a hand-written subset of the
 * Kubernetes OpenAPI; see its description) with Python's jsonschema and PyYAML (Debian packages
 * python3-jsonschema, python3-yaml), and the sweep Job's container command, run by a shell as a pod
 * would run it, hands the CLI a valid `sweep` command whose --shard covers exactly the Job's
 * completion indexes. The manifests are not run on a cluster here.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { COMMANDS, sweepGridFromOptions } from '../../lib/cli/main';
import { parseOptions } from '../../lib/cli/args';

const ROOT = path.resolve(__dirname, '..', '..');
const DIR = path.join(ROOT, 'deploy', 'kubernetes');
const SCHEMA = path.join(ROOT, 'test', 'fixtures', 'kubernetes', 'job-batch-v1.schema.json');

/** YAML documents → objects, each with its jsonschema errors against SCHEMA (Draft 7). */
const PY = `
import json, sys, yaml, jsonschema
schema = json.load(open(sys.argv[1]))
jsonschema.Draft7Validator.check_schema(schema)
v = jsonschema.Draft7Validator(schema)
out = []
for src in json.load(sys.stdin):
    for doc in yaml.safe_load_all(src):
        errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        out.append({"doc": doc, "errors": ["/".join(map(str, e.absolute_path)) + ": " + e.message for e in errs]})
print(json.dumps(out))
`;

// Debian's python (a python3 earlier on PATH, e.g. pyenv or conda, does not see Debian's packages)
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

interface Checked { doc: any; errors: string[] }
function validate(yamlTexts: string[]): Checked[] {
  const r = spawnSync(PYTHON, ['-c', PY, SCHEMA], { input: JSON.stringify(yamlTexts), encoding: 'utf8' });
  assert.is(r.status, 0, `python3 with yaml + jsonschema (Debian python3-yaml, python3-jsonschema): ${r.stderr}`);
  return JSON.parse(r.stdout) as Checked[];
}

const manifests = () => fs.readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();

test('every manifest in deploy/kubernetes validates against the batch/v1 Job schema', () => {
  assert.equal(manifests(), ['merge-job.yaml', 'sweep-indexed-job.yaml']);
  const checked = validate(manifests().map((f) => fs.readFileSync(path.join(DIR, f), 'utf8')));
  assert.is(checked.length, 2, 'one document per file');
  checked.forEach((c, i) => {
    assert.equal(c.errors, [], `${manifests()[i]}: ${c.errors.join('; ')}`);
    assert.is(c.doc.kind, 'Job');
  });
});

test('the schema catches what it should: misspelt fields, bad enum values, wrong types, missing required fields', () => {
  const good = fs.readFileSync(path.join(DIR, 'sweep-indexed-job.yaml'), 'utf8');
  const variants: [string, RegExp][] = [
    [good.replace('completionMode: Indexed', 'completionMod: Indexed'), /spec: Additional properties are not allowed \('completionMod' was unexpected\)/],
    [good.replace('completionMode: Indexed', 'completionMode: indexed'), /spec\/completionMode: 'indexed' is not one of/],
    [good.replace('completions: 21', 'completions: "21"'), /spec\/completions: '21' is not of type 'integer'/],
    [good.replace('restartPolicy: Never', 'restartPolicy: Sometimes'), /restartPolicy: 'Sometimes' is not one of/],
    [good.replace('claimName: channel-distill-runs', 'readOnly: false'), /persistentVolumeClaim: 'claimName' is a required property/],
    [good.replace('memory: 16Gi', 'memory: 16 GB'), /requests\/memory: '16 GB' is not valid/],
    [good.replace('name: channel-distill-b400\n', 'name: Channel_Distill\n'), /metadata\/name: 'Channel_Distill' does not match/],
    [good.replace('apiVersion: batch/v1', 'apiVersion: batch/v2'), /apiVersion: 'batch\/v1' was expected/],
  ];
  const checked = validate(variants.map(([y]) => y));
  checked.forEach((c, i) => {
    assert.ok(variants[i][0] !== good, `variant ${i} changes the manifest`);
    assert.ok(c.errors.some((e) => variants[i][1].test(e)), `variant ${i}: expected ${variants[i][1]}, got ${JSON.stringify(c.errors)}`);
  });
});

test('the sweep Job: Indexed, each pod runs `sweep --shard <its index>/<completions>` over exactly `completions` cells; the merge Job merges that sweep', () => {
  const [merge, sweep] = validate(manifests().map((f) => fs.readFileSync(path.join(DIR, f), 'utf8'))).map((c) => c.doc);
  const spec = sweep.spec;
  assert.is(spec.completionMode, 'Indexed');
  assert.is(spec.template.spec.restartPolicy, 'Never', 'backoffLimitPerIndex needs restartPolicy Never');
  const n = spec.completions as number;
  assert.ok(spec.parallelism >= 1 && spec.parallelism <= n);
  const c = spec.template.spec.containers[0];
  // run the container's command as the pod would, with a stand-in npx that records its argv
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-k8s-'));
  const argvFile = path.join(tmp, 'argv.json');
  fs.writeFileSync(path.join(tmp, 'npx'), `#!/bin/sh\n"${process.execPath}" -e 'require("fs").writeFileSync(process.argv[1], JSON.stringify(process.argv.slice(2)))' "${argvFile}" "$@"\n`, { mode: 0o755 });
  const run = (cmd: string[], env: Record<string, string>) => {
    const r = spawnSync(cmd[0], cmd.slice(1), { env: { ...process.env, PATH: `${tmp}:${process.env.PATH}`, ...env }, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return JSON.parse(fs.readFileSync(argvFile, 'utf8')) as string[];
  };
  const argv = run([...c.command, ...c.args], { JOB_COMPLETION_INDEX: '5' });
  assert.equal(argv.slice(0, 2), ['channel-distill', 'sweep']);
  const o = parseOptions('sweep', argv.slice(2), COMMANDS.sweep.options);
  assert.is(o.shard, `5/${n}`, 'the shard is the pod\'s completion index over completions');
  const grid = sweepGridFromOptions(o);
  const cells = Object.values(grid).reduce((a, v) => a * v.length, 1);
  assert.is(cells, n, `${cells} cells in ${n} shards: one cell per index, no empty shard`);
  assert.is(o.runs, '/runs');
  const mounts = (d: any) => Object.fromEntries(d.spec.template.spec.containers[0].volumeMounts.map((m: any) => [m.mountPath, d.spec.template.spec.volumes.find((v: any) => v.name === m.name).persistentVolumeClaim.claimName]));
  const m = merge.spec.template.spec.containers[0];
  const mergeArgv = run(m.command, {});
  assert.equal(mergeArgv, ['channel-distill', 'merge', '--runs', '/runs', '--name', o.name]);
  assert.is(mounts(merge)['/runs'], mounts(sweep)['/runs'], 'merge reads the claim the sweep writes');
  assert.is(merge.spec.completionMode ?? 'NonIndexed', 'NonIndexed');
  fs.rmSync(tmp, { recursive: true, force: true });
});

test.run();
