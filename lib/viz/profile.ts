/**
 * Notebook budget profiles and parameters. The notebooks read `CWD_PROFILE` in their parameters cell:
 * `quick` (tiny budgets: CI runs all five notebooks in minutes; the numbers only show that the code runs),
 * `medium` (protocol r2's cells, one seed: meaningful numbers in 5–10 minutes) or `full` (the same cells
 * with three seeds). Unset means `quick`, so opening a notebook never starts long training by surprise.
 */
export const NOTEBOOK_PROFILES = ['quick', 'medium', 'full'] as const;
export type NotebookProfile = (typeof NOTEBOOK_PROFILES)[number];

export function notebookProfile(env: NodeJS.ProcessEnv = process.env): NotebookProfile {
  const v = env.CWD_PROFILE;
  if (v === undefined || v === '') return 'quick';
  if ((NOTEBOOK_PROFILES as readonly string[]).includes(v)) return v as NotebookProfile;
  throw new Error(`CWD_PROFILE=${JSON.stringify(v)}: use 'quick' (a smoke run, minutes), 'medium' (one seed of the research cells, 5-10 min) or 'full' (three seeds)`);
}

/**
 * Pick the value for the current profile; `medium` falls back to `full` when not given.
 * @example byProfile({quick: 20, full: 2000})   // 2000 under CWD_PROFILE=medium or full
 */
export function byProfile<T>(values: { quick: T; medium?: T; full: T }, profile: NotebookProfile = notebookProfile()): T {
  return profile === 'medium' ? (values.medium !== undefined ? values.medium : values.full) : values[profile];
}

/**
 * A notebook's parameters cell (papermill style): the defaults, overridden by the JSON object in
 * `CWD_PARAMS` (set by `npm run notebooks -- --param name=value`). An unknown name, or a value whose
 * type differs from the default's (number, string, boolean, array, object), is an error naming both.
 * @example
 *   const P = notebookParameters({ steps: 300, seeds: [0], methods: ['baseline', 'cwd-logits@0.3'] });
 *   // CWD_PARAMS='{"steps": 100}' → { steps: 100, seeds: [0], methods: [...] }
 */
export function notebookParameters<T extends Record<string, unknown>>(defaults: T, env: NodeJS.ProcessEnv = process.env): T {
  const raw = env.CWD_PARAMS;
  if (raw === undefined || raw.trim() === '') return { ...defaults };
  let given: unknown;
  try {
    given = JSON.parse(raw);
  } catch (e) {
    throw new Error(`CWD_PARAMS is not JSON (${(e as Error).message}): ${raw.slice(0, 200)}`);
  }
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw new Error(`CWD_PARAMS must be a JSON object of parameter values, got ${raw.slice(0, 200)}`);
  const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(given as Record<string, unknown>)) {
    if (!(k in defaults)) throw new Error(`CWD_PARAMS: unknown parameter '${k}' (this notebook's parameters: ${Object.keys(defaults).join(', ')})`);
    const want = kind(defaults[k]);
    if (want !== 'null' && kind(v) !== want) throw new Error(`CWD_PARAMS: parameter '${k}' must be a${want === 'array' || want === 'object' ? 'n' : ''} ${want} like its default ${JSON.stringify(defaults[k])}, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  return out as T;
}
