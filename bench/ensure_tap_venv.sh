#!/usr/bin/env bash
# Creates (once) a virtualenv with the Singer tap `tap-hubspot` from PyPI, for reading its
# source (is its base URL configurable?) in scenario 5 of truce-bench. Prints the venv path.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${TRUCE_TAP_VENV:-$root/target/tap-venv}"
stamp="$venv/.truce-tap-1"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "tap-hubspot" >&2
  touch "$stamp"
fi
echo "$venv"
