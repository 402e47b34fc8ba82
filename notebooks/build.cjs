#!/usr/bin/env node
/**
 * Build the committed notebooks (`notebooks/NN-*.ipynb`) from their sources (`notebooks/src/NN-*.md`).
 *
 *   node notebooks/build.cjs            # every source
 *   node notebooks/build.cjs 03         # sources whose name contains '03'
 *
 * A source is plain text split into cells by marker lines: `%% md` starts a markdown cell and
 * `%% code` a TypeScript code cell; `%% code parameters` one tagged `parameters` (papermill's convention for
 * the cell holding a notebook's parameters; here they are overridden through CWD_PARAMS, see
 * lib/viz/profile.ts notebookParameters). Keeping the sources as text makes the notebooks easy to review
 * and diff; the .ipynb files carry the outputs (refresh them with
 * `npm run notebooks -- --profile full --in-place`). Building keeps the outputs of every code cell
 * whose source did not change, and clears the others.
 */
'use strict';
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');

const dir = __dirname;
const srcDir = path.join(dir, 'src');

function parse(text, file) {
  const cells = [];
  let current = null;
  for (const line of text.split('\n')) {
    const m = /^%% (md|code)( parameters)?\s*$/.exec(line);
    if (m) {
      current = { type: m[1] === 'md' ? 'markdown' : 'code', tags: m[2] ? ['parameters'] : [], lines: [] };
      cells.push(current);
    } else if (current) {
      current.lines.push(line);
    } else if (line.trim()) {
      throw new Error(`${file}: text before the first '%% md' / '%% code' marker: ${JSON.stringify(line)}`);
    }
  }
  return cells.map((c) => {
    while (c.lines.length && !c.lines[c.lines.length - 1].trim()) c.lines.pop();
    while (c.lines.length && !c.lines[0].trim()) c.lines.shift();
    return { type: c.type, tags: c.tags, source: c.lines.join('\n') };
  });
}

function toSourceLines(s) {
  const lines = s.split('\n');
  return lines.map((l, i) => (i < lines.length - 1 ? l + '\n' : l));
}

function build(file) {
  const name = path.basename(file, '.md');
  const out = path.join(dir, `${name}.ipynb`);
  const cells = parse(fs.readFileSync(file, 'utf8'), file);
  const previous = new Map();
  if (fs.existsSync(out)) {
    for (const c of JSON.parse(fs.readFileSync(out, 'utf8')).cells) {
      if (c.cell_type === 'code') previous.set([].concat(c.source).join(''), c);
    }
  }
  let kept = 0;
  const nb = {
    cells: cells.map((c, i) => {
      const id = crypto.createHash('sha1').update(`${name}:${i}:${c.type}`).digest('hex').slice(0, 12);
      if (c.type === 'markdown') return { cell_type: 'markdown', id, metadata: {}, source: toSourceLines(c.source) };
      const old = previous.get(c.source);
      if (old) kept++;
      return {
        cell_type: 'code', execution_count: old ? old.execution_count ?? null : null, id,
        metadata: { ...(old ? old.metadata ?? {} : {}), ...(c.tags.length ? { tags: c.tags } : {}) }, outputs: old ? old.outputs : [], source: toSourceLines(c.source),
      };
    }),
    metadata: {
      kernelspec: { display_name: 'TypeScript (channel-distill)', language: 'typescript', name: 'channel-distill' },
      language_info: { codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true }, file_extension: '.ts', mimetype: 'text/typescript', name: 'typescript' },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
  fs.writeFileSync(out, JSON.stringify(nb, null, 1) + '\n');
  const code = cells.filter((c) => c.type === 'code').length;
  console.log(`${path.relative(process.cwd(), out)}: ${cells.length} cells (${code} code, outputs kept for ${kept})`);
}

const filters = process.argv.slice(2);
const sources = fs.readdirSync(srcDir).filter((f) => f.endsWith('.md')).filter((f) => !filters.length || filters.some((s) => f.includes(s))).sort();
if (!sources.length) {
  console.error(`no sources matched in ${srcDir}`);
  process.exit(1);
}
sources.forEach((f) => build(path.join(srcDir, f)));
