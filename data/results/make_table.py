#!/usr/bin/env python3
"""Render the merged sweep results (runs/<sweep>/results.json, written by `channel-distill merge`)
as the markdown table in data/results/README.md. Usage: python3 data/results/make_table.py runs/research/b400/results.json"""
import json, math, statistics, sys

CLASSES = None
d = json.load(open(sys.argv[1]))
rows = {}
for r in d['results']:
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
if d.get('missing'):
    print(f'\nNot finished (partial result): {", ".join(d["missing"])}')
