#!/usr/bin/env bash
# Creates (once) the virtualenv the SDK fidelity tests run in, and prints its python.
# The official SDKs are pinned so a new release cannot change what "faithful" means
# under our feet; bump them on purpose. kubernetes-validate (tests/deploy.rs) carries the
# Kubernetes API schemas offline. Adding or bumping a package: bump the stamp's number.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${TRUCE_COMPAT_VENV:-$root/target/compat-venv}"
stamp="$venv/.truce-sdks-2"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "hubspot-api-client==12.0.0" "simple-salesforce==1.12.10" \
    "kubernetes-validate==1.37.0" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
