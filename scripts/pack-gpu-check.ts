/**
 * Pack `npm run gpu-check` as a folder to copy to a GPU machine that has Node ≥ 20 but neither
 * internet nor this repository's node_modules:
 *
 *   npm run gpu-check:pack [-- --out DIR] [--libvulkan PATH | --no-libvulkan]
 *   scp -r dist/gpu-check gpu-host: && ssh gpu-host 'cd gpu-check && ./run.sh'
 *
 * The folder (≤ 60 MB, checked): `gpu-check.cjs` (esbuild bundle of scripts/gpu-check.ts with tfjs,
 * tfjs-backend-webgpu and the project's models/training code), `dawn.node` (from npm `webgpu`, for
 * the packing machine's platform), `run.sh` (puts `lib/` on LD_LIBRARY_PATH, then runs the check
 * with its arguments), `lib/libvulkan.so.1` when one is found (the Khronos Vulkan loader: GPU
 * containers often lack it; `apt-get download libvulkan1` + `dpkg-deb -x` gives one to pass with
 * --libvulkan), and README.txt.
 */
import * as fs from 'fs';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { dawnNodePath } from '../lib/backend/webgpu';

const MAX_BYTES = 60 * 2 ** 20;
const root = path.resolve(__dirname, '..');

function parse(argv: string[]): { out: string; libvulkan: string | null | 'auto' } {
  const o: { out: string; libvulkan: string | null | 'auto' } = { out: path.join(root, 'dist', 'gpu-check'), libvulkan: 'auto' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out') o.out = path.resolve(argv[++i] ?? '');
    else if (a === '--libvulkan') o.libvulkan = path.resolve(argv[++i] ?? '');
    else if (a === '--no-libvulkan') o.libvulkan = null;
    else if (a === '--help' || a === '-h') {
      console.log(fs.readFileSync(__filename, 'utf8').split('*/')[0].replace(/^\/\*\*?|^ \* ?/gm, ''));
      process.exit(0);
    } else throw new Error(`unknown option '${a}' (see --help)`);
  }
  return o;
}

function findLibvulkan(): string | null {
  for (const d of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib']) {
    const p = path.join(d, 'libvulkan.so.1');
    if (fs.existsSync(p)) return fs.realpathSync(p);
  }
  return null;
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir, { withFileTypes: true }).reduce((s, e) => {
    const p = path.join(dir, e.name);
    return s + (e.isDirectory() ? dirBytes(p) : fs.statSync(p).size);
  }, 0);
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  fs.rmSync(o.out, { recursive: true, force: true });
  fs.mkdirSync(path.join(o.out, 'lib'), { recursive: true });
  const esbuild = require('esbuild') as typeof import('esbuild');
  const bundle = path.join(o.out, 'gpu-check.cjs');
  const r = await esbuild.build({
    entryPoints: [path.join(root, 'scripts', 'gpu-check.ts')],
    bundle: true, platform: 'node', format: 'cjs', target: 'node20', outfile: bundle, logLevel: 'warning',
    // native or optional packages the check never loads (data decoding, notebooks, the tensorflow backend)
    external: ['sharp', 'danfojs-node', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', 'tslab', 'zeromq', 'webgpu'],
  });
  if (r.errors.length) throw new Error(`esbuild: ${r.errors.map((e) => e.text).join('; ')}`);
  fs.copyFileSync(path.join(root, 'scripts', 'gpu-check.ts'), path.join(o.out, 'gpu-check.ts.txt'));
  fs.copyFileSync(dawnNodePath(), path.join(o.out, 'dawn.node'));
  const lv = o.libvulkan === 'auto' ? findLibvulkan() : o.libvulkan;
  if (lv) {
    if (!fs.existsSync(lv)) throw new Error(`--libvulkan ${lv}: no such file`);
    fs.copyFileSync(lv, path.join(o.out, 'lib', 'libvulkan.so.1'));
  }
  fs.writeFileSync(path.join(o.out, 'run.sh'), [
    '#!/bin/sh',
    '# GPU check of channel-distill\'s webgpu backend (see README.txt). Arguments go to the check.',
    'here="$(cd "$(dirname "$0")" && pwd)"',
    '# the bundled Vulkan loader is a fallback: a system libvulkan.so.1 is found first',
    'export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$here/lib"',
    'exec node "$here/gpu-check.cjs" "$@"',
    '',
  ].join('\n'), { mode: 0o755 });
  fs.writeFileSync(path.join(o.out, 'README.txt'), [
    'channel-distill GPU check (webgpu backend: TensorFlow.js on Dawn). Needs Node.js >= 20 and glibc >= 2.34.',
    `Packed ${new Date().toISOString()} for ${process.platform}-${process.arch} (dawn.node is platform-specific).`,
    '',
    '  ./run.sh                      # report: machine, adapters, agreement with cpu, KD step times at 128x128x4 and 256x512x8',
    '  ./run.sh --sizes 256x512x8 --steps 10 --json-out result.json',
    '  ./run.sh --allow-software     # accept a CPU implementation (llvmpipe): correctness only',
    '  ./run.sh --help',
    '',
    'It writes gpu-check-<date>.json in the current directory and exits 1 when a check failed.',
    'Vulkan (NVIDIA): the driver\'s ICD manifest (nvidia_icd.json) must be visible; in a container set',
    'NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics. lib/libvulkan.so.1 (the Khronos loader) is',
    `${lv ? 'included' : 'NOT included (none was found when packing): install libvulkan1 on the GPU machine'}.`,
    'The source of the check is gpu-check.ts.txt.',
    '',
  ].join('\n'));
  const bytes = dirBytes(o.out);
  const files = fs.readdirSync(o.out).map((f) => `${f} ${(dirBytes2(path.join(o.out, f)) / 2 ** 20).toFixed(1)} MB`);
  console.log(`packed ${o.out}: ${(bytes / 2 ** 20).toFixed(1)} MB (${files.join(', ')})${lv ? '' : '; no libvulkan.so.1 found to include (--libvulkan PATH)'}`);
  if (bytes > MAX_BYTES) throw new Error(`the folder is ${(bytes / 2 ** 20).toFixed(1)} MB, over the 60 MB limit`);
  // smoke test: the bundle loads and parses its options without node_modules
  execFileSync(process.execPath, [bundle, '--help'], { cwd: o.out, stdio: 'ignore', env: { ...process.env, NODE_PATH: '' } });
}

function dirBytes2(p: string): number {
  return fs.statSync(p).isDirectory() ? dirBytes(p) : fs.statSync(p).size;
}

main().catch((e) => {
  console.error(`gpu-check:pack: ${(e as Error).message}`);
  process.exit(1);
});
