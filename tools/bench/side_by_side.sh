#!/usr/bin/env bash
# Ours beside the PyTorch baseline (../shared/bench/pytorch, seed code, jemalloc, OpenBLAS, 2 threads),
# one workload at a time, alternating, so both see the same machine state. One line per figure:
#   OURS|TORCH <workload> <figure> <value> ...
# Usage: tools/bench/side_by_side.sh [train|infer|all] [workload ...]   (default: all, every workload)
# Needs the Debian packages listed in ../shared/bench/pytorch/README.md. Pause other jobs first: the
# baseline marks a measurement "contended" when other processes use more than 0.15 of a core.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}; shift || true
workloads=${*:-amazon-din amazon-dien movielens-din movielens-dien}
bin=runs/.bin/bench-$$
dotnet publish src/DeepInterest.Cli -c Release -o "$bin" -v q -nologo >/dev/null
base=$(cd ../shared/bench/pytorch && pwd)
libdir=/usr/lib/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)
torch() {
  (cd "$base" && env LD_LIBRARY_PATH="$libdir/openblas-openmp" OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 \
     LD_PRELOAD="$libdir/libjemalloc.so.2" MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1 ALLOC_CHOICE=jemalloc \
     /usr/bin/python3 bench.py --impl seed "$@" 2>/dev/null) |
    /usr/bin/python3 -c "
import json,sys
for l in sys.stdin:
    if not l.startswith('{'): continue
    r=json.loads(l); print('TORCH', r.get('workload'), r.get('metric'), r.get('mode',''), r.get('batch',''), round(r['value'],4), 'rss', r.get('peak_rss_mb',''), 'contended', r.get('contended'))"
}
ours() {
  "$bin/deepinterest" bench "$@" --json | /usr/bin/python3 -c "
import json,sys
for l in sys.stdin:
    if not l.startswith('{'): continue
    r=json.loads(l); print('OURS', json.dumps(r, separators=(',',':')))"
}
for w in $workloads; do
  case $w in
    amazon-din) tw=amazon-din; m=DIN; batches="256 32";;
    amazon-dien) tw=amazon-dien; m=DIEN; batches="256";;
    movielens-din) tw=movielens-seed; m=DIN; batches="128";;
    movielens-dien) tw=movielens-seed; m=DIEN; batches="128";;
    *) echo "unknown workload $w" >&2; exit 2;;
  esac
  if [[ $what == train || $what == all ]]; then
    for b in $batches; do
      ours "$w" --figure train --batch "$b" --seconds 20
      torch --model "$m" --workload "$tw" --phase train --batch "$b"
    done
  fi
  if [[ $what == infer || $what == all ]]; then
    ours "$w" --figure infer --seconds 10
    ours "$w" --figure latency --seconds 10
    torch --model "$m" --workload "$tw" --phase infer --dien-infer-modes serving
  fi
done
rm -rf "$bin"
