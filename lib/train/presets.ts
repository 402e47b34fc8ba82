/**
 * Method presets: the user-facing method names. Each is a named term list for a comparison of the
 * paper (Table 2 rows, Table 4 ablation), used by sweeps (`--methods`), the demo and the notebooks;
 * the term configs inside name lib/distill registry methods. Weights: the paper's α = 3, T = 4 for
 * CWD (Fig. 3 best); the other Table 2 methods use the loss weight of their reference
 * implementation, read from their descriptor's `referenceWeight` (their losses are normalised
 * differently). Nothing here was tuned on this project's results.
 *
 * Stored results name their cells by these presets: a preset's term list and description must not
 * change (test/train/presets.test.ts pins them); add a new preset instead.
 */
import { getMethod } from '../distill/registry';
import type { TermConfig } from './terms';

/** The reference loss weight of a registry method (lib/distill descriptor). */
function ref(method: string): number {
  const w = getMethod(method).referenceWeight;
  if (!w) throw new Error(`method '${method}' has no reference weight`);
  return w.value;
}

export const METHOD_PRESETS: Record<string, { description: string; terms: TermConfig[] }> = {
  baseline: { description: 'student alone (CE only)', terms: [] },
  pi: { description: `pixel-wise KD on logits, T = 1, weight ${ref('pi')} (SKD)`, terms: [{ method: 'pi', on: 'logits', weight: ref('pi'), temperature: 1 }] },
  at: { description: `attention transfer on features, weight ${ref('at')} (CIRKD)`, terms: [{ method: 'at', on: 'feature', weight: ref('at') }] },
  pa: { description: `pairwise affinity on features, weight ${ref('pa')} (SKD script)`, terms: [{ method: 'pa', on: 'feature', weight: ref('pa') }] },
  ifvd: { description: `IFVD on features, weight ${ref('ifvd')} (IFVD/TorchDistiller)`, terms: [{ method: 'ifvd', on: 'feature', weight: ref('ifvd') }] },
  holistic: { description: `holistic WGAN-GP term on logits, weight ${ref('holistic')} (SKD)`, terms: [{ method: 'holistic', on: 'logits', weight: ref('holistic') }] },
  'cwd-feature': { description: 'CWD on the feature map (1×1 aligner), T = 4, α = 3', terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }] },
  'cwd-logits': { description: 'CWD on the score map, T = 4, α = 3', terms: [{ method: 'cwd', on: 'logits', weight: 3, temperature: 4 }] },
  'cwd-both': {
    description: 'CWD on the feature map and on the score map (Table 2 last row), T = 4, α = 3 each',
    terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }, { method: 'cwd', on: 'logits', weight: 3, temperature: 4 }],
  },
  'channel-mlp': {
    description: 'channel-wise transformation (Liu et al. 2023): a 1×1-conv MLP on the student feature + MSE to the teacher feature, weight 1',
    terms: [{ method: 'mse', on: 'feature', weight: 1, aligner: 'channel-mlp' }],
  },
  // Table 4 ablation (normalisation × divergence on the feature map, weight 3, T = 4 where it applies)
  'abl-spatial-kl': { description: 'Table 4: spatial (per-pixel) softmax + KL on features', terms: [{ method: 'spatial-kl', on: 'feature', weight: 3, temperature: 4 }] },
  'abl-mse': { description: 'Table 4: no normalisation, MSE on features', terms: [{ method: 'mse', on: 'feature', weight: 3 }] },
  'abl-channel-mse': { description: 'Table 4: channel softmax + MSE on features', terms: [{ method: 'channel-mse', on: 'feature', weight: 3, temperature: 4 }] },
  'abl-channel-bhat': { description: 'Table 4: channel softmax + Bhattacharyya on features', terms: [{ method: 'bhattacharyya', on: 'feature', weight: 3, temperature: 4 }] },
  'abl-channel-kl': { description: 'Table 4: channel softmax + KL on features (= CWD)', terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }] },
};

/**
 * The term list of a method name: a preset name, optionally with `@WEIGHT`, which sets the weight (α) of
 * every term of the preset (`at@100`, `cwd-both@1`). Weight searches and protocols with a tuned weight
 * per method name their cells this way, so the weight is visible in every cell id and results table.
 * @example methodPreset('cwd-feature@10') // [{method: 'cwd', on: 'feature', weight: 10, temperature: 4}]
 */
export function methodPreset(name: string): TermConfig[] {
  const at = name.lastIndexOf('@');
  const base = at < 0 ? name : name.slice(0, at);
  const p = METHOD_PRESETS[base];
  if (!p) throw new Error(`unknown method preset '${base}'; valid: ${Object.keys(METHOD_PRESETS).join(', ')} (optionally with @WEIGHT, e.g. at@100)`);
  const terms = JSON.parse(JSON.stringify(p.terms)) as TermConfig[];
  if (at >= 0) {
    const w = name.slice(at + 1);
    const weight = Number(w);
    if (!/^[0-9.eE+-]+$/.test(w) || !Number.isFinite(weight) || weight < 0) throw new Error(`method '${name}': the weight after @ must be a finite number >= 0, got '${w}'`);
    if (terms.length === 0) throw new Error(`method '${name}': preset '${base}' has no distillation term to weight`);
    for (const t of terms) t.weight = weight;
  }
  return terms;
}
