"""Writes docs/results.md from runs/ (run after tools/experiments/run.sh; numbers are read, never typed)."""
import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
RUNS = os.path.join(ROOT, "runs")


def table(*names):
    return subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "summarize.py"), RUNS, *names],
                          capture_output=True, text=True, check=True).stdout


ARCHIVE = json.load(open(os.path.join(ROOT, "docs", "results-archive.json")))


def metrics(name):
    """Test metrics of runs/NAME/metrics.json (ours) or runs/NAME.json (PyTorch), else the archive; (metrics, date or None)."""
    for p in (os.path.join(RUNS, name, "metrics.json"), os.path.join(RUNS, name + ".json")):
        if os.path.exists(p) and os.path.getsize(p) > 0:
            return json.load(open(p))["test"], None
    if name in ARCHIVE:
        return ARCHIVE[name]["test"], ARCHIVE[name]["date"]
    return None, None


KEYS = ("auc", "gauc", "logloss")


def vs_rows(models, always=0, paired_means=False, min_mean=1):
    """Markdown rows comparing runs side by side: per (label, [run name formats]) one row per seed with
    any run (seeds ≤ `always` even without), then each column's mean over its seeds — only over seeds
    where every column ran when `paired_means` — or "—" with fewer than `min_mean` seeds."""
    import statistics
    rows = []
    for label, names in models:
        cols = [[] for _ in names]
        for s in range(1, 11):
            got = [metrics(n.format(s)) for n in names]
            if s > always and all(t is None for t, _ in got):
                continue
            if not paired_means or all(t is not None for t, _ in got):
                for col, (t, _) in zip(cols, got):
                    if t is not None:
                        col.append(t)
            rows.append(f"| {label} | {s} | " + " | ".join(
                "—" if t is None else " / ".join(f"{t[k]:.4f}" for k in KEYS) + (f" ({date})" if date else "") for t, date in got) + " |")
        mean = [(" / ".join(f"{statistics.mean(t[k] for t in col):.4f}" for k in KEYS) + f" ({len(col)})") if len(col) >= min_mean else "—"
                for col in cols]
        rows.append(f"| {label} | mean (seeds) | " + " | ".join(f"**{v}**" for v in mean) + " |")
    return "\n".join(rows)


def torch_rows():
    """Ours with lazy and with dense embedding updates against PyTorch (dense Adam) on the same samples."""
    return vs_rows([(label, [f"{m}-ml1m-s{{}}", f"{m}-ml1m-dense-s{{}}", f"torch-{m}-s{{}}"]) for m, label in (("base", "BaseModel"), ("din", "DIN"))],
                   always=3, min_mean=3)


MORE = (("DIN + Dice", "din-dice-ml1m-dense-s{}", "torch-din-dice-s{}"),
        ("DIEN (AUGRU + aux loss)", "dien-augru-ml1m-dense-s{}", "torch-dien-augru-s{}"))


def more_rows():
    """DIN + Dice and DIEN: ours (dense Adam) against PyTorch per seed and the means over seeds with both runs (like the statistics)."""
    return vs_rows([(label, [ours, torch]) for label, ours, torch in MORE], paired_means=True)


def more_paired():
    return "\n\n".join(f"{label}: " + paired(o, t, alt=False) for label, o, t in MORE)


def parity():
    """PyTorch's model with OUR trained weights (torch_ctr.py --load) against our own test metrics."""
    out = []
    for label, run, check in (("DIEN (AUGRU + aux loss)", "dien-augru-ml1m-dense-s1", "parity-dien-augru-s1"),
                              ("DIN + Dice", "din-dice-ml1m-dense-s1", "parity-din-dice-s1")):
        ours, _ = metrics(run)
        theirs, _ = metrics(check)
        if ours is None or theirs is None:
            continue
        out.append(f"{label} (`{run}`): ours AUC / GAUC / logloss {ours['auc']:.7f} / {ours['gauc']:.7f} / {ours['logloss']:.7f}, "
                   f"PyTorch with those weights {theirs['auc']:.7f} / {theirs['gauc']:.7f} / {theirs['logloss']:.7f}")
    return "; ".join(out) if out else "(not run)"


def paired(ours_name="din-ml1m-dense-s{}", torch_name="torch-din-s{}", alt=True):
    """Ours (dense Adam) against PyTorch per seed: paired differences, a t statistic and a 95% interval."""
    import statistics
    d = {k: [] for k in ("auc", "gauc", "logloss")}
    per_seed = []
    for s in range(1, 11):
        ours, _ = metrics(ours_name.format(s))
        torch, _ = metrics(torch_name.format(s))
        if ours is None or torch is None:
            continue
        for k in d:
            d[k].append(torch[k] - ours[k])
        per_seed.append(f"{torch['auc'] - ours['auc']:+.4f}".replace("-", "−"))
    n = len(d["auc"])
    if n < 2:
        return "(fewer than two seeds with both runs)"
    t975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}[n - 1]
    out = []
    for k, label in (("auc", "AUC"), ("gauc", "GAUC"), ("logloss", "logloss")):
        m, sd = statistics.mean(d[k]), statistics.stdev(d[k])
        half = t975 * sd / n ** 0.5
        out.append(f"{label} {m:+.4f} ± {sd:.4f} (t = {m / (sd / n ** 0.5):.2f}, 95% interval [{m - half:+.4f}, {m + half:+.4f}])".replace("-", "−"))
    better = {k: sum(1 for v in d[k] if (v > 0 if k == "logloss" else v < 0)) for k in d}   # seeds where ours is better
    text = (f"Over the {n} seeds with both runs, PyTorch minus ours (mean ± standard deviation of the paired "
            f"differences): " + "; ".join(out) + f". Per seed, the AUC difference is {', '.join(per_seed)}; ours is "
            f"better on {better['auc']} of {n} seeds in AUC, {better['gauc']} in GAUC and {better['logloss']} in logloss.")
    alt_auc = []
    for s in range(1, 11) if alt else ():
        ours, _ = metrics(f"din-ml1m-dense-s4build-s{s}") if s <= 5 else (None, None)
        ours = ours or metrics(ours_name.format(s))[0]
        if ours is not None and metrics(torch_name.format(s))[0] is not None:
            alt_auc.append(ours["auc"])
    if alt and len(alt_auc) == n:
        text += (f" With the session-4 runs of seeds 1–5 in place of their re-runs, our mean test AUC would be "
                 f"{statistics.mean(alt_auc):.4f}.")
    return text


def repro():
    """Ours (dense) seeds 1–5: session 5's re-runs against the session-4 runs (kept as din-ml1m-dense-s4build-sS)."""
    diffs = []
    for s in range(1, 6):
        new, _ = metrics(f"din-ml1m-dense-s{s}")
        old, _ = metrics(f"din-ml1m-dense-s4build-s{s}")
        if new is not None and old is not None:
            diffs.append(new["auc"] - old["auc"])
    if not diffs:
        return "(not re-run)"
    return (f"re-running seeds 1–{len(diffs)} with it moved their test AUC by "
            + ", ".join(f"{d:+.4f}" for d in diffs).replace("-", "−")
            + f" (mean absolute change {sum(abs(d) for d in diffs) / len(diffs):.4f}; same seeds and samples, builds whose kernels round"
            + " differently): a rebuild moves a run by about as much as the gap being measured")


def seed_rows():
    """The seed tutorial table: test AUC (epoch chosen on validation) and the best test AUC over epochs."""
    import csv
    import statistics
    rows = []
    for label, name, anchor in (("DIN", "din-ml1m-seed", "0.6392"), ("DIN, sigmoid scores", "din-ml1m-seed-sigmoid", "0.6392"),
                                ("DIN, sigmoid scores, min_count 1", "din-ml1m-seed-sigmoid-mc1", "0.6392"),
                                ("DIEN (AUGRU + aux loss)", "dien-ml1m-seed", "0.6469"),
                                ("DIEN (AUGRU + aux loss), min_count 1", "dien-ml1m-seed-mc1", "0.6469")):
        test, valid, best = [], [], []
        for s in range(1, 6):
            d = os.path.join(RUNS, f"{name}-s{s}")
            if not os.path.exists(os.path.join(d, "metrics.json")):
                continue
            m = json.load(open(os.path.join(d, "metrics.json")))
            test.append(m["test"]["auc"])
            valid.append(m["valid"]["auc"])
            best.append(max(float(r["monitor_auc"]) for r in csv.DictReader(open(os.path.join(d, "history.csv")))))
        if not test:
            rows.append(f"| {label} | `{name}` | not run | | | | |")
            continue
        ms = lambda v: f"{statistics.mean(v):.4f} ± {statistics.stdev(v) if len(v) > 1 else 0:.4f}"
        rows.append(f"| {label} | `{name}` | {statistics.mean(valid):.4f} | {', '.join(f'{v:.4f}' for v in test)} | {ms(test)} | {ms(best)} | {anchor} |")
    return "\n".join(rows)


body = open(os.path.join(os.path.dirname(__file__), "results_template.md")).read()
body = body.replace("{{FULL}}", table("base-ml1m", "din-ml1m", "din-dice-ml1m", "dien-augru-ml1m", "dien-augru-noaux-ml1m",
                                      "dien-gru-attention-ml1m", "dien-gru-attention-noaux-ml1m", "dien-aigru-ml1m",
                                      "dien-aigru-noaux-ml1m", "dien-agru-ml1m", "dien-agru-noaux-ml1m").strip())
body = body.replace("{{TIMED}}", table("din-ml1m-timed", "dien-ml1m-timed", "dsin-ml1m", "dsin-pe-ml1m", "dsin-nointeract-ml1m").strip())
body = body.replace("{{TORCH}}", torch_rows())
body = body.replace("{{PAIRED}}", paired())
body = body.replace("{{MORE}}", more_rows())
body = body.replace("{{MORE_PAIRED}}", more_paired())
body = body.replace("{{PARITY}}", parity())
body = body.replace("{{REPRO}}", repro())
body = body.replace("{{SEED}}", seed_rows())
open(os.path.join(ROOT, "docs", "results.md"), "w").write(body)
print("wrote docs/results.md")
