#!/usr/bin/env bash
# Protocol r2 (data/results/README.md): the exact commands of each phase, in order. Every phase is a sweep
# with a results folder, so it is resumable: run the same phase again on any machine and it skips the cells
# already stored in data/results/. Usage: bash data/results/r2.sh pilot|search2|table2|search4|table4|grid|tables
set -euo pipefail
cd "$(dirname "$0")/../.."
CD="npx channel-distill"
ITERS=${R2_ITERS:-300}   # the budget; the pilot rule in data/results/README.md decides it
COMMON=(--model student-r18 --init data/student-init --downsample 1 --crop 128x128 --scale 0.5-2
  --iters "$ITERS" --batch 4 --optimizer adam --lr 0.001 --weight-decay 0 --checkpoint-every 100
  --teacher data/teacher --runs runs)
R=data/results
# R2_SHARD=i/n runs only every n-th cell of a phase (several processes or machines share one phase)
SHARD=(); if [ -n "${R2_SHARD:-}" ]; then SHARD=(--shard "$R2_SHARD"); fi

# the weight search's candidates: {0.1, 1, 10} x the preset's weight
cands() { # preset weight -> preset@w/10,preset@w,preset@10w
  node -e 'const [p, w] = process.argv.slice(1); const f = (x) => String(+(x).toPrecision(6)); console.log([0.1, 1, 10].map((m) => `${p}@${f(m * w)}`).join(","))' "$1" "$2"
}
# the selected weight of each preset (after a search phase), as a --methods list
best() { # preset... -> preset@w,...
  $CD merge --from $R/r2-search --out $R/r2-search-table --best-weights > /dev/null
  node -e 'const b = require(process.argv[1]); console.log(process.argv.slice(2).map((p) => { if (!b[p]) throw new Error(`no search result for ${p}`); return b[p].method; }).join(","))' \
    "$PWD/$R/r2-search-table-best.json" "$@"
}

# a search phase: methods on the held-out train frames, one seed, then the choice per preset
search() { # sweep-name methods
  $CD sweep --name "research/$1" --holdout 60 --methods "$2" --seeds 100 "${COMMON[@]}" "${SHARD[@]}" --results $R/r2-search
  $CD merge --from $R/r2-search --out $R/r2-search-table --best-weights
}
# a table phase: methods on val, seeds 0, 1, 2 (seed-major, so a partial run has whole seeds)
table() { # sweep-name methods [results-folder] [extra sweep flags...]
  local name=$1 methods=$2 out=${3:-$R/r2}; shift 3 || shift $#
  $CD sweep --name "research/$name" --grid '{"train.seed":[0,1,2]}' --methods "$methods" "$@" "${COMMON[@]}" "${SHARD[@]}" --results "$out"
}

case "${1:-}" in
  pilot)
    $CD sweep --name research/r2-pilot --methods baseline --seeds 0,1,2 "${COMMON[@]}" "${SHARD[@]}" --results $R/r2-pilot
    $CD merge --from $R/r2-pilot --out $R/r2-pilot-table ;;
  search2)
    M="baseline,$(cands cwd-feature 3),$(cands cwd-logits 3),$(cands cwd-both 3),$(cands pi 10),$(cands at 10000),$(cands pa 0.5),$(cands ifvd 200),$(cands holistic 0.1),$(cands channel-mlp 1)"
    search r2-search2 "$M" ;;
  table2)
    M="baseline,$(best cwd-feature cwd-logits cwd-both pi at pa ifvd holistic channel-mlp)"
    table r2-table2 "$M" ;;
  search4)
    M="$(cands abl-spatial-kl 3),$(cands abl-mse 3),$(cands abl-channel-mse 3),$(cands abl-channel-bhat 3)"
    search r2-search4 "$M" ;;
  table4)
    M="$(best abl-spatial-kl abl-mse abl-channel-mse abl-channel-bhat)"
    table r2-table4 "$M" ;;
  grid)
    A=$(node -e 'const b = require(process.argv[1]); console.log(b["cwd-feature"].weight)' "$PWD/$R/r2-search-table-best.json")
    M=$(node -e 'const a = +process.argv[1]; const f = (x) => String(+(x).toPrecision(6)); console.log([a / 3, a, 3 * a].map((w) => `cwd-feature@${f(w)}`).join(","))' "$A")
    table r2-grid "$M" $R/r2-grid --temperatures 1,4 ;;
  all)
    N=${R2_PARALLEL:-1}; mkdir -p runs
    for phase in search2 table2 search4 table4 grid; do
      if [ "$N" -le 1 ]; then bash "$0" "$phase"; continue; fi
      pids=()
      for ((i = 0; i < N; i++)); do
        R2_SHARD="$i/$N" CWD_WASM_THREADS=1 OMP_NUM_THREADS=1 bash "$0" "$phase" > "runs/r2-$phase-shard$i.log" 2>&1 & pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p" || { echo "phase $phase: a shard failed (runs/r2-$phase-shard*.log)" >&2; exit 1; }; done
      echo "phase $phase done $(date -u +%H:%M)"
    done
    bash "$0" tables ;;
  tables)
    $CD merge --from $R/r2 --out $R/r2-table
    if [ -d $R/r2-grid ]; then $CD merge --from $R/r2,$R/r2-grid --out $R/r2-grid-table; fi ;;
  *) echo "usage: bash data/results/r2.sh pilot|search2|table2|search4|table4|grid|tables|all" >&2; exit 2 ;;
esac
