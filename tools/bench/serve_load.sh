#!/usr/bin/env bash
# Load test of `deepinterest serve` (docs/serving.md): wrk on loopback against POST /v1/rank with the
# model's example users (history H, C candidates), at concurrency 1, 8 and 32, then the in-process
# Ranker on the same requests with 8 callers. Bounded: SECONDS per run, 127.0.0.1 only.
# Usage: tools/bench/serve_load.sh MODEL_DIR [SECONDS=20] [CANDIDATES=100] [HISTORY=50]   (THREADS=n: serve --threads n)
# Needs wrk (apt-get install wrk). Prints one JSON line per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="$1"; seconds="${2:-20}"; candidates="${3:-100}"; history="${4:-50}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
bin=$(mktemp -d); bodies="$bin/bodies.jsonl"; port=$((20000 + RANDOM % 20000))
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$bin"' EXIT
dotnet publish src/DeepInterest.Cli -c Release -o "$bin/cli" -v q -nologo >/dev/null
python3 tools/bench/serve_requests.py "$model" --candidates "$candidates" --history "$history" > "$bodies"
"$bin/cli/deepinterest" serve --model "$model" --port "$port" --threads "${THREADS:-0}" > "$bin/server.log" 2>&1 & server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$bin/server.log" >&2; exit 1; }
wrk -t1 -c8 -d5s -s tools/bench/wrk_rank.lua "http://127.0.0.1:$port/v1/rank" -- "$bodies" >/dev/null   # warm-up
for c in 1 8 32; do
  t=1; [ "$c" -gt 1 ] && t=2
  out=$(wrk -t"$t" -c"$c" -d"${seconds}s" --timeout 10s -s tools/bench/wrk_rank.lua "http://127.0.0.1:$port/v1/rank" -- "$bodies" | grep '^{')
  echo "{\"transport\": \"http\", \"model\": \"$(basename "$(dirname "$model")")\", \"threads\": ${THREADS:-0}, \"concurrency\": $c, \"candidates\": $candidates, \"history\": $history, ${out#\{}"
done
echo "server peak RSS: $(grep VmHWM /proc/$server/status | awk '{print $2/1024 " MB"}')"
kill "$server"; wait "$server" 2>/dev/null || true
dotnet run --project bench/DeepInterest.Bench -c Release -- rank --model "$model" --requests "$bodies" --callers 8 --threads "${THREADS:-0}" --seconds "$seconds" --json
