#!/usr/bin/env bash
# The full run behind the README's Performance figures: each scenario with its own size,
# tables to target/bench-results/SCENARIO.txt, figures to SCENARIO.json.
# Usage: bash bench/full_run.sh [SCENARIO...]   (default: all five, in this order)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin truce-bench
out=target/bench-results
mkdir -p "$out"
run() {
  local scenario=$1; shift
  echo "== $scenario $*"
  ./target/release/truce-bench "$scenario" "$@" --json "$out/$scenario.json" | tee "$out/$scenario.txt"
}
scenarios=("$@"); [ ${#scenarios[@]} -gt 0 ] || scenarios=(engine side backfill faults steady)
for scenario in "${scenarios[@]}"; do
  case $scenario in
    engine) run engine --records 100000,1000000 ;;
    side) run side --records 100000 ;;
    backfill) run backfill --records 100000 ;;
    faults) run faults --records 100000 ;;
    steady) run steady --records 100000 ;;
  esac
done
