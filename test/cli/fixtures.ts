/** Shared fixtures for the CLI/sweep tests: a tiny synthetic dataset and a fake teacher manifest. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { generateSyntheticCityscapes } from '../../lib/cityscapes/synthetic';

let cached: string | null = null;
/** 4 train + 2 val frames at 128×64 in the Cityscapes layout (generated once per process). */
export async function tinyDataset(): Promise<string> {
  if (cached) return cached;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'cd-tinydata-'));
  await generateSyntheticCityscapes({ out: root, seed: 3, train: 4, val: 2, width: 128, height: 64, cities: 2 });
  cached = root;
  return root;
}

/** Capture console output of an in-process CLI call. */
export async function capture(fn: () => Promise<number>): Promise<{ code: number; out: string; err: string }> {
  const o = console.log;
  const e = console.error;
  let out = '';
  let err = '';
  console.log = (...a: unknown[]) => { out += a.join(' ') + '\n'; };
  console.error = (...a: unknown[]) => { err += a.join(' ') + '\n'; };
  try {
    const code = await fn();
    return { code, out, err };
  } finally {
    console.log = o;
    console.error = e;
  }
}
