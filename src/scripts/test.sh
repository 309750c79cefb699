#!/usr/bin/env bash
# The whole suite. First the lab's preparation (kernel downloads, the iommufd kernel
# build, initramfs images, workloads: minutes, never inside a test's timeout), then
# unit tests, host tests (real BPF on this kernel), lab tests (real kernels under
# QEMU) and end-to-end tests, one node --test per suite. Under CI=true a missing
# prerequisite fails. Ends with each stage's time and one line of totals.
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

stage prepare node dist/test/stages/prepare-lab.js
for s in unit host lab e2e; do
  [ -d "dist/test/$s" ] || continue
  # The files, not the folder: Node 22 and later take --test arguments as globs only.
  stage "$s" node --expose-gc --test --test-concurrency=1 "dist/test/$s"/*.test.js
done

# node's reporter ends each run with "# pass N", "# fail N", "# skipped N" (TAP, Node 20)
# or "ℹ pass N" (spec, Node 22 and later when not on a terminal).
total() { cat "$logs"/*.log | sed -n "s/^\(#\|ℹ\) $1 \([0-9]*\)$/\2/p" | awk '{s+=$1} END {print s+0}'; }
echo "# stage    time     result"
printf '# %s\n' "${summary[@]}"
echo "tests: $(total pass) passed, $(total fail) failed, $(total skipped) skipped"
exit $status
