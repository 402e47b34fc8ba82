/**
 * `runs/<name>/`: config.json (config + hash, seed, backend, git commit), metrics.jsonl (one JSON
 * line per logged step), eval.json, checkpoints/.
 */
import * as fs from 'fs';
import * as path from 'path';
import { execSync } from 'child_process';
import { writeFileAtomic } from './checkpoint';
import { configHash } from './config';

/** The git commit of the working tree (with "-dirty" when it has changes), or null outside git. */
export function gitCommit(cwd = process.cwd()): string | null {
  try {
    const head = execSync('git rev-parse HEAD', { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return head;
  } catch {
    return null;
  }
}

export interface RunInfo {
  name: string;
  kind: string;
  config: unknown;
  configHash: string;
  seed: number;
  backend: string;
  gitCommit: string | null;
  createdAt: string;
  command?: string;
  [extra: string]: unknown;
}

export class RunDir {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  get checkpoints(): string {
    return path.join(this.dir, 'checkpoints');
  }

  /**
   * Write config.json, or check that an existing one has the same config hash (a resumed run must
   * not silently continue under a different config).
   */
  init(info: { name: string; kind: string; config: unknown; seed: number; backend: string; gitCommit?: string | null; [extra: string]: unknown }): RunInfo {
    fs.mkdirSync(this.dir, { recursive: true });
    const hash = configHash(info.config);
    const file = path.join(this.dir, 'config.json');
    if (fs.existsSync(file)) {
      const prev = JSON.parse(fs.readFileSync(file, 'utf8')) as RunInfo;
      if (prev.configHash !== hash) {
        throw new Error(`run ${this.dir} already exists with a different config (hash ${prev.configHash}, now ${hash}): use another --name or delete the folder`);
      }
      return prev;
    }
    const full: RunInfo = { ...info, configHash: hash, gitCommit: info.gitCommit ?? gitCommit(), createdAt: new Date().toISOString() };
    writeFileAtomic(file, JSON.stringify(full, null, 2) + '\n');
    return full;
  }

  /** Append one metrics record. On resume, lines past the checkpoint step are dropped first (see `truncateMetrics`). */
  appendMetrics(record: Record<string, unknown>): void {
    fs.appendFileSync(path.join(this.dir, 'metrics.jsonl'), JSON.stringify(record) + '\n');
  }

  /** Keep only metrics lines with step <= `step` (the steps after a checkpoint are re-run on resume). */
  truncateMetrics(step: number): void {
    const file = path.join(this.dir, 'metrics.jsonl');
    if (!fs.existsSync(file)) return;
    const keep = fs.readFileSync(file, 'utf8').split('\n').filter((l) => {
      if (!l.trim()) return false;
      try {
        return (JSON.parse(l) as { step: number }).step <= step;
      } catch {
        return false; // a line cut by a kill
      }
    });
    writeFileAtomic(file, keep.map((l) => l + '\n').join(''));
  }

  readMetrics(): Record<string, number>[] {
    const file = path.join(this.dir, 'metrics.jsonl');
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  }

  writeJSON(name: string, value: unknown): void {
    fs.mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(path.join(this.dir, name), JSON.stringify(value, null, 2) + '\n');
  }

  readJSON<T>(name: string): T | null {
    const file = path.join(this.dir, name);
    return fs.existsSync(file) ? (JSON.parse(fs.readFileSync(file, 'utf8')) as T) : null;
  }
}
