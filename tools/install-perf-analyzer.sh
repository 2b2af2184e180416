#!/usr/bin/env bash
# Installs perf_analyzer, Triton's load generator, for bench/perf-analyzer.ts (bench:serve and
# test/server-perf-analyzer.test.ts), outside the checkout, and prints the path of the command to run.
#
#   bash tools/install-perf-analyzer.sh          install when missing (seconds when already there), print the path
#   bash tools/install-perf-analyzer.sh --path   print the path if installed, else say so and exit 1 (installs nothing)
#
# The binary ships in PyPI's tritonclient wheel (tritonclient-X.data/data/bin/perf_analyzer, which pip would put in
# the environment's bin/). Only 2.50.0's runs on Debian 12: later ones need a newer glibc than its 2.36. The
# tritonclient the tests import (tools/requirements.txt) is newer, so this one is not pip-installed: its wheel is
# downloaded and only the binary taken. The binary links libb64 (Debian's libb64-0d, installed with apt when missing)
# and CUDA's runtime library libcudart.so.12 even on a CPU-only machine; that comes from PyPI's
# nvidia-cuda-runtime-cu12 wheel, unpacked beside it, so torch's own CUDA packages in site-packages stay untouched.
# What gets run is a wrapper that puts that library on LD_LIBRARY_PATH.
#
# VITORCH_PERF_ANALYZER_HOME overrides where it goes (default ~/.cache/vitorch/perf-analyzer/<tritonclient version>).
set -euo pipefail

# The one place these versions are pinned.
TRITONCLIENT_VERSION=2.50.0
CUDA_RUNTIME_VERSION=12.9.79

home=${VITORCH_PERF_ANALYZER_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/vitorch/perf-analyzer/$TRITONCLIENT_VERSION}
wrapper=$home/perf_analyzer
stamp=$home/installed
want_stamp="tritonclient $TRITONCLIENT_VERSION, nvidia-cuda-runtime-cu12 $CUDA_RUNTIME_VERSION"

# grep without -q reads ldconfig's whole list: with -q it could stop early, ldconfig would die of SIGPIPE, and
# pipefail would call the library missing.
installed() {
  [ -x "$wrapper" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want_stamp" ] && ldconfig -p | grep 'libb64\.so\.0d' >/dev/null
}

if [ "${1:-}" = "--path" ]; then
  if installed; then
    echo "$wrapper"
    exit 0
  fi
  echo "perf_analyzer $TRITONCLIENT_VERSION is not installed in $home: run bash tools/install-perf-analyzer.sh" >&2
  exit 1
elif [ $# -gt 0 ]; then
  echo "usage: bash tools/install-perf-analyzer.sh [--path]" >&2
  exit 2
fi

if installed; then
  echo "$wrapper"
  exit 0
fi

if ! ldconfig -p | grep 'libb64\.so\.0d' >/dev/null; then
  echo "install-perf-analyzer: installing Debian's libb64-0d" >&2
  apt-get install -y -qq libb64-0d >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libb64-0d >/dev/null; }
fi

python=$(command -v python3 || command -v python)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-perf-analyzer: downloading tritonclient $TRITONCLIENT_VERSION and nvidia-cuda-runtime-cu12 $CUDA_RUNTIME_VERSION" >&2
# The platform and Python version are given so that pip picks the manylinux x86_64 wheels whatever runs it.
download() {
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --platform "$2" --python-version 3.11 --dest "$work/wheels" "$1"
}
download "tritonclient==$TRITONCLIENT_VERSION" manylinux1_x86_64
download "nvidia-cuda-runtime-cu12==$CUDA_RUNTIME_VERSION" manylinux2014_x86_64

# Built beside the final folder and moved into place whole, so an interrupted install leaves nothing half-made.
staging=$home.partial
rm -rf "$staging"
mkdir -p "$staging/bin" "$staging/lib"
"$python" - "$work/wheels" "$staging" <<'PY'
import pathlib
import shutil
import sys
import zipfile

wheels, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wanted = {
    "tritonclient-": (".data/data/bin/perf_analyzer", out / "bin" / "perf_analyzer"),
    "nvidia_cuda_runtime_cu12-": ("nvidia/cuda_runtime/lib/libcudart.so.12", out / "lib" / "libcudart.so.12"),
}
for prefix, (member_suffix, target) in wanted.items():
    (wheel,) = wheels.glob(prefix + "*.whl")
    with zipfile.ZipFile(wheel) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith(member_suffix)]
        with archive.open(member) as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink)
    target.chmod(0o755)
PY
cat >"$staging/perf_analyzer" <<'SH'
#!/bin/sh
# perf_analyzer with the CUDA runtime library it links (tools/install-perf-analyzer.sh).
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/bin/perf_analyzer" "$@"
SH
chmod 755 "$staging/perf_analyzer"
# It must start: a library missing or a glibc too old shows here rather than in a benchmark.
if ! "$staging/perf_analyzer" --version >"$work/version" 2>&1; then
  echo "install-perf-analyzer: the installed perf_analyzer does not run:" >&2
  head -5 "$work/version" >&2
  exit 1
fi
echo "$want_stamp" >"$staging/installed"
rm -rf "$home"
mv "$staging" "$home"
echo "$wrapper"
