/**
 * The training configuration (one object, `defaultTrainConfig()`), its validation and its hash.
 */
import * as crypto from 'crypto';
import { defaultOptimizerConfig, OptimizerConfig } from './optim';
import { TermConfig, validateTermConfigs } from './terms';

export interface TrainConfig {
  /** Seed of model init, batch sampling and every random draw in training. */
  seed: number;
  /** Number of optimiser steps (the poly schedule's max_iters). */
  iters: number;
  batchSize: number;
  /** Base learning rate (paper: 0.01 with SGD). */
  lr: number;
  /** Poly exponent (paper: 0.9). */
  lrPower: number;
  /** Linear warm-up steps (0 = none, as the paper). */
  warmupIters: number;
  optimizer: OptimizerConfig;
  /** Where the CE is computed: 'upsample' logits to the label size (paper) or 'downsample' labels. */
  lossMode: 'upsample' | 'downsample';
  /** Distillation terms (empty = a plain student/teacher run). */
  terms: TermConfig[];
  /** Checkpoint every N steps (0 = only at the end). */
  checkpointEvery: number;
  /** Checkpoints kept on disk. */
  keepCheckpoints: number;
  /** Print a log line every N steps (metrics.jsonl gets every step). */
  logEvery: number;
}

/** Paper defaults scaled for a CPU: SGD 0.9, wd 5e-4, lr 0.01, poly 0.9, batch 8. */
export function defaultTrainConfig(): TrainConfig {
  return {
    seed: 0,
    iters: 1000,
    batchSize: 8,
    lr: 0.01,
    lrPower: 0.9,
    warmupIters: 0,
    optimizer: defaultOptimizerConfig(),
    lossMode: 'upsample',
    terms: [],
    checkpointEvery: 100,
    keepCheckpoints: 2,
    logEvery: 10,
  };
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Merge a partial config onto the defaults and validate every field; unknown keys are errors.
 * @example
 *   resolveTrainConfig({iters: 200, terms: [{method: 'cwd', on: 'logits', weight: 3, temperature: 4}]})
 */
export function resolveTrainConfig(partial: Record<string, unknown> = {}, where = 'config'): TrainConfig {
  const base = defaultTrainConfig();
  for (const k of Object.keys(partial)) {
    if (!(k in base)) throw new Error(`${where}: unknown option '${k}' (known: ${Object.keys(base).join(', ')})`);
  }
  const optPartial = partial.optimizer;
  if (optPartial !== undefined && !isPlainObject(optPartial)) throw new Error(`${where}.optimizer must be an object`);
  const optimizer = { ...base.optimizer, ...(optPartial ?? {}) } as OptimizerConfig;
  for (const k of Object.keys(optPartial ?? {})) {
    if (!(k in base.optimizer)) throw new Error(`${where}.optimizer: unknown option '${k}' (known: ${Object.keys(base.optimizer).join(', ')})`);
  }
  const c = { ...base, ...partial, optimizer } as TrainConfig;
  const int = (name: keyof TrainConfig, min: number) => {
    const v = c[name] as unknown;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`${where}.${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  const num = (name: string, v: unknown, min: number, strict: boolean) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || (strict ? v <= min : v < min)) {
      throw new Error(`${where}.${name} must be a number ${strict ? '>' : '>='} ${min}, got ${JSON.stringify(v)}`);
    }
  };
  int('seed', 0);
  int('iters', 1);
  int('batchSize', 1);
  int('warmupIters', 0);
  int('checkpointEvery', 0);
  int('keepCheckpoints', 1);
  int('logEvery', 1);
  num('lr', c.lr, 0, true);
  num('lrPower', c.lrPower, 0, false);
  if (optimizer.type !== 'sgd' && optimizer.type !== 'adam') throw new Error(`${where}.optimizer.type must be "sgd" or "adam", got ${JSON.stringify(optimizer.type)}`);
  num('optimizer.momentum', optimizer.momentum, 0, false);
  if (optimizer.momentum >= 1) throw new Error(`${where}.optimizer.momentum must be < 1, got ${optimizer.momentum}`);
  num('optimizer.weightDecay', optimizer.weightDecay, 0, false);
  if (c.lossMode !== 'upsample' && c.lossMode !== 'downsample') throw new Error(`${where}.lossMode must be "upsample" or "downsample", got ${JSON.stringify(c.lossMode)}`);
  c.terms = validateTermConfigs(c.terms, `${where}.terms`);
  return c;
}

/** Canonical JSON (sorted keys) so that equal configs hash equally. */
export function canonicalJSON(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonicalJSON).join(',')}]`;
  if (isPlainObject(x)) {
    return `{${Object.keys(x).sort().filter((k) => x[k] !== undefined).map((k) => `${JSON.stringify(k)}:${canonicalJSON(x[k])}`).join(',')}}`;
  }
  return JSON.stringify(x);
}

/** First 12 hex digits of sha256(canonical JSON). */
export function configHash(x: unknown): string {
  return crypto.createHash('sha256').update(canonicalJSON(x)).digest('hex').slice(0, 12);
}
