/**
 * Notebook budget profiles. The notebooks read `CWD_PROFILE` in their first cell:
 * `quick` (tiny budgets: CI runs all five notebooks in minutes) or `full` (the research numbers).
 * Unset means `quick`, so opening a notebook never starts hours of training by surprise.
 */
export type NotebookProfile = 'quick' | 'full';

export function notebookProfile(env: NodeJS.ProcessEnv = process.env): NotebookProfile {
  const v = env.CWD_PROFILE;
  if (v === undefined || v === '') return 'quick';
  if (v === 'quick' || v === 'full') return v;
  throw new Error(`CWD_PROFILE=${JSON.stringify(v)}: use 'quick' (small budgets, minutes) or 'full' (research budgets)`);
}

/** Pick the value for the current profile. @example byProfile({quick: 20, full: 2000}) */
export function byProfile<T>(values: { quick: T; full: T }, profile: NotebookProfile = notebookProfile()): T {
  return values[profile];
}
