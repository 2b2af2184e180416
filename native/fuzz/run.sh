#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) from seeds made out of the real checkpoints, and exits non-zero if
# any of them crashes (a crash, a sanitizer report, a timeout or an allocation over the limit); the input that
# did it is left in BUILD_DIR/findings/. Usage: native/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]
set -euo pipefail
build=$(cd "$1" && pwd)
seconds=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_unpickler fuzz_zip_reader fuzz_safetensors_header)
root=$(cd "$(dirname "$0")/../.." && pwd)
seeds="$build/seeds"
rm -rf "$seeds" && python3 "$root/native/fuzz/make_seeds.py" "$root/test/fixtures/generated" "$seeds"
mkdir -p "$build/findings"
# libtorch is not instrumented; its one-definition-rule quirks are not ours to report.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_odr_violation=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
status=0
for target in "${targets[@]}"; do
  corpus="$build/corpus/$target"
  mkdir -p "$corpus"
  echo "fuzz: $target for $seconds s ($(ls "$seeds/$target" | wc -l) seeds, $(ls "$corpus" | wc -l) in the corpus)"
  if ! "$build/$target" "$corpus" "$seeds/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
      -max_len=65536 -print_final_stats=1 -artifact_prefix="$build/findings/$target-" >"$build/$target.log" 2>&1; then
    echo "fuzz: $target FAILED; the log's end and the input are below" >&2
    tail -60 "$build/$target.log" >&2
    ls -l "$build/findings" >&2
    status=1
  else
    grep -E "^stat::number_of_executed_units|^Done" "$build/$target.log" || true
  fi
done
exit $status
