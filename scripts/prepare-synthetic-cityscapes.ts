/**
 * Write the synthetic Cityscapes dataset (lib/cityscapes/synthetic.ts) in the real Cityscapes layout.
 *
 *   npx tsx scripts/prepare-synthetic-cityscapes.ts [--out DIR] [--seed N] [--train N] [--val N]
 *       [--test N] [--width W] [--height H] [--cities N] [--train-ids] [--color] [--help]
 *
 * Defaults: --out data/synthetic-cityscapes --seed 1 --train 300 --val 60 --width 512 --height 256 --cities 3
 */
import * as path from 'path';
import { defaultSyntheticOptions, formatClassFrequencies, generateSyntheticCityscapes, SyntheticCityscapesOptions } from '../lib/cityscapes/synthetic';

export const PREPARE_USAGE = `Usage: prepare-synthetic-cityscapes [options]

Writes a synthetic street-scene dataset in the Cityscapes layout:
  <out>/leftImg8bit/{train,val}/{city}/{city}_{seq}_000019_leftImg8bit.png
  <out>/gtFine/{train,val}/{city}/{city}_{seq}_000019_gtFine_labelIds.png

Options:
  --out DIR      output root (default: data/synthetic-cityscapes)
  --seed N       master seed (default: 1); output is a pure function of the options
  --train N      train frames (default: 300)
  --val N        val frames (default: 60)
  --test N       test frames (default: 0)
  --width W      image width (default: 512)
  --height H     image height (default: 256)
  --cities N     cities per split, 1..4 (default: 3)
  --train-ids    also write *_gtFine_labelTrainIds.png
  --color        also write *_gtFine_color.png
  --quiet        no progress output
  --help         show this help`;

/** Parse argv (without node/script) into generator options; throws with a clear message. */
export function parsePrepareArgs(argv: string[]): { options: Partial<SyntheticCityscapesOptions>; help: boolean; quiet: boolean } {
  const options: Partial<SyntheticCityscapesOptions> = {};
  let help = false;
  let quiet = false;
  const ints: Record<string, keyof SyntheticCityscapesOptions> = {
    '--seed': 'seed', '--train': 'train', '--val': 'val', '--test': 'test', '--width': 'width', '--height': 'height', '--cities': 'cities',
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let value: string | undefined;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      value = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      const v = argv[++i];
      if (v === undefined || v.startsWith('--')) throw new Error(`prepare-synthetic-cityscapes: ${a} needs a value (see --help)`);
      return v;
    };
    if (a === '--help' || a === '-h') help = true;
    else if (a === '--quiet') quiet = true;
    else if (a === '--train-ids') options.writeTrainIds = true;
    else if (a === '--color' || a === '--colour') options.writeColor = true;
    else if (a === '--out') options.out = path.resolve(next());
    else if (a in ints) {
      const raw = next();
      const v = Number(raw);
      if (!Number.isInteger(v)) throw new Error(`prepare-synthetic-cityscapes: ${a} expects an integer, got "${raw}"`);
      (options as Record<string, unknown>)[ints[a]] = v;
    } else throw new Error(`prepare-synthetic-cityscapes: unknown option "${a}" (see --help)`);
  }
  return { options, help, quiet };
}

/** CLI entry (also used by lib/cli's `data` command if it wants to). */
export async function prepareSyntheticCityscapesMain(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parsePrepareArgs(argv);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (parsed.help) {
    console.log(PREPARE_USAGE);
    return 0;
  }
  const o = { ...defaultSyntheticOptions(), ...parsed.options };
  const total = o.train + o.val + o.test;
  let last = 0;
  console.log(`synthetic Cityscapes: ${o.train} train + ${o.val} val${o.test ? ` + ${o.test} test` : ''} frames at ${o.width}x${o.height}, seed ${o.seed} -> ${o.out}`);
  const r = await generateSyntheticCityscapes({
    ...o,
    onProgress: parsed.quiet ? undefined : (done) => {
      const now = Date.now();
      if (now - last > 1000 || done === total) {
        last = now;
        process.stdout.write(`\r  ${done}/${total} frames`);
        if (done === total) process.stdout.write('\n');
      }
    },
  });
  console.log(`wrote ${total} frames in ${r.seconds.toFixed(1)} s (${(total / r.seconds).toFixed(1)} frames/s)`);
  console.log('class frequencies (% of valid pixels):');
  console.log(formatClassFrequencies(r.classFrequency));
  console.log(`ignored (trainId 255): ${Object.entries(r.ignoredFraction).map(([s, f]) => `${s} ${(100 * f).toFixed(1)}%`).join(', ')}`);
  return 0;
}

if (require.main === module) {
  prepareSyntheticCityscapesMain(process.argv.slice(2)).then(
    (code) => { process.exitCode = code; },
    (e) => { console.error(e instanceof Error ? e.message : e); process.exitCode = 1; },
  );
}
