/**
 * The one entry point that writes the synthetic dataset (lib/cityscapes/synthetic.ts) in the Cityscapes
 * layout, used by `channel-distill data` (and `npm run data`, scripts/prepare-synthetic-cityscapes.ts):
 * skipped when the folder already holds a dataset (unless `force`), progress while it writes, and a
 * report of the class frequencies.
 */
import * as fs from 'fs';
import * as path from 'path';
import { defaultSyntheticOptions, formatClassFrequencies, generateSyntheticCityscapes, SYNTHETIC_MANIFEST, type SyntheticCityscapesOptions } from '../cityscapes/synthetic';

export interface PrepareSyntheticOptions extends Partial<SyntheticCityscapesOptions> {
  /** Regenerate even when `out` holds a dataset. */
  force?: boolean;
  /** No progress line. */
  quiet?: boolean;
}

/**
 * Write the synthetic dataset; returns false when it exists and was left alone (`force` regenerates).
 * @example await prepareSyntheticData({out: 'data/synthetic-cityscapes', train: 300, val: 60});
 */
export async function prepareSyntheticData(o: PrepareSyntheticOptions, log: (m: string) => void = console.log): Promise<boolean> {
  const { force, quiet, ...given } = o;
  const opts = { ...defaultSyntheticOptions(), ...given };
  if (opts.cities < 1 || opts.cities > 4) throw new Error(`data: --cities must be 1..4, got ${opts.cities}`);
  const out = path.resolve(opts.out);
  const manifest = path.join(out, SYNTHETIC_MANIFEST);
  if (!force && fs.existsSync(manifest)) {
    log(`data: ${opts.out} exists (${manifest}); use --force to regenerate`);
    return false;
  }
  const total = opts.train + opts.val + opts.test;
  let last = 0;
  log(`synthetic Cityscapes: ${opts.train} train + ${opts.val} val${opts.test ? ` + ${opts.test} test` : ''} frames at ${opts.width}x${opts.height}, seed ${opts.seed} -> ${out}`);
  const r = await generateSyntheticCityscapes({
    ...opts, out,
    onProgress: quiet ? undefined : (done) => {
      const now = Date.now();
      if (now - last > 1000 || done === total) {
        last = now;
        process.stderr.write(`\r  ${done}/${total} frames${done === total ? '\n' : ''}`);
      }
    },
  });
  log(`data: wrote ${total} frames to ${opts.out} in ${r.seconds.toFixed(1)} s (${(total / r.seconds).toFixed(1)} frames/s)`);
  log('class frequencies (% of valid pixels):');
  log(formatClassFrequencies(r.classFrequency));
  log(`ignored (trainId 255): ${Object.entries(r.ignoredFraction).map(([s, f]) => `${s} ${(100 * f).toFixed(1)}%`).join(', ')}`);
  return true;
}
