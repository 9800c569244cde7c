set -x
cd /work/wt-bench
B=./target/release/truce-bench
R=target/bench-results
$B engine --records 100000,1000000 --json $R/engine.json > $R/engine.txt 2>&1
$B side --records 100000 --json $R/side.json > $R/side.txt 2>&1
$B backfill --records 100000 --json $R/backfill.json > $R/backfill.txt 2>&1
$B faults --records 100000 --json $R/faults.json > $R/faults.txt 2>&1
$B steady --records 100000 --json $R/steady.json > $R/steady.txt 2>&1
echo done
