/**
 * The project's one seeded random number generator (mulberry32: a uint32 state, only 32-bit integer
 * math, so every platform draws the same numbers) and its two seed hashes.
 *
 * Two ways to start a stream, both kept bit-exact because stored results depend on them:
 * - `Rng.fromState(s)` starts at state `s` as is. The synthetic Cityscapes renderer and the input
 *   pipeline seed it with `hashSeed(seed, split, index)` (the generated dataset bytes depend on it).
 * - `new Rng(seed)` mixes the seed first (`hashInts([seed, 0x9e3779b9])`), so that nearby seeds give
 *   unrelated streams; training uses it (batch sampling, GAN interpolation seeds).
 * The whole state is `rng.state`, so a checkpoint can save it and `Rng.fromState` continues the stream.
 *
 * @example
 *   const a = Rng.fromState(hashSeed(42, 'train', 7));
 *   a.uniform(0.5, 2.0); a.intIn(0, 10); a.pick(['x', 'y']);
 *   const b = new Rng(42);
 *   b.next();                         // float in [0, 1)
 *   const again = Rng.fromState(b.state);   // … continues b's stream
 */
export class Rng {
  private s: number;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    this.s = hashInts([Math.floor(seed) >>> 0, 0x9e3779b9]);
  }

  /** A generator whose state is exactly `state` (no mixing). */
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

  /** Uniform float in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi], both ends included. */
  intIn(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /** One element of `xs`, uniformly. */
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }

  /** Standard normal (Box–Muller, two draws). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A uint32 seed for another generator (e.g. tf.randomUniform's seed). */
  seed(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }

  /** In-place Fisher–Yates shuffle of `xs` (returned). */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = xs[i];
      xs[i] = xs[j];
      xs[j] = t;
    }
    return xs;
  }

  /** A Fisher–Yates permutation of 0..n-1. */
  permutation(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}

/** Deterministic 32-bit hash of a list of integers (FNV-1a step + murmur3 finaliser per value). */
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

/** Mix any number of integers/strings into one 32-bit seed (FNV-1a over their text + murmur finaliser). */
export function hashSeed(...parts: Array<number | string>): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    const s = String(p);
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= 0x2f;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
