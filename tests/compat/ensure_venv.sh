#!/usr/bin/env bash
# Creates (once) the virtualenv the SDK fidelity tests run in, and prints its python.
# The official SDKs are pinned so a new release cannot change what "faithful" means
# under our feet; bump them on purpose.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${TRUCE_COMPAT_VENV:-$root/target/compat-venv}"
stamp="$venv/.truce-sdks-1"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "hubspot-api-client==12.0.0" "simple-salesforce==1.12.10" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
