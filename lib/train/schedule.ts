/**
 * Learning-rate schedules.
 *
 * The paper (and mmseg / PSPNet) uses the "poly" policy: lr(iter) = base · (1 − iter/max)^power with
 * power 0.9, evaluated at the 0-based iteration before the update (so the first step uses `base`,
 * and the last one a small positive value). An optional linear warm-up ramps from
 * `warmupRatio·lr` to the poly value over `warmupIters` steps (the references use none for
 * Cityscapes; it helps very short CPU runs stay stable).
 *
 * @example
 *   polyLR({baseLR: 0.01, maxIters: 100}, 0)   // 0.01
 *   polyLR({baseLR: 0.01, maxIters: 100}, 50)  // 0.01 · 0.5^0.9 ≈ 0.005359
 */
export interface PolyLROptions {
  baseLR: number;
  maxIters: number;
  /** Exponent of the poly decay (paper: 0.9). */
  power?: number;
  /** Floor of the learning rate (mmseg min_lr; default 0). */
  minLR?: number;
  warmupIters?: number;
  warmupRatio?: number;
}

export function polyLR(o: PolyLROptions, iter: number): number {
  const power = o.power ?? 0.9;
  const minLR = o.minLR ?? 0;
  if (!(o.maxIters > 0)) throw new Error(`polyLR: maxIters must be > 0, got ${o.maxIters}`);
  const progress = Math.min(Math.max(iter, 0), o.maxIters) / o.maxIters;
  let lr = (o.baseLR - minLR) * Math.pow(1 - progress, power) + minLR;
  const warm = o.warmupIters ?? 0;
  if (warm > 0 && iter < warm) {
    const ratio = o.warmupRatio ?? 0.1;
    const k = (1 - iter / warm) * (1 - ratio);
    lr = lr * (1 - k);
  }
  return lr;
}
