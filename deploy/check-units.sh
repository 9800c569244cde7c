#!/usr/bin/env bash
# Verifies the systemd units: `systemd-analyze verify` clean, and the sandboxing exposure
# score at most 2.0. Usage: deploy/check-units.sh [PATH_TO_TRUCE_BINARY]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
binary=$(realpath "${1:-$here/../target/release/truce}")
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze not found; skipping unit checks" >&2
  exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for unit in truce.service truce@.service; do
  # verify needs ExecStart to exist: point it at the binary under test.
  sed "s#/usr/local/bin/truce#$binary#" "$here/$unit" > "$work/$unit"
  name=$unit
  [ "$unit" = "truce@.service" ] && { cp "$work/$unit" "$work/truce@ci.service"; name=truce@ci.service; }
  if out=$(cd "$work" && systemd-analyze verify "./$name" 2>&1) && [ -z "$out" ]; then
    echo "ok   systemd-analyze verify $unit"
  else
    echo "FAIL systemd-analyze verify $unit:"; echo "$out"; status=1
  fi
  score=$(cd "$work" && systemd-analyze security --offline=yes "./$name" 2>&1 | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
  if [ -n "$score" ] && awk "BEGIN{exit !($score <= 2.0)}"; then
    echo "ok   $unit exposure $score (at most 2.0)"
  else
    echo "FAIL $unit exposure ${score:-unknown} (must be at most 2.0)"; status=1
  fi
done
exit $status
