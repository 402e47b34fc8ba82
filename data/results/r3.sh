#!/usr/bin/env bash
# Protocol r3 (data/results/README.md): protocol r2 at a 4x budget (1200 steps) for the baseline and the two
# CWD rows at the weights r2's search selected. Resumable like r2 (cells stored in data/results/r3/).
# Usage: bash data/results/r3.sh run|table     (R3_PARALLEL=N: N single-thread processes)
set -euo pipefail
cd "$(dirname "$0")/../.."
CD="npx channel-distill"
R=data/results
COMMON=(--model student-r18 --init data/student-init --downsample 1 --crop 128x128 --scale 0.5-2
  --iters 1200 --batch 4 --optimizer adam --lr 0.001 --weight-decay 0 --checkpoint-every 100
  --teacher data/teacher --runs runs)
case "${1:-}" in
  run)
    M=$(node -e 'const b = require(process.argv[1]); console.log(["baseline", b["cwd-feature"].method, b["cwd-logits"].method].join(","))' "$PWD/$R/r2-search-table-best.json")
    N=${R3_PARALLEL:-1}; mkdir -p runs; pids=()
    for ((i = 0; i < N; i++)); do
      CWD_WASM_THREADS=1 OMP_NUM_THREADS=1 $CD sweep --name research/r3 --grid '{"train.seed":[0,1,2]}' --methods "$M" \
        "${COMMON[@]}" --shard "$i/$N" --results $R/r3 > "runs/r3-shard$i.log" 2>&1 & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || { echo "r3: a shard failed (runs/r3-shard*.log)" >&2; exit 1; }; done
    bash "$0" table ;;
  table)
    $CD merge --from $R/r3 --out $R/r3-table ;;
  *) echo "usage: bash data/results/r3.sh run|table" >&2; exit 2 ;;
esac
