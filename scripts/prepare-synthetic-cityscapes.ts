/**
 * Write the synthetic Cityscapes dataset: the same as `npx channel-distill data` (or `npm run data`), the
 * one entry point of data generation (lib/cli/main.ts `data`, lib/data/prepare.ts). Kept so that older
 * instructions still work; every option of `channel-distill data --help` applies.
 *
 *   npx tsx scripts/prepare-synthetic-cityscapes.ts [--out DIR] [--seed N] [--train N] [--val N] [--test N]
 *       [--width W] [--height H] [--cities N] [--train-ids] [--color] [--quiet] [--force] [--help]
 */
import { main } from '../lib/cli/main';

/** Run `channel-distill data` with these arguments; returns the exit code. */
export function prepareSyntheticCityscapesMain(argv: string[]): Promise<number> {
  return main(['data', ...argv]);
}

if (require.main === module) {
  prepareSyntheticCityscapesMain(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
