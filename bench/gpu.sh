#!/usr/bin/env bash
# On a machine with a CUDA GPU, in one step and a few minutes: the CUDA test suites (test/cuda.test.ts: parity in
# float32, bfloat16 and float16, forwardAsync, checkpoints onto 'cuda', moving between devices, errors;
# test/cuda-distributed.test.ts: data-parallel steps through NCCL and through Gloo on CUDA) and the CUDA inference
# benchmark against PyTorch (bench/gpu-inference.ts), then a short table. Where no CUDA device is
# visible it says so and runs nothing.
#
#   bash bench/gpu.sh [--reps N]        (after npm install; pip install -r tools/requirements.txt for PyTorch)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
reps=20
[ "${1:-}" = "--reps" ] && reps=${2:?--reps needs a value}

npm run --silent build:ts
devices=$(node -e "console.log(require('./dist/lib').cuda.deviceCount())")
if [ "$devices" = 0 ]; then
  # libtorch's CUDA libraries may have failed to load (a torch installed without its nvidia-* packages): say which.
  problem=$(node -e "console.log(require('./dist/lib').cuda.problem ?? '')")
  echo "gpu.sh: SKIPPED, no CUDA device is visible to this process${problem:+ ($problem)}" \
    "(node dist/lib/cli/vitorch.js doctor says what was found)"
  exit 0
fi
[ -f test/fixtures/generated/manifest.json ] || npm run --silent fixtures >/dev/null

results=$(mktemp)
trap 'rm -f "$results"' EXIT
tests_status=0
npx jest test/cuda.test.ts test/cuda-distributed.test.ts --json --outputFile="$results" >/dev/null 2>&1 || tests_status=$?
node -e "
  const r = require(process.argv[1]);
  console.log('CUDA tests: ' + r.numPassedTests + ' passed, ' + r.numFailedTests + ' failed, ' + r.numPendingTests + ' skipped');
  for (const s of r.testResults) for (const t of s.assertionResults) if (t.status === 'failed') console.log('  FAILED ' + t.fullName + '\n    ' + t.failureMessages.join('\n').split('\n')[0]);
" "$results"
node dist/bench/gpu-inference.js --reps "$reps"
echo "gpu.sh: done in $((SECONDS - started)) s"
exit "$tests_status"
