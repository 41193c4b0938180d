#!/usr/bin/env bash
# Trains each config for each seed: runs/<config>-s<seed>/metrics.json (skips runs already done).
# Usage: tools/experiments/run.sh "1 2 3" configs/base-ml1m.yaml configs/din-ml1m.yaml …
# Then:  python3 tools/experiments/summarize.py runs base-ml1m din-ml1m …
# The CLI is published to runs/.bin first, so rebuilding the repository does not touch running jobs.
# THREADS=n sets train.threads (two runners side by side on 2 cores: THREADS=1 each).
set -euo pipefail
cd "$(dirname "$0")/../.."
seeds="$1"; shift
bin="runs/.bin/$$"
dotnet publish src/DeepInterest.Cli -c Release -o "$bin" -v q -nologo >/dev/null
for cfg in "$@"; do
  name=$(basename "$cfg" .yaml)
  for s in $seeds; do
    out="runs/$name-s$s"
    [ -f "$out/metrics.json" ] && continue
    echo "== $name seed $s"
    start=$(date +%s)
    "$bin/deepinterest" train --config "$cfg" --out "$out" --set train.seed="$s" --set train.threads="${THREADS:-0}" > "runs/$name-s$s.log" 2>&1 || { echo "failed: see runs/$name-s$s.log"; continue; }
    echo "   $(( $(date +%s) - start )) s: $(tr -d '\n ' < "$out/metrics.json" | cut -c1-160)"
  done
done
