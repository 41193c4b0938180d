"""Markdown table of runs/<config>-s<seed>/metrics.json: mean ± std over seeds and RelaImpr.

Usage: python3 tools/experiments/summarize.py RUNS_DIR BASELINE CONFIG [CONFIG …]
RelaImpr = ((metric_model − 0.5) / (metric_baseline − 0.5) − 1) · 100% (DIN paper, Eq. 11), on the
seed means; the baseline is the first config given after RUNS_DIR.
"""
import glob
import json
import os
import statistics
import sys


def load(runs, name):
    rows = []
    for path in sorted(glob.glob(os.path.join(runs, f"{name}-s*", "metrics.json"))):
        seed = path.split(f"{name}-s")[1].split(os.sep)[0]
        if not seed.isdigit():      # din-ml1m-seed-s1 is another config, not a seed of din-ml1m
            continue
        with open(path) as f:
            m = json.load(f)
        rows.append((seed, m))
    return rows


def stat(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None, None
    return statistics.mean(vals), (statistics.stdev(vals) if len(vals) > 1 else 0.0)


def fmt(mean, std):
    return "n/a" if mean is None else f"{mean:.4f} ± {std:.4f}"


def main():
    runs, names = sys.argv[1], sys.argv[2:]
    base = None
    print("| config | seeds | test AUC | test GAUC | test logloss | RelaImpr AUC | RelaImpr GAUC | AUC per seed |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for name in names:
        rows = load(runs, name)
        if not rows:
            print(f"| `{name}` | 0 | not run | | | | | |")
            continue
        auc = stat([m["test"]["auc"] for _, m in rows])
        gauc = stat([m["test"]["gauc"] for _, m in rows])
        ll = stat([m["test"]["logloss"] for _, m in rows])
        if base is None:
            base = (auc[0], gauc[0])
            ri = ("—", "—")
        else:
            ri = tuple(f"{((v - 0.5) / (b - 0.5) - 1) * 100:+.2f}%" if v is not None and b is not None else "n/a"
                       for v, b in ((auc[0], base[0]), (gauc[0], base[1])))
        per = ", ".join(f"s{s}: {m['test']['auc']:.4f}" for s, m in rows)
        print(f"| `{name}` | {len(rows)} | {fmt(*auc)} | {fmt(*gauc)} | {fmt(*ll)} | {ri[0]} | {ri[1]} | {per} |")


if __name__ == "__main__":
    main()
