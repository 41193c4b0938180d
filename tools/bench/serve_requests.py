#!/usr/bin/env python3
"""Request bodies for the serving load tests: one JSON object per line, from a model folder's
examples.json (the test users' raw histories), each history cut or repeated to --history behaviours
(oldest first; times kept as given) and its candidates filled up to --candidates with items of the
model's vocabulary (serving.json), deterministically. Standard library only.

Usage: python3 tools/bench/serve_requests.py MODEL_DIR --candidates 100 --history 50 > bodies.jsonl
"""
import argparse
import json
import os
import random


def main():
    a = argparse.ArgumentParser()
    a.add_argument("model")
    a.add_argument("--candidates", type=int, default=100)
    a.add_argument("--history", type=int, default=50)
    a.add_argument("--seed", type=int, default=1)
    args = a.parse_args()
    examples = json.load(open(os.path.join(args.model, "examples.json")))
    spec = json.load(open(os.path.join(args.model, "serving.json")))
    items = [v for v in spec["vocabularies"][spec["item_vocabulary"]]["values"] if v]
    rng = random.Random(args.seed)
    for e in examples:
        history = e["history"]
        if not history:
            continue
        while len(history) < args.history:          # repeat the user's own behaviours, oldest first
            history = history + history
        e["history"] = history[-args.history:]
        extra = rng.sample(items, args.candidates)
        e["candidates"] = (e["candidates"] + [c for c in extra if c not in e["candidates"]])[:args.candidates]
        print(json.dumps(e, separators=(",", ":")))


if __name__ == "__main__":
    main()
