/**
 * The budgets of this project, in one file: how long, how big and with which optimiser the demo, the
 * notebooks and the research protocol train. Everything else is a default of ./config.ts.
 *
 * - `DEMO_RECIPE`: `npm run demo`, one cell pair of protocol r2 (about 3 minutes on a 2-core CPU).
 * - `NOTEBOOK_RECIPES`: the notebooks' quick (CI smoke), medium (r2's cells, seed 0) and full (r2's cells, 3 seeds) profiles.
 * - `RESEARCH_RECIPES.r2`: protocol r2 of data/results/README.md (its commands: data/results/r2.sh,
 *   which a test keeps equal to `recipeFlags(RESEARCH_RECIPES.r2)`).
 *
 * Changing a recipe changes the config hash of the runs made with it (a new run folder, a new protocol).
 */
import * as path from 'path';
import { EXPERIMENT_DEFAULTS } from './config';

export interface ResearchRecipe {
  model: string;
  /** Model package the student starts from. */
  init: string;
  downsample: number;
  crop: [number, number];
  scale: [number, number];
  iters: number;
  batchSize: number;
  optimizer: 'sgd' | 'adam';
  lr: number;
  weightDecay: number;
  checkpointEvery: number;
  teacherDir: string;
  runsDir: string;
}

/** Research protocols (data/results/README.md). */
export const RESEARCH_RECIPES: Readonly<Record<'r2', Readonly<ResearchRecipe>>> = Object.freeze({
  r2: {
    model: EXPERIMENT_DEFAULTS.student, init: path.join('data', 'student-init'), downsample: 1, crop: [128, 128] as [number, number], scale: [0.5, 2] as [number, number],
    iters: 300, batchSize: 4, optimizer: 'adam' as const, lr: 0.001, weightDecay: 0, checkpointEvery: 100,
    teacherDir: EXPERIMENT_DEFAULTS.teacherDir, runsDir: EXPERIMENT_DEFAULTS.runsDir,
  },
});

export interface DemoRecipe {
  student: string;
  /** Model package that starts both students (undefined: a random init). */
  init?: string;
  iters: number;
  batchSize: number;
  crop?: [number, number];
  scale: [number, number];
  downsample: number;
  seed: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
}

/**
 * The demo: one cell pair of protocol r2 (seed 0): the baseline and the CWD student from the shipped student
 * init, 300 Adam steps of batch 4 on 128x128 crops of the full 512x256 frames. Its CWD method is not here but
 * read from the protocol's weight search (lib/train/demo.ts `demoMethod`).
 */
export const DEMO_RECIPE: Readonly<DemoRecipe> = Object.freeze({
  student: RESEARCH_RECIPES.r2.model, init: RESEARCH_RECIPES.r2.init, iters: RESEARCH_RECIPES.r2.iters, batchSize: RESEARCH_RECIPES.r2.batchSize,
  crop: RESEARCH_RECIPES.r2.crop, scale: RESEARCH_RECIPES.r2.scale, downsample: RESEARCH_RECIPES.r2.downsample, seed: 0,
  lr: RESEARCH_RECIPES.r2.lr, optimizer: RESEARCH_RECIPES.r2.optimizer,
});

export interface NotebookRecipe {
  profile: 'quick' | 'medium' | 'full';
  /** Where this profile's runs go (one folder per profile: quick runs never mix with full ones). */
  runsDir: string;
  /** Student preset of lib/models. */
  student: string;
  /** Model package the students start from (undefined: a random init). */
  init?: string;
  /** Integer shrink of the 512×256 synthetic frames (4 → 128×64). */
  downsample: number;
  trainLimit?: number;
  valLimit?: number;
  /** Random training crop [h, w] (none: whole frames). */
  crop?: [number, number];
  /** Random rescale range before the crop (undefined: the config default). */
  scale?: [number, number];
  iters: number;
  batchSize: number;
  /** Optimiser and base learning rate (poly schedule). */
  optimizer: 'adam' | 'sgd';
  lr: number;
  weightDecay?: number;
  seeds: number[];
  /** Steps between metric records (metrics.jsonl); progress lines print about six times per run. */
  logEvery: number;
  /** Steps between checkpoints (undefined: a quarter of the run). */
  checkpointEvery?: number;
}

const R2 = RESEARCH_RECIPES.r2;
/** A notebook profile that trains protocol r2's cells (data/results/README.md), with the given seeds. */
function r2Notebook(profile: 'medium' | 'full', seeds: number[]): NotebookRecipe {
  return {
    profile, runsDir: path.join(EXPERIMENT_DEFAULTS.runsDir, `notebooks-${profile}`), student: R2.model, init: R2.init, downsample: R2.downsample,
    crop: [...R2.crop] as [number, number], scale: [...R2.scale] as [number, number], iters: R2.iters, batchSize: R2.batchSize, optimizer: R2.optimizer,
    lr: R2.lr, weightDecay: R2.weightDecay, seeds, logEvery: 10, checkpointEvery: R2.checkpointEvery,
  };
}

/**
 * The notebooks' profiles (`CWD_PROFILE`):
 * - `quick`: a smoke run for CI (minutes for all five notebooks); its numbers only show that the code runs;
 * - `medium`: protocol r2's cell (student-r18 from data/student-init, 300 Adam steps on 128×128 crops), seed 0:
 *   one run per method, comparable with the committed r2 cells of seed 0 (5–10 minutes for all five);
 * - `full`: the same with seeds 0, 1, 2, i.e. protocol r2's cells themselves (mean ± std over seeds).
 */
export const NOTEBOOK_RECIPES: Readonly<Record<'quick' | 'medium' | 'full', Readonly<NotebookRecipe>>> = Object.freeze({
  quick: {
    profile: 'quick', runsDir: path.join(EXPERIMENT_DEFAULTS.runsDir, 'notebooks-quick'), student: 'student-r18-0.5', downsample: 4,
    trainLimit: 16, valLimit: 8, iters: 8, batchSize: 2, optimizer: 'adam', lr: 0.002, seeds: [0], logEvery: 4,
  },
  medium: r2Notebook('medium', [0]),
  full: r2Notebook('full', [0, 1, 2]),
});

/** The CLI flags of a research recipe, in the order data/results/r2.sh writes them. */
export function recipeFlags(r: ResearchRecipe): string[] {
  return [
    '--model', r.model, '--init', r.init, '--downsample', String(r.downsample), '--crop', `${r.crop[0]}x${r.crop[1]}`, '--scale', `${r.scale[0]}-${r.scale[1]}`,
    '--iters', String(r.iters), '--batch', String(r.batchSize), '--optimizer', r.optimizer, '--lr', String(r.lr), '--weight-decay', String(r.weightDecay),
    '--checkpoint-every', String(r.checkpointEvery), '--teacher', r.teacherDir, '--runs', r.runsDir,
  ];
}
