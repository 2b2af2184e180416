#!/usr/bin/env bash
# npm test's last step: the package as users get it. Packs vitorch with its prebuilt binary (npm run prebuild, which
# relinks at most), installs the tarball into a fresh project with install scripts off and no compiler on PATH,
# then requires it and runs a small model against PyTorch's output (test/packed/check.js), and checks that the
# install script, run by npm rebuild, keeps the prebuilt. Prints the install time.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
[ -f dist/lib/index.js ] || { echo "packed install: run npm run build:ts first" >&2; exit 1; }
[ -f test/fixtures/generated/manifest.json ] || { echo "packed install: run npm run fixtures first" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/vitorch-packed-XXXXXX")
trap 'rm -rf "$work"' EXIT

npm run --silent prebuild >"$work/prebuild.log" 2>&1 || { cat "$work/prebuild.log" >&2; exit 1; }
# dist/ is fresh (npm test's pretest compiled it): no need for `prepare` again.
tarball=$(npm pack --ignore-scripts --silent --pack-destination "$work" | tail -n 1)
contents=$(tar -tzf "$work/$tarball")
# The prebuilt for the libtorch found (the primary release's minor, e.g. torch-2.15).
prebuilt=$(node -e "const { describe } = require('./scripts/find-libtorch');
  const { prebuiltDirFor } = require('./dist/lib/addon-loading');
  console.log(require('path').relative('.', prebuiltDirFor(describe().version, '.')))")
for entry in package/dist/lib/index.js "package/$prebuilt/vitorch.node" "package/$prebuilt/libvitorch_loader.so" \
  package/protos/grpc_service.proto package/protos/model_config.proto package/protos/LICENSE; do
  grep -qx "$entry" <<<"$contents" || { echo "packed install: $tarball lacks $entry" >&2; exit 1; }
done

# A PATH with node, npm, sh (for npm's scripts) and python3 (to find torch) only: no compiler, cmake or make can run.
# The Node that installs and runs the package is the one on PATH, or VITORCH_TEST_NODE=/path/to/bin/node (CI checks
# the oldest Node that engines admits this way); its npm is the one beside it, else the npm on PATH, which then runs
# on that Node (npm's bin/npm-cli.js starts with `#!/usr/bin/env node`, and node is first on the restricted PATH).
test_node=${VITORCH_TEST_NODE:-$(command -v node)}
[[ $test_node == /* && -x $test_node && ! -d $test_node ]] ||
  { echo "packed install: VITORCH_TEST_NODE=$test_node is not the absolute path of a node executable" >&2; exit 1; }
test_npm=$(dirname "$test_node")/npm
[ -x "$test_npm" ] || test_npm=$(command -v npm)
mkdir -p "$work/bin" "$work/app"
ln -s "$test_node" "$work/bin/node"
ln -s "$test_npm" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"
echo "packed install: Node $(PATH="$work/bin" node --version) with npm $(PATH="$work/bin" npm --version) ($test_node)"
# The interpreter itself (python3 may be a shell shim, as pyenv's is), where vitorch finds torch at run time.
ln -s "$(node "$repo/scripts/python.js" -c 'import sys; print(sys.executable)')" "$work/bin/python3"
for tool in cc gcc g++ c++ clang cmake make; do
  if PATH="$work/bin" command -v "$tool" >/dev/null; then echo "packed install: $tool is on the restricted PATH" >&2; exit 1; fi
done
cd "$work/app"
echo '{ "name": "packed-install-check", "private": true }' >package.json
started=$(date +%s%N)
PATH="$work/bin" npm install --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error "$work/$tarball" >/dev/null
elapsed_ms=$((($(date +%s%N) - started) / 1000000))
echo "packed install: npm install --ignore-scripts of $tarball ($(du -k "$work/$tarball" | cut -f1) KiB) took ${elapsed_ms} ms"
[ ! -e node_modules/vitorch/build ] || { echo "packed install: something built node_modules/vitorch/build" >&2; exit 1; }
# Run from inside the project, so that require('vitorch') resolves to the installed package.
cp "$repo/test/packed/check.js" check.js
PATH="$work/bin" node check.js "$repo/test/fixtures/generated"
# The install script, when it does run (npm rebuild, or npm before version 11): the prebuilt fits, nothing builds.
rebuild=$(PATH="$work/bin" npm rebuild vitorch --foreground-scripts 2>&1) || { echo "packed install: npm rebuild vitorch failed:" >&2; echo "$rebuild" >&2; exit 1; }
grep -q "^vitorch: using $prebuilt/vitorch.node with libtorch " <<<"$rebuild" ||
  { echo "packed install: npm rebuild vitorch did not keep the prebuilt:" >&2; echo "$rebuild" >&2; exit 1; }
echo "packed install: npm rebuild vitorch kept the prebuilt"
