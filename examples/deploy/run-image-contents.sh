#!/usr/bin/env bash
# run-image-contents.sh [ARGS...]: what ./Dockerfile puts in its image, laid out and run without Docker, for
# machines with no Docker daemon (and as a quicker check where there is one). In a scratch folder ROOT:
#   1. ROOT/opt/libtorch: this machine's torch wheel (python3's) through collect-libtorch.sh, as the image's stage 1;
#   2. ROOT/opt/vitorch: the package packed from this checkout with its prebuilt addon (npm run prebuild; npm pack),
#      installed as stage 2 installs it (install scripts off) on a PATH holding node, npm and sh only: no compiler;
#   3. ROOT/mnt/models: a model repository holding the embedded model as fashion-mnist/ (config.json, weights.pth);
#   4. the final stage's RUN ["vitorch", "doctor"], then its ENTRYPOINT and CMD (ARGS replace CMD, as with `docker
#      run IMAGE ARGS`), read from the Dockerfile by tools/validate_deploy_manifests.py, with the image's ENV and
#      nothing else (no python3 on PATH), /opt and /mnt/models moved under ROOT, as uid 1000 when run as root;
#   5. waits for the Dockerfile's HEALTHCHECK command to pass, checks /v2/health/live and /v2/health/ready, sends
#      the STOPSIGNAL and expects exit 0 within the grace period.
# Needs this checkout built (npm install), Python's torch (tools/requirements.txt), ports 8000 and 8001 free and
# the npm registry. VITORCH_IMAGE_ROOT=DIR keeps ROOT there instead of a temporary folder removed at the end.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${VITORCH_IMAGE_ROOT:-$(mktemp -d "${TMPDIR:-/tmp}/vitorch-image-XXXXXX")}
[ -n "${VITORCH_IMAGE_ROOT:-}" ] || trap 'rm -rf "$root"' EXIT
mkdir -p "$root" && chmod 755 "$root"
say() { echo "run-image-contents: $*" >&2; }

describe=$(python3 "$repo/tools/validate_deploy_manifests.py" --json) || true
# field NAME: the Dockerfile's final stage's NAME (env, cmd, ...) as JSON.
field() {
  python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["dockerfile"]["final"][sys.argv[1]]))' "$1" \
    <<<"$describe"
}

# 1. libtorch, as stage 1 leaves it.
site=$(python3 -c 'import importlib.util, os; print(os.path.dirname(os.path.dirname(importlib.util.find_spec("torch").origin)))')
rm -rf "$root/opt/libtorch"
"$here/collect-libtorch.sh" "$site" "$root/opt/libtorch" >&2

# 2. The package, as stage 2 installs it.
mkdir -p "$root/packages" "$root/opt/vitorch" "$root/bin"
(cd "$repo" && npm run --silent prebuild >"$root/prebuild.log" 2>&1) || { cat "$root/prebuild.log" >&2; exit 1; }
tarball=$(cd "$repo" && npm pack --ignore-scripts --silent --pack-destination "$root/packages" | tail -n 1)
node=$(command -v node)
ln -sf "$node" "$root/bin/node"
ln -sf "$(command -v npm)" "$root/bin/npm"
ln -sf "$(command -v sh)" "$root/bin/sh"
for tool in cc gcc g++ c++ clang cmake make python3; do
  if PATH="$root/bin" command -v "$tool" >/dev/null; then say "$tool is on the restricted PATH"; exit 1; fi
done
(
  cd "$root/opt/vitorch"
  echo '{ "name": "vitorch-serve-image", "private": true }' >package.json
  PATH="$root/bin" npm install --ignore-scripts --omit=dev --no-audit --no-fund --loglevel=error \
    "$root/packages/$tarball" >/dev/null
)
say "installed $tarball into $root/opt/vitorch ($(du -sh "$root/opt/vitorch" | cut -f1)) with node $("$node" --version)"

# 3. A model repository: one folder per model with config.json and one weights file.
mkdir -p "$root/mnt/models/fashion-mnist"
cp "$repo/assets/fashion-mnist/config.json" "$repo/assets/fashion-mnist/weights.pth" "$root/mnt/models/fashion-mnist/"
chmod -R a+rX "$root"

# 4. The final stage: the image's ENV only, its paths under ROOT, PATH with node and nothing else of this machine.
# shellcheck disable=SC2016 # ${PATH} is the Dockerfile's text, replaced by the Python, not by this shell
mapfile -t image_env < <(field env | python3 -c '
import json, sys
root, node_dir = sys.argv[1], sys.argv[2]
for key, value in json.load(sys.stdin).items():
    value = value.replace("/opt/", root + "/opt/").replace("/mnt/models", root + "/mnt/models")
    print(key + "=" + value.replace("${PATH}", node_dir))' "$root" "$(dirname "$node")")
mapfile -t entrypoint < <(field entrypoint | python3 -c 'import json, sys; print(*json.load(sys.stdin), sep="\n")')
if [ $# -gt 0 ]; then cmd=("$@"); else mapfile -t cmd < <(field cmd | python3 -c 'import json, sys; print(*json.load(sys.stdin), sep="\n")'); fi
cmd=("${cmd[@]//\/mnt\/models/$root/mnt/models}")
mapfile -t healthcheck < <(field healthcheck | python3 -c 'import json, sys; print(*json.load(sys.stdin)["cmd"], sep="\n")')
stopsignal=$(field stopsignal | python3 -c 'import json, sys; print(json.load(sys.stdin))')
as_user=()
[ "$(id -u)" -ne 0 ] || as_user=("$(command -v setpriv)" --reuid=1000 --regid=1000 --clear-groups)
in_image() { (cd / && exec "${as_user[@]}" env -i HOME=/nonexistent "${image_env[@]}" "$@"); }

in_image vitorch doctor >"$root/doctor.log" 2>&1 || { cat "$root/doctor.log" >&2; say "vitorch doctor failed"; exit 1; }
say "vitorch doctor: $(grep -m1 '^libtorch' "$root/doctor.log" | tr -s ' ')"
say "running as uid $(in_image node -p 'process.getuid()'): ${entrypoint[*]} ${cmd[*]}"
# Not through in_image: the server's own PID is needed for the signal, so the exec chain (setpriv, env, node) must
# start from this background job itself rather than from a subshell inside it.
(cd / && exec "${as_user[@]}" env -i HOME=/nonexistent "${image_env[@]}" "${entrypoint[@]}" "${cmd[@]}") \
  >"$root/serve.stdout" 2>"$root/serve.stderr" &
server=$!

# 5. The HEALTHCHECK command until it passes (the image's start period: 120 s), then the probes and the stop signal.
started=$SECONDS
until in_image "${healthcheck[@]}"; do
  if ! kill -0 "$server" 2>/dev/null; then cat "$root/serve.stderr" >&2; say "the server exited"; exit 1; fi
  if ((SECONDS - started > 120)); then cat "$root/serve.stderr" >&2; say "not healthy after 120 s"; exit 1; fi
  sleep 1
done
say "healthy after $((SECONDS - started)) s (HEALTHCHECK: ${healthcheck[*]})"
for probe in /v2/health/live /v2/health/ready /v2/models/fashion-mnist/ready; do
  code=$(in_image node -e "fetch('http://127.0.0.1:8000$probe').then((r) => console.log(r.status), () => console.log('error'))")
  say "GET $probe: $code"
  [ "$code" = 200 ] || { cat "$root/serve.stderr" >&2; exit 1; }
done
stopped=$SECONDS
kill -s "${stopsignal#SIG}" "$server"
status=0
wait "$server" || status=$?
say "$stopsignal: exit $status after $((SECONDS - stopped)) s"
sed 's/^/  server: /' "$root/serve.stderr" >&2
[ "$status" -eq 0 ]
