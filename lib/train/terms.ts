/**
 * Distillation terms of Eq. 1: total = ℓ_CE + Σ_k weight_k · φ_k(student_k, teacher_k), configured as a
 * list (torchdistill style, each term logged under its own name):
 *
 *   [{method: 'cwd', on: 'feature', weight: 3, temperature: 4}, {method: 'pi', on: 'logits', weight: 10}]
 *
 * `on` picks the tap point: 'feature' (the map before the classifier) or 'logits' (the score map).
 * When student and teacher channels differ, a 1×1 conv aligner (the paper's) maps the student to the
 * teacher's channels; its weights are trained with the student and saved in checkpoints.
 */
import * as tf from '@tensorflow/tfjs';
import { checkTemperature } from '../distill/common';
import type { TapPoint } from '../distill/descriptor';

export type { TapPoint };

export interface TermConfig {
  /** Registry name of the method ('cwd', 'pi', 'at', 'pa', 'ifvd', 'holistic', …: lib/distill/registry.ts). */
  method: string;
  /** Which output of both networks the term compares. */
  on: TapPoint;
  /** α of Eq. 1. */
  weight: number;
  /** Any option of the method (temperature, …), passed to the loss. */
  [option: string]: unknown;
}

/** Tensors of one training step that the terms read. Teacher tensors carry no gradient. */
export interface StepTensors {
  images: tf.Tensor4D;
  labels: tf.Tensor3D;
  student: { feature: tf.Tensor4D; logits: tf.Tensor4D };
  teacher: { feature: tf.Tensor4D; logits: tf.Tensor4D };
}

/** One term of the total loss, with any trainable state of its own (aligner, discriminator). */
export interface LossTerm {
  /** Unique log name, e.g. 'cwd@feature'. */
  readonly name: string;
  readonly config: TermConfig;
  /** Variables trained by the STUDENT's optimiser (aligners). */
  studentVariables(): tf.Variable[];
  /** The unweighted term value (must be differentiable w.r.t. the student tensors). */
  compute(t: StepTensors): tf.Scalar;
  /**
   * Optional update after the student step (the holistic term trains its discriminator here on the
   * detached student output). Returns extra values to log, as numbers or scalar tensors (the
   * trainer reads those asynchronously and disposes them).
   */
  afterStudentStep?(t: StepTensors, step: number, seed: number): Record<string, number | tf.Scalar>;
  /** Tensors to checkpoint (aligner weights are saved with them), and their restore. */
  stateTensors(): tf.Tensor[];
  setState(tensors: tf.Tensor[], iterations: number[]): void;
  stateIterations(): number[];
  dispose(): void;
}

/** Unique names for a list of term configs: 'cwd@feature', 'cwd@logits', 'cwd@feature#2', … */
export function termNames(configs: TermConfig[]): string[] {
  const seen = new Map<string, number>();
  return configs.map((c) => {
    const base = `${c.method}@${c.on}`;
    const k = (seen.get(base) ?? 0) + 1;
    seen.set(base, k);
    return k === 1 ? base : `${base}#${k}`;
  });
}

/**
 * Validate the shape of a term config list (method names are checked against the registry by
 * `buildTerms`). Throws an Error naming the offending entry.
 */
export function validateTermConfigs(configs: unknown, where = 'terms'): TermConfig[] {
  if (!Array.isArray(configs)) throw new Error(`${where} must be a list like [{"method": "cwd", "on": "feature", "weight": 3}], got ${JSON.stringify(configs)}`);
  return configs.map((c, i) => {
    const at = `${where}[${i}]`;
    if (typeof c !== 'object' || c === null || Array.isArray(c)) throw new Error(`${at} must be an object, got ${JSON.stringify(c)}`);
    const o = c as Record<string, unknown>;
    if (typeof o.method !== 'string' || !o.method) throw new Error(`${at}.method must be a method name such as "cwd", got ${JSON.stringify(o.method)}`);
    if (o.on !== 'feature' && o.on !== 'logits') throw new Error(`${at}.on must be "feature" or "logits", got ${JSON.stringify(o.on)}`);
    if (typeof o.weight !== 'number' || !Number.isFinite(o.weight) || o.weight < 0) {
      throw new Error(`${at}.weight must be a finite number >= 0, got ${JSON.stringify(o.weight)}`);
    }
    if ('temperature' in o) checkTemperature(o.temperature, at);
    return o as TermConfig;
  });
}
