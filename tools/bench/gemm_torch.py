"""GEMM GFLOP/s in PyTorch for the shapes of `bench gemm` (run: /usr/bin/python3 tools/bench/gemm_torch.py).

Uses 2 threads and whatever BLAS torch loads; for the OpenBLAS figures run it with
LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp (as ../shared/bench/pytorch/run_one.sh does).
"""
import json
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
SHAPES = [
    ("att1 fwd x·Wᵀ [12800,144]x[80,144]ᵀ", lambda: (torch.randn(12800, 144), torch.randn(80, 144)), lambda a, b: torch.nn.functional.linear(a, b)),
    ("att1 bwd gy·W [12800,80]x[80,144]", lambda: (torch.randn(12800, 80), torch.randn(80, 144)), lambda a, b: a @ b),
    ("att1 bwd gyᵀ·x [80,12800]x[12800,144]", lambda: (torch.randn(12800, 80), torch.randn(12800, 144)), lambda a, b: a.t() @ b),
    ("att2 fwd [12800,80]x[40,80]ᵀ", lambda: (torch.randn(12800, 80), torch.randn(40, 80)), lambda a, b: torch.nn.functional.linear(a, b)),
    ("mlp1 fwd [256,90]x[200,90]ᵀ", lambda: (torch.randn(256, 90), torch.randn(200, 90)), lambda a, b: torch.nn.functional.linear(a, b)),
    ("aux2 fwd [6300,100]x[50,100]ᵀ", lambda: (torch.randn(6300, 100), torch.randn(50, 100)), lambda a, b: torch.nn.functional.linear(a, b)),
    ("gru dX [6500,108]x[108,36]", lambda: (torch.randn(6500, 108), torch.randn(108, 36)), lambda a, b: a @ b),
    ("gru dW_hh gᵀ·h [108,6500]x[6500,36]", lambda: (torch.randn(6500, 108), torch.randn(6500, 36)), lambda a, b: a.t() @ b),
    ("square 1024 NN", lambda: (torch.randn(1024, 1024), torch.randn(1024, 1024)), lambda a, b: a @ b),
    ("W1 att1 fwd [6528,72]x[80,72]ᵀ", lambda: (torch.randn(6528, 72), torch.randn(80, 72)), lambda a, b: torch.nn.functional.linear(a, b)),
    ("W1 att1 dX [6528,80]x[80,72]", lambda: (torch.randn(6528, 80), torch.randn(80, 72)), lambda a, b: a @ b),
    ("W1 att1 dW [80,6528]x[6528,72]", lambda: (torch.randn(6528, 80), torch.randn(6528, 72)), lambda a, b: a.t() @ b),
    ("W1 att2 fwd [6528,80]x[40,80]ᵀ", lambda: (torch.randn(6528, 80), torch.randn(40, 80)), lambda a, b: torch.nn.functional.linear(a, b)),
    ("W1 att2 dX [6528,40]x[40,80]", lambda: (torch.randn(6528, 40), torch.randn(40, 80)), lambda a, b: a @ b),
    ("W1 att2 dW [40,6528]x[6528,80]", lambda: (torch.randn(6528, 40), torch.randn(6528, 80)), lambda a, b: a.t() @ b),
]
FLOPS = [12800 * 80 * 144, 12800 * 144 * 80, 80 * 144 * 12800, 12800 * 40 * 80, 256 * 200 * 90, 6300 * 50 * 100, 6500 * 36 * 108, 108 * 36 * 6500, 1024 ** 3,
         6528 * 80 * 72, 6528 * 72 * 80, 80 * 72 * 6528, 6528 * 40 * 80, 6528 * 80 * 40, 40 * 80 * 6528]

for (name, make, op), flops in zip(SHAPES, FLOPS):
    a, b = make()
    op(a, b)
    times, start = [], time.perf_counter()
    while time.perf_counter() - start < 1.0 or len(times) < 3:
        t0 = time.perf_counter()
        op(a, b)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(json.dumps({"shape": name, "gflops": 2 * flops / med / 1e9, "ms": med * 1e3, "threads": 2}, ensure_ascii=False))
sys.stdout.flush()
