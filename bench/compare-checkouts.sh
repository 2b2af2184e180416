#!/usr/bin/env bash
# Two built checkouts of vitorch (each with `npm ci`, `npm run build:native` and `npm run build:ts` done), side by side
# and alternating, so that a change is measured against what came before it on the same machine in one run: the
# require time and module count of `require('vitorch')`, a training step, sharp decoding while inference runs
# (dist/bench/pool.js), and ViT-B/16 inference (dist/bench/inference.js --quick). Run it on a quiet machine.
#
#   bash bench/compare-checkouts.sh OLD_CHECKOUT NEW_CHECKOUT
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: bash bench/compare-checkouts.sh OLD_CHECKOUT NEW_CHECKOUT" >&2; exit 2; }
old=$(cd "$1" && pwd); new=$(cd "$2" && pwd)
steps="$(cd "$(dirname "$0")" && pwd)/train-steps.js"
for dir in "$old" "$new"; do
  [ -f "$dir/dist/lib/index.js" ] && [ -f "$dir/dist/bench/pool.js" ] ||
    { echo "$dir: no dist/lib/index.js or dist/bench/pool.js (npm run build:ts there first)" >&2; exit 2; }
done
label() { [ "$1" = "$old" ] && echo old || echo new; }

echo "== require('vitorch'): ms, modules"
for _ in 1 2 3 4 5 6 7; do for dir in "$old" "$new"; do
  node -e "const t = process.hrtime.bigint(); require('$dir/dist/lib/index.js');
    console.log('$(label "$dir")', (Number(process.hrtime.bigint() - t) / 1e6).toFixed(0), Object.keys(require.cache).length)"
done; done
echo "== training step (batch 128, AdamW): ms"
for _ in 1 2 3; do for dir in "$old" "$new"; do echo -n "$(label "$dir") "; node "$steps" "$dir/dist/lib/index.js" 15; done; done
echo "== sharp decoding during inference: 4 models, 1 call in flight each"
for _ in 1 2; do for dir in "$old" "$new"; do
  echo "--- $(label "$dir")"; (cd "$dir" && node dist/bench/pool.js --runs 3 --models 4 --in-flight 1 --seconds 3)
done; done
echo "== sharp decoding during inference: 1 model, 2 calls in flight"
for dir in "$old" "$new"; do
  echo "--- $(label "$dir")"; (cd "$dir" && node dist/bench/pool.js --runs 3 --models 1 --in-flight 2 --seconds 3)
done
echo "== ViT-B/16 inference"
for _ in 1 2; do for dir in "$old" "$new"; do
  echo "--- $(label "$dir")"
  (cd "$dir" && node dist/bench/inference.js --quick --only vitorch-sync,vitorch-async --batches 1,8 --runs 3 2>&1 |
    grep -E "^vitorch|contestant")
done; done
