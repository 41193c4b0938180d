"""PyTorch reference for the accuracy table: BaseModel and DIN trained on OUR prepared samples.

The bar of issue #4 is "a PyTorch implementation of the same model on the same samples". This script
reads the dataset cache written by `deepinterest prepare` (train/valid/test .safetensors: int32
columns `sparse.<name>`, `seq.<name>.ids`, `seq.<name>.lengths`, float32 `labels`, int32 `users`), builds
the same architecture as src/DeepInterest.Models (embeddings shared per table, DIN's local
activation unit over [q, k, q−k, q⊙k] with PReLU, sigmoid weights at real positions, MLP with PReLU),
trains it the PyTorch way (dense Adam), selects the epoch on validation AUC, and prints test
AUC / GAUC / logloss as JSON.

Run: /usr/bin/python3 tools/reference/torch_ctr.py --data DIR --model din --epochs 2 --seed 1
"""
import argparse
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    out = {}
    for name, h in header.items():
        dt = {"I32": np.int32, "F32": np.float32, "I64": np.int64}[h["dtype"]]
        b, e = h["data_offsets"]
        out[name] = np.frombuffer(data[b:e], dtype=dt).reshape(h["shape"])
    return out, meta


def auc(y, p):
    """Mann-Whitney AUC with average ranks for ties."""
    order = np.argsort(p, kind="mergesort")
    ps = p[order]
    ranks = np.empty(len(p))
    i = 0
    while i < len(p):
        j = i
        while j + 1 < len(p) and ps[j + 1] == ps[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = y == 1
    npos, nneg = pos.sum(), (~pos).sum()
    if npos == 0 or nneg == 0:
        return float("nan")
    return float((ranks[pos].sum() - npos * (npos + 1) / 2) / (npos * nneg))


def gauc(y, p, users):
    total, weight = 0.0, 0
    for u in np.unique(users):
        m = users == u
        a = auc(y[m], p[m])
        if not np.isnan(a):
            total += a * m.sum()
            weight += m.sum()
    return total / weight if weight else float("nan")


class Layer(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear = nn.Linear(i, o)
        self.act = nn.PReLU(1)

    def forward(self, x):
        return self.act(self.linear(x))


def mlp(i, hidden):
    layers = []
    for h in hidden:
        layers.append(Layer(i, h))
        i = h
    return nn.Sequential(*layers), i


class Model(nn.Module):
    def __init__(self, schema, kind, mlp_hidden, att_hidden, init_std):
        super().__init__()
        self.schema, self.kind = schema, kind
        self.emb = nn.ModuleDict({t["name"]: nn.Embedding(t["vocab"], t["dim"], padding_idx=0) for t in schema["tables"]})
        for e in self.emb.values():
            nn.init.normal_(e.weight, 0, init_std)
            with torch.no_grad():
                e.weight[0].zero_()
        dim = {t["name"]: t["dim"] for t in schema["tables"]}
        self.sparse = [(s["name"], s["table"]) for s in schema["sparse"]]
        self.groups = [[(p["target"], p["history"]) for p in g["pairs"]] for g in schema.get("groups", [])]
        attended = {h for g in self.groups for _, h in g} | {p.get("negative_history") for g in schema.get("groups", []) for p in g["pairs"]}
        self.pooled = [(q["name"], q["table"]) for q in schema["sequences"] if q["name"] not in attended]
        width = sum(dim[t] for _, t in self.sparse) + sum(dim[t] for _, t in self.pooled)
        seq_table = {q["name"]: q["table"] for q in schema["sequences"]}
        self.seq_table = seq_table
        self.sparse_table = dict(self.sparse)
        self.att = nn.ModuleList()
        for g in self.groups:
            e = sum(dim[self.sparse_table[t]] for t, _ in g)
            if kind == "din":
                m, o = mlp(4 * e, att_hidden)
                self.att.append(nn.Sequential(m, nn.Linear(o, 1)))
            width += e
        self.mlp, o = mlp(width, mlp_hidden)
        self.out = nn.Linear(o, 1)

    def forward(self, b):
        parts = [self.emb[t](b["sparse." + n]) for n, t in self.sparse]
        for n, t in self.pooled:
            parts.append((self.emb[t](b[f"seq.{n}.ids"]) * b[f"mask.{n}"].unsqueeze(-1)).sum(1))
        for gi, g in enumerate(self.groups):
            q = torch.cat([self.emb[self.sparse_table[t]](b["sparse." + t]) for t, _ in g], -1)          # [B, E]
            k = torch.cat([self.emb[self.seq_table[h]](b[f"seq.{h}.ids"]) for _, h in g], -1)          # [B, T, E]
            mask = b[f"mask.{g[0][1]}"]                                                                # [B, T]
            if self.kind == "din":
                qq = q.unsqueeze(1).expand_as(k)
                s = self.att[gi](torch.cat([qq, k, qq - k, qq * k], -1)).squeeze(-1)
                w = torch.sigmoid(s) * mask
            else:
                w = mask                                                                               # BaseModel: sum pooling
            parts.append((w.unsqueeze(-1) * k).sum(1))
        return self.out(self.mlp(torch.cat(parts, -1))).squeeze(-1)


def batches(d, schema, idx, size):
    for s in range(0, len(idx), size):
        r = idx[s:s + size]
        b = {}
        for f in schema["sparse"]:
            b["sparse." + f["name"]] = torch.from_numpy(d["sparse." + f["name"]][r].astype(np.int64))
        for q in schema["sequences"]:
            lengths = d[f"seq.{q['name']}.lengths"][r]
            t = max(1, int(lengths.max()))
            b[f"seq.{q['name']}.ids"] = torch.from_numpy(d[f"seq.{q['name']}.ids"][r, :t].astype(np.int64))
            b[f"mask.{q['name']}"] = (torch.arange(t).unsqueeze(0) < torch.from_numpy(lengths.astype(np.int64)).unsqueeze(1)).float()
        b["labels"] = torch.from_numpy(d["labels"][r].astype(np.float32))
        yield b


def predict(model, d, schema):
    model.eval()
    out = []
    with torch.no_grad():
        for b in batches(d, schema, np.arange(len(d["labels"])), 4096):
            out.append(torch.sigmoid(model(b)).numpy())
    model.train()
    return np.concatenate(out)


def metrics(d, p):
    y = d["labels"].astype(np.int64)
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    return {"auc": auc(y, p), "gauc": gauc(y, p, d["users"]), "logloss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))}


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--data", required=True)
    a.add_argument("--model", choices=["base", "din"], default="din")
    a.add_argument("--epochs", type=int, default=2)
    a.add_argument("--batch", type=int, default=256)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--threads", type=int, default=2)
    args = a.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    sets = {}
    for split in ("train", "valid", "test"):
        sets[split], meta = read_safetensors(os.path.join(args.data, f"{split}.safetensors"))
    schema = json.loads(meta["schema"])
    model = Model(schema, args.model, [200, 80], [80, 40], 0.05)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    best, best_state, history = -1.0, None, []
    n = len(sets["train"]["labels"])
    for epoch in range(1, args.epochs + 1):
        start = time.time()
        idx = np.random.permutation(n)
        for b in batches(sets["train"], schema, idx, args.batch):
            loss = F.binary_cross_entropy_with_logits(model(b), b["labels"])
            opt.zero_grad()
            loss.backward()
            opt.step()
        v = metrics(sets["valid"], predict(model, sets["valid"], schema))
        history.append({"epoch": epoch, "seconds": time.time() - start, "samples_per_second": n / (time.time() - start), **{"valid." + k: x for k, x in v.items()}})
        if v["auc"] > best:
            best, best_state = v["auc"], {k: t.clone() for k, t in model.state_dict().items()}
    model.load_state_dict(best_state)
    t = metrics(sets["test"], predict(model, sets["test"], schema))
    print(json.dumps({"model": args.model, "seed": args.seed, "test": t, "history": history}))


if __name__ == "__main__":
    main()
