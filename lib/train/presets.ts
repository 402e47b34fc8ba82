/**
 * Named term lists for the comparisons of the paper (Table 2 rows, Table 4 ablation), used by
 * sweeps (`--methods`) and the demo. Weights: the paper's α = 3, T = 4 for CWD (Fig. 3 best);
 * the other methods use the loss weight of their reference implementation (lib/distill registry
 * `referenceWeight`), since their losses are normalised differently. Nothing here was tuned on
 * this project's results.
 */
import type { TermConfig } from './terms';

export const METHOD_PRESETS: Record<string, { description: string; terms: TermConfig[] }> = {
  baseline: { description: 'student alone (CE only)', terms: [] },
  pi: { description: 'pixel-wise KD on logits, T = 1, weight 10 (SKD)', terms: [{ method: 'pi', on: 'logits', weight: 10, temperature: 1 }] },
  at: { description: 'attention transfer on features, weight 10000 (CIRKD)', terms: [{ method: 'at', on: 'feature', weight: 10000 }] },
  pa: { description: 'pairwise affinity on features, weight 0.5 (SKD script)', terms: [{ method: 'pa', on: 'feature', weight: 0.5 }] },
  ifvd: { description: 'IFVD on features, weight 200 (IFVD/TorchDistiller)', terms: [{ method: 'ifvd', on: 'feature', weight: 200 }] },
  holistic: { description: 'holistic WGAN-GP term on logits, weight 0.1 (SKD)', terms: [{ method: 'holistic', on: 'logits', weight: 0.1 }] },
  'cwd-feature': { description: 'CWD on the feature map (1×1 aligner), T = 4, α = 3', terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }] },
  'cwd-logits': { description: 'CWD on the score map, T = 4, α = 3', terms: [{ method: 'cwd', on: 'logits', weight: 3, temperature: 4 }] },
  // Table 4 ablation (normalisation × divergence on the feature map, weight 3, T = 4 where it applies)
  'abl-spatial-kl': { description: 'Table 4: spatial (per-pixel) softmax + KL on features', terms: [{ method: 'spatial-kl', on: 'feature', weight: 3, temperature: 4 }] },
  'abl-mse': { description: 'Table 4: no normalisation, MSE on features', terms: [{ method: 'mse', on: 'feature', weight: 3 }] },
  'abl-channel-mse': { description: 'Table 4: channel softmax + MSE on features', terms: [{ method: 'channel-mse', on: 'feature', weight: 3, temperature: 4 }] },
  'abl-channel-bhat': { description: 'Table 4: channel softmax + Bhattacharyya on features', terms: [{ method: 'bhattacharyya', on: 'feature', weight: 3, temperature: 4 }] },
  'abl-channel-kl': { description: 'Table 4: channel softmax + KL on features (= CWD)', terms: [{ method: 'cwd', on: 'feature', weight: 3, temperature: 4 }] },
};

export function methodPreset(name: string): TermConfig[] {
  const p = METHOD_PRESETS[name];
  if (!p) throw new Error(`unknown method preset '${name}'; valid: ${Object.keys(METHOD_PRESETS).join(', ')}`);
  return JSON.parse(JSON.stringify(p.terms)) as TermConfig[];
}
