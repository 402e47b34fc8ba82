/**
 * Run the PyTorch side of the benchmark (`bench/torch/bench_torch.py`) with an interpreter that
 * imports torch. Debian's `/usr/bin/python3` has `python3-torch`; the `python3` first on PATH may be
 * a pyenv one without it. `CWD_TORCH_PYTHON` overrides the interpreter.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface TorchInfo {
  python: string;
  torch: string;
  threads: number;
  mkldnn: boolean;
}

const SCRIPT = path.join(__dirname, 'torch', 'bench_torch.py');
let cached: { info: TorchInfo | null; why: string } | null = null;

/** The first interpreter that imports torch, or null with the reason ("torch not available: …"). */
export function findTorch(): { info: TorchInfo | null; why: string } {
  if (cached) return cached;
  const candidates = [process.env.CWD_TORCH_PYTHON, '/usr/bin/python3', 'python3'].filter(Boolean) as string[];
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', 'import torch,json;print(json.dumps({"torch":torch.__version__,"mkldnn":torch.backends.mkldnn.is_available()}))'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (r.status === 0) {
      const j = JSON.parse(r.stdout.trim().split('\n').pop() as string);
      cached = { info: { python, torch: j.torch, threads: 0, mkldnn: j.mkldnn }, why: '' };
      return cached;
    }
    tried.push(`${python}: ${(r.error?.message ?? r.stderr.trim().split('\n').pop() ?? `exit ${r.status}`).slice(0, 120)}`);
  }
  cached = { info: null, why: `torch not available (tried ${tried.join('; ')}); install Debian's python3-torch or set CWD_TORCH_PYTHON` };
  return cached;
}

/** Run one mode of bench_torch.py with a JSON spec; returns its JSON result. Throws with its stderr on failure. */
export function runTorch<T = Record<string, unknown>>(spec: Record<string, unknown>, timeoutMs = 30 * 60_000): T {
  const found = findTorch();
  if (!found.info) throw new Error(found.why);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cwd-bench-'));
  const file = path.join(dir, 'spec.json');
  fs.writeFileSync(file, JSON.stringify(spec));
  try {
    const r = spawnSync(found.info.python, [SCRIPT, file], {
      encoding: 'utf8',
      timeout: timeoutMs,
      maxBuffer: 256 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (r.stderr) process.stderr.write(r.stderr.split('\n').filter((l) => l.startsWith('[torch]')).map((l) => l + '\n').join(''));
    if (r.status !== 0) {
      const tail = (r.stderr ?? '').trim().split('\n').slice(-6).join('\n');
      throw new Error(`bench/torch/bench_torch.py (${spec.mode}) failed${r.error ? `: ${r.error.message}` : ''}:\n${tail}`);
    }
    const lines = r.stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]) as T;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
