#!/usr/bin/env bash
# Soak test of `deepinterest serve` (docs/serving.md): wrk at concurrency 8 on loopback for MINUTES,
# a hot reload (POST /admin/reload) every 30 s, the server's RSS sampled every 30 s. Prints the
# samples and wrk's summary (errors must be 0). Bounded: MINUTES, 127.0.0.1 only.
# Usage: tools/bench/serve_soak.sh MODEL_DIR [MINUTES=10]
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$1"; minutes="${2:-10}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
bin=$(mktemp -d); bodies="$bin/bodies.jsonl"; port=$((20000 + RANDOM % 20000))
trap 'kill "$server" "$load" 2>/dev/null || true; rm -rf "$bin"' EXIT
dotnet publish src/DeepInterest.Cli -c Release -o "$bin/cli" -v q -nologo >/dev/null
python3 tools/bench/serve_requests.py "$model" --candidates 100 --history 50 > "$bodies"
"$bin/cli/deepinterest" serve --model "$model" --port "$port" > "$bin/server.log" 2>&1 & server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
wrk -t2 -c8 -d"${minutes}m" --timeout 10s -s tools/bench/wrk_rank.lua "http://127.0.0.1:$port/v1/rank" -- "$bodies" > "$bin/wrk.out" & load=$!
echo "second,rss_mb,reload"
for i in $(seq $((minutes * 2))); do
  sleep 30
  reload=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$port/admin/reload")
  echo "$((i * 30)),$(grep VmRSS /proc/$server/status | awk '{printf "%.1f", $2/1024}'),$reload"
done
wait "$load"
grep '^{' "$bin/wrk.out"
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^deepinterest_(requests_total|reloads_total|model_version)' || true
