/**
 * Tables with danfojs (`danfojs-node`): rows → DataFrame → HTML (best value per column marked) and CSV.
 *
 * danfojs-node depends on `@tensorflow/tfjs-node`, which package.json maps to plain
 * `@tensorflow/tfjs` 4.22 by an npm override (see environment.md): loading it does not change
 * the TensorFlow.js backend in use. It is loaded lazily (~1.5 s) on first use.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The danfojs-node module (typed loosely: its bundled types pull in tfjs-node). */
export function danfo(): any {
  return require('danfojs-node');
}

export type Row = Record<string, string | number | null>;

/** A danfojs DataFrame from row objects (all rows must have the same keys). */
export function dataFrame(rows: Row[]): any {
  if (!Array.isArray(rows) || rows.length === 0) throw new Error('dataFrame: no rows');
  const keys = Object.keys(rows[0]);
  rows.forEach((r, i) => {
    const k = Object.keys(r);
    if (k.length !== keys.length || k.some((x) => !keys.includes(x))) {
      throw new Error(`dataFrame: row ${i} has columns [${k.join(', ')}], row 0 has [${keys.join(', ')}]`);
    }
  });
  const dfd = danfo();
  return new dfd.DataFrame(rows.map((r) => keys.map((k) => (r[k] === null ? NaN : r[k]))), { columns: keys });
}

export interface TableHTMLOptions {
  caption?: string;
  /** Columns in which to mark the best value in bold (default: every numeric column). */
  markColumns?: string[];
  /** 'max' (default) or 'min' is best. */
  best?: 'max' | 'min';
  /** Decimal places for numbers (default 2). */
  digits?: number;
  /** Multiply numbers by this before printing (e.g. 100 for IoU in %). */
  scale?: number;
}

function escapeHTML(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/**
 * HTML table of a DataFrame with the best value of each numeric column in bold (ties: all bold; a
 * column whose values are all equal gets no mark). Non-finite numbers print as '—'; columns of
 * integers print without decimals.
 * @example
 *   tableHTML(dataFrame([{method: 'student', road: 0.9}, {method: 'cwd', road: 0.95}]), {scale: 100})
 */
export function tableHTML(df: any, options: TableHTMLOptions = {}): string {
  const columns: string[] = df.columns;
  const rows: unknown[][] = df.values;
  const digits = options.digits ?? 2;
  const scale = options.scale ?? 1;
  const best = options.best ?? 'max';
  const numericCol = (j: number) => rows.every((r) => typeof r[j] === 'number');
  const mark = new Set((options.markColumns ?? columns.filter((_, j) => numericCol(j))));
  const bestOf: (number | undefined)[] = columns.map((c, j) => {
    if (!mark.has(c) || !numericCol(j)) return undefined;
    const vals = rows.map((r) => r[j] as number).filter(Number.isFinite);
    if (vals.length < 2 || Math.max(...vals) === Math.min(...vals)) return undefined; // nothing to single out
    return best === 'max' ? Math.max(...vals) : Math.min(...vals);
  });
  const integerCol = columns.map((_, j) => numericCol(j) && scale === 1 && rows.every((r) => !Number.isFinite(r[j] as number) || Number.isInteger(r[j] as number)));
  const cell = (v: unknown, j: number): string => {
    if (typeof v === 'number') {
      const text = Number.isFinite(v) ? (v * scale).toFixed(integerCol[j] ? 0 : digits) : '—';
      return bestOf[j] !== undefined && v === bestOf[j] ? `<td style="text-align:right"><b>${text}</b></td>` : `<td style="text-align:right">${text}</td>`;
    }
    return `<td style="text-align:left">${escapeHTML(String(v))}</td>`;
  };
  const head = columns.map((c) => `<th>${escapeHTML(c)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('\n');
  const caption = options.caption ? `<caption>${escapeHTML(options.caption)}</caption>` : '';
  return `<table class="channel-distill">${caption}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
}

/** Write a DataFrame as CSV (danfojs `toCSV`) to `file` (folders created); returns the CSV text. */
export function saveCSV(df: any, file: string): string {
  const csv: string = danfo().toCSV(df);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, csv);
  return csv;
}
