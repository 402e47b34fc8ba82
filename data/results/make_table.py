#!/usr/bin/env python3
"""Render the merged sweep results (runs/<sweep>/results.json, written by `channel-distill merge`)
as the markdown table in data/results/README.md. Usage: python3 data/results/make_table.py runs/research/b400/results.json [more results.json ...]
Several files (e.g. two sweeps over different seeds of the same methods) are pooled per method; "vs baseline"
uses the baseline rows of any of them."""
import json, math, statistics, sys

CLASSES = None
files = [json.load(open(p)) for p in sys.argv[1:]]
rows = {}
for r in [r for d in files for r in d['results']]:
    m = r['params'].get('method', '(none)')
    rows.setdefault(m, []).append((r['params'].get('train.seed'), r['mIoU'], r['perClassIoU'], r['meanStepSeconds']))
    CLASSES = r.get('classNames') or CLASSES
base = rows.get('baseline')
bmean = statistics.mean(x[1] for x in base) if base else None
print('| method | seeds | val mIoU (%) mean ± std | per seed | vs baseline | s/step |')
print('|---|---|---|---|---|---|')
for m, xs in rows.items():
    vals = [x[1] for x in xs]
    mean = statistics.mean(vals)
    std = statistics.stdev(vals) if len(vals) > 1 else float('nan')
    per = ', '.join(f'{100*v:.2f}' for v in vals)
    diff = '' if bmean is None or m == 'baseline' else f'{100*(mean-bmean):+.2f}'
    sps = statistics.mean(x[3] for x in xs)
    std_s = f' ± {100*std:.2f}' if not math.isnan(std) else ''
    print(f'| {m} | {",".join(str(x[0]) for x in xs)} | {100*mean:.2f}{std_s} | {per} | {diff} | {sps:.3f} |')
missing = [m for d in files for m in d.get('missing') or []]
if missing:
    print(f'\nNot finished (partial result): {", ".join(missing)}')
