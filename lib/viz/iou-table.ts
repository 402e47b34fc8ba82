/**
 * Plain-text IoU tables for terminals and logs (the CLI's train, eval, predict and demo output).
 */
import type { FullResolutionEvalResult } from '../train/evaluate';

/** Per-class IoU table of one or more results (percent), plus mIoU; with two results, their difference. */
export function formatIoUTable(rows: { name: string; eval: { perClassIoU: number[]; mIoU: number; classNames?: string[] } }[]): string {
  const classes = rows[0].eval.classNames ?? rows[0].eval.perClassIoU.map((_, i) => `class ${i}`);
  const w = Math.max(14, ...rows.map((r) => r.name.length + 2));
  const fmt = (v: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1)).padStart(w);
  const lines = ['class'.padEnd(15) + rows.map((r) => r.name.padStart(w)).join('') + (rows.length === 2 ? 'diff'.padStart(8) : '')];
  classes.forEach((c, i) => {
    const vals = rows.map((r) => r.eval.perClassIoU[i]);
    const diff = rows.length === 2 ? (Number.isNaN(vals[1] - vals[0]) ? 'n/a' : (100 * (vals[1] - vals[0])).toFixed(1)).padStart(8) : '';
    lines.push(c.padEnd(15) + vals.map(fmt).join('') + diff);
  });
  const m = rows.map((r) => r.eval.mIoU);
  lines.push('mIoU'.padEnd(15) + m.map(fmt).join('') + (rows.length === 2 ? (100 * (m[1] - m[0])).toFixed(2).padStart(8) : ''));
  return lines.join('\n');
}

/** The benchmark's tables: class IoU and iIoU, category IoU and iIoU, with their averages (percent). */
export function formatCityscapesScores(r: FullResolutionEvalResult): string {
  const f = (v: number) => (Number.isNaN(v) ? 'n/a' : (100 * v).toFixed(1)).padStart(8);
  const lines = [`${'class'.padEnd(15)}${'IoU'.padStart(8)}${'iIoU'.padStart(8)}`];
  (r.classNames ?? []).forEach((c, i) => lines.push(c.padEnd(15) + f(r.perClassIoU[i]) + f(r.perClassIIoU[i])));
  lines.push(`${'Score Average'.padEnd(15)}${f(r.mIoU)}${f(r.mIIoU)}`, '', `${'category'.padEnd(15)}${'IoU'.padStart(8)}${'iIoU'.padStart(8)}`);
  r.categoryNames.forEach((c, i) => lines.push(c.padEnd(15) + f(r.perCategoryIoU[i]) + f(r.perCategoryIIoU[i])));
  lines.push(`${'Score Average'.padEnd(15)}${f(r.mCategoryIoU)}${f(r.mCategoryIIoU)}`);
  if (r.instanceNote) lines.push('', r.instanceNote);
  return lines.join('\n');
}
