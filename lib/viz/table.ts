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
  /**
   * Cells to print in grey (e.g. the IoU of a class a student never predicts): called with the row
   * (column → raw value) and the column name. A muted cell is never marked best.
   */
  muted?: (row: Record<string, unknown>, column: string) => boolean;
  /** A line under the table (e.g. what grey cells mean, the number of seeds). */
  note?: string;
}

function escapeHTML(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Grey of muted cells (also in the note's legend). */
export const MUTED_COLOUR = '#9a9a9a';

/**
 * HTML table of a DataFrame with the best value of each numeric column in bold. Nothing is bold in a
 * column whose best value, as printed, is shared by two rows or more (a tie) or is 0 (e.g. an IoU
 * nobody reaches). Non-finite numbers print as '—'; columns of integers print without decimals;
 * `muted` cells print in grey; `note` adds a line under the table.
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
  const integerCol = columns.map((_, j) => numericCol(j) && scale === 1 && rows.every((r) => !Number.isFinite(r[j] as number) || Number.isInteger(r[j] as number)));
  const text = (v: number, j: number) => (Number.isFinite(v) ? (v * scale).toFixed(integerCol[j] ? 0 : digits) : '—');
  const rowObjects = rows.map((r) => Object.fromEntries(columns.map((c, j) => [c, r[j]])));
  const isMuted = (i: number, j: number) => options.muted?.(rowObjects[i], columns[j]) === true;
  const mark = new Set((options.markColumns ?? columns.filter((_, j) => numericCol(j))));
  // the row index of the best cell per column, or -1 (not a marked column, a tie as printed, or 0)
  const bestRow: number[] = columns.map((c, j) => {
    if (!mark.has(c) || !numericCol(j)) return -1;
    const cand = rows.map((r, i) => ({ i, v: r[j] as number })).filter(({ i, v }) => Number.isFinite(v) && !isMuted(i, j));
    if (cand.length < 2) return -1; // nothing to single out
    const top = cand.reduce((a, b) => ((best === 'max' ? b.v > a.v : b.v < a.v) ? b : a));
    const printed = Number(text(top.v, j));
    if (printed === 0) return -1;
    if (cand.filter(({ v }) => Number(text(v, j)) === printed).length > 1) return -1; // a tie as printed
    return top.i;
  });
  const cell = (v: unknown, i: number, j: number): string => {
    const style = (align: string) => `text-align:${align}${isMuted(i, j) ? `;color:${MUTED_COLOUR}` : ''}`;
    if (typeof v === 'number') {
      const t = text(v, j);
      return bestRow[j] === i ? `<td style="${style('right')}"><b>${t}</b></td>` : `<td style="${style('right')}">${t}</td>`;
    }
    return `<td style="${style('left')}">${escapeHTML(String(v))}</td>`;
  };
  const head = columns.map((c) => `<th>${escapeHTML(c)}</th>`).join('');
  const body = rows.map((r, i) => `<tr>${r.map((v, j) => cell(v, i, j)).join('')}</tr>`).join('\n');
  const caption = options.caption ? `<caption>${escapeHTML(options.caption)}</caption>` : '';
  const note = options.note ? `\n<p class="channel-distill-note" style="font-size:90%;margin-top:4px">${escapeHTML(options.note)}</p>` : '';
  return `<table class="channel-distill">${caption}\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>${note}`;
}

/** Write a DataFrame as CSV (danfojs `toCSV`) to `file` (folders created); returns the CSV text. */
export function saveCSV(df: any, file: string): string {
  const csv: string = danfo().toCSV(df);
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, csv);
  return csv;
}
