/**
 * A small seeded random number generator whose whole state is one uint32, so it can be saved in a
 * checkpoint and restored exactly (mulberry32). Used for batch sampling, GAN interpolation
 * coefficients and anything else in training that draws random numbers in JS.
 *
 * @example
 *   const rng = new Rng(42);
 *   rng.next();            // float in [0, 1)
 *   const s = rng.state;   // save …
 *   const again = Rng.fromState(s);  // … and continue the same stream
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    // mix the seed so that nearby seeds give unrelated streams
    this.s = hashInts([Math.floor(seed) >>> 0, 0x9e3779b9]);
  }

  static fromState(state: number): Rng {
    const r = new Rng(0);
    r.s = state >>> 0;
    return r;
  }

  get state(): number {
    return this.s >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** A uint32 seed for another generator (e.g. tf.randomUniform's seed). */
  seed(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }
}

/** Deterministic 32-bit hash of a list of integers (murmur3-style finaliser). */
export function hashInts(values: number[]): number {
  let h = 0x811c9dc5;
  for (const v of values) {
    h = Math.imul(h ^ (v >>> 0), 0x01000193) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b) >>> 0;
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h ^= h >>> 16;
  }
  return h >>> 0;
}
