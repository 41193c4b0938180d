"""PyTorch reference for the accuracy tables: BaseModel, DIN (PReLU or Dice), DIEN and the DIN paper's baselines
Wide & Deep, PNN (inner product) and DeepFM, trained on OUR prepared samples.

The bar of issue #4 is "a PyTorch implementation of the same model on the same samples". This script
reads the dataset cache written by `deepinterest prepare` (train/valid/test .safetensors: int32
columns `sparse.<name>`, `seq.<name>.ids`, `seq.<name>.lengths`, float32 `labels`, int32 `users`), builds
the same architecture as src/DeepInterest.Models with the same parameter names (embeddings shared per
table; DIN's local activation unit over [q, k, q−k, q⊙k] at the real positions, sigmoid weights; Dice
or PReLU; DIEN's GRU extractor, auxiliary net and AUGRU/AGRU/AIGRU/GRU + attention; MLP; the
baselines' first-order, cross, inner-product and FM terms as specified in Model.baseline for the C#
side), trains it the PyTorch way (dense Adam), selects the epoch on validation AUC, and prints test
AUC / GAUC / logloss as JSON. `--load weights.safetensors` instead scores the test set with the
weights our training wrote.
tools/golden/ctr_models.py imports Model from here for the C# parity tests.

Run: /usr/bin/python3 tools/reference/torch_ctr.py --data DIR --model base|din|dien|wide_deep|pnn|deepfm [--activation dice] --epochs 2 --seed 1
"""
import argparse
import json
import os
import struct
import sys
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


class Dice(nn.Module):
    """DIN paper §4.3, as ours: y = p·x + (1 − p)·α·x, p = σ(BN(x)), BN without affine, ε = 1e-8, α = 0 at start."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm1d(c, eps=1e-8, momentum=0.1, affine=False)
        self.alpha = nn.Parameter(torch.zeros(c))

    def forward(self, x):                                                   # [N, C]
        p = torch.sigmoid(self.bn(x))
        return p * x + (1 - p) * self.alpha * x


class Layer(nn.Module):
    def __init__(self, i, o, act):
        super().__init__()
        self.linear = nn.Linear(i, o)
        self.act = {"prelu": lambda: nn.PReLU(1), "dice": lambda: Dice(o), "sigmoid": nn.Sigmoid}[act]()

    def forward(self, x):
        return self.act(self.linear(x))


class Mlp(nn.Module):
    def __init__(self, i, hidden, act):
        super().__init__()
        self.layers = nn.ModuleList()
        for h in hidden:
            self.layers.append(Layer(i, h, act))
            i = h
        self.out_features = i

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class ActivationUnit(nn.Module):
    """DIN's local activation unit: fc(MLP([q, k, q − k, q ⊙ k])) at the REAL positions only, gathered
    into rows first, so Dice's batch statistics are over real behaviours (as ours); 0 at padding."""

    def __init__(self, e, hidden, act):
        super().__init__()
        self.mlp = Mlp(4 * e, hidden, act)
        self.fc = nn.Linear(self.mlp.out_features, 1)

    def forward(self, q, k, mask):                                          # [B, E], [B, T, E], [B, T] bool
        rows, steps = mask.nonzero(as_tuple=True)
        kk, qq = k[rows, steps], q[rows]                                    # [N, E]
        s = self.fc(self.mlp(torch.cat([qq, kk, qq - kk, qq * kk], -1))).squeeze(-1)
        return torch.zeros(mask.shape, dtype=s.dtype).index_put((rows, steps), s)   # [B, T]


def run_gru(gru, x, lengths):
    """nn.GRU over the real steps (packed): outputs [B, T, H] (zero after each row's end), last real state [B, H]."""
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
    out, h = gru(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return out, h[0] * (lengths > 0).unsqueeze(1)


class AttentionGru(nn.Module):
    """DIEN §4.3 AGRU / AUGRU with nn.GRU's parameter layout (gate blocks r, z, n; U(−1/√H, 1/√H)):
    r = σ(W_ir x + b_ir + W_hr h + b_hr), u = σ(W_iz x + b_iz + W_hz h + b_hz),
    n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)); g = a_t·u (AUGRU) or a_t (AGRU); h' = (1 − g) ⊙ h + g ⊙ n.
    A row's state stops changing after its last real step; returns the last real state [B, H]."""

    def __init__(self, e, h, kind):
        super().__init__()
        self.kind, self.hidden = kind, h
        k = 1 / h ** 0.5
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * h, e).uniform_(-k, k))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * h, h).uniform_(-k, k))
        self.bias_ih_l0 = nn.Parameter(torch.empty(3 * h).uniform_(-k, k))
        self.bias_hh_l0 = nn.Parameter(torch.empty(3 * h).uniform_(-k, k))

    def forward(self, x, lengths, a):                                       # [B, T, E], [B], [B, T]
        gi = F.linear(x, self.weight_ih_l0, self.bias_ih_l0)                # [B, T, 3H]
        h = x.new_zeros(x.shape[0], self.hidden)
        for t in range(x.shape[1]):
            gh = F.linear(h, self.weight_hh_l0, self.bias_hh_l0)
            ir, iz, inn = gi[:, t].chunk(3, -1)
            hr, hz, hn = gh.chunk(3, -1)
            r = torch.sigmoid(ir + hr)
            n = torch.tanh(inn + r * hn)
            g = a[:, t:t + 1] * (torch.sigmoid(iz + hz) if self.kind == "augru" else 1)
            h = torch.where((t < lengths).unsqueeze(1), (1 - g) * h + g * n, h)
        return h


class Interest(nn.Module):
    """DIEN Fig. 1 for one attention group: extractor GRU (+ auxiliary net), attention, evolution."""

    def __init__(self, e, att_hidden, act, evolution, aux_hidden, aux):
        super().__init__()
        self.evolution_kind = evolution
        self.extractor = nn.GRU(e, e, batch_first=True)
        self.attention = ActivationUnit(e, att_hidden, act)
        self.evolution = AttentionGru(e, e, evolution) if evolution in ("agru", "augru") else nn.GRU(e, e, batch_first=True)
        if aux:
            self.aux_mlp = Mlp(2 * e, aux_hidden, "sigmoid")
            self.aux_out = nn.Linear(self.aux_mlp.out_features, 1)

    def forward(self, q, k, neg, mask, lengths):
        interests, _ = run_gru(self.extractor, k, lengths)                  # [B, T, E]
        aux = None
        if neg is not None and k.shape[1] > 1:
            rows, steps = (torch.arange(k.shape[1] - 1).unsqueeze(0) < (lengths - 1).unsqueeze(1)).nonzero(as_tuple=True)
            h = interests[rows, steps]                                      # [N, E]: h_t, then e_{t+1} and e'_{t+1}
            pairs = torch.cat([torch.cat([h, k[rows, steps + 1]], -1), torch.cat([h, neg[rows, steps + 1]], -1)], 0)
            logits = self.aux_out(self.aux_mlp(pairs)).squeeze(-1)
            labels = torch.cat([torch.ones(len(rows)), torch.zeros(len(rows))])
            aux = F.binary_cross_entropy_with_logits(logits, labels) if len(rows) else None
        if self.evolution_kind == "gru-attention":
            evolved, _ = run_gru(self.evolution, interests, lengths)
            w = torch.sigmoid(self.attention(q, evolved, mask)) * mask
            return (w.unsqueeze(-1) * evolved).sum(1), aux
        w = torch.sigmoid(self.attention(q, interests, mask)) * mask        # [B, T]
        if self.evolution_kind == "aigru":
            return run_gru(self.evolution, interests * w.unsqueeze(-1), lengths)[1], aux
        return self.evolution(interests, lengths, w), aux


BASELINES = ("wide_deep", "pnn", "deepfm")
CROSS_ROWS = 1 << 24          # Wide & Deep: a cross table has min(V_hist·V_target, 2^24) rows, index mod that (as ours)


def normal_tables(tables, std, padding=True):
    for e in tables.values():
        nn.init.normal_(e.weight, 0, std)
        if padding:
            with torch.no_grad():
                e.weight[0].zero_()


class Model(nn.Module):
    """Parameter names are ours (docs/model-format.md), so `--load` reads our weights.safetensors."""

    def __init__(self, schema, kind, act, mlp_hidden, att_hidden, init_std, evolution="augru", aux_hidden=(100, 50), aux=False):
        super().__init__()
        self.schema, self.kind = schema, kind
        self.embeddings = nn.ModuleDict({t["name"]: nn.Embedding(t["vocab"], t["dim"], padding_idx=0) for t in schema["tables"]})
        normal_tables(self.embeddings, init_std)
        dim = {t["name"]: t["dim"] for t in schema["tables"]}
        vocab = {t["name"]: t["vocab"] for t in schema["tables"]}
        self.sparse = [(s["name"], s["table"]) for s in schema["sparse"]]
        self.sparse_table = dict(self.sparse)
        self.seq_table = {q["name"]: q["table"] for q in schema["sequences"]}
        self.groups = schema.get("groups", [])
        negative = {p.get("negative_history") for g in self.groups for p in g["pairs"]}
        attended = {p["history"] for g in self.groups for p in g["pairs"]} | negative
        # the baselines sum-pool every sequence but the negative histories, in schema order, after the sparse features
        skip = negative if kind in BASELINES else attended
        self.pooled = [(q["name"], q["table"]) for q in schema["sequences"] if kind == "base" or q["name"] not in skip]
        fields = [dim[t] for _, t in self.sparse] + [dim[t] for _, t in self.pooled]
        width = sum(fields) + len(schema.get("dense", []))
        if kind in ("pnn", "deepfm") and len(set(fields)) > 1:
            raise ValueError(f"{kind}: every field needs the same embedding width, got {fields}")
        if kind == "pnn":
            width += len(fields) * (len(fields) - 1) // 2
        if kind in ("wide_deep", "deepfm"):                                 # first-order weights, one per id and table
            self.linear = nn.ModuleDict({t["name"]: nn.Embedding(t["vocab"], 1, padding_idx=0) for t in schema["tables"]})
            normal_tables(self.linear, init_std)
        if kind == "wide_deep":                                             # cross(history id, target id) weights per pair
            self.cross = nn.ModuleDict({g["name"]: nn.ModuleDict({p["target"]: nn.Embedding(
                min(vocab[self.seq_table[p["history"]]] * vocab[self.sparse_table[p["target"]]], CROSS_ROWS), 1)
                for p in g["pairs"]}) for g in self.groups})
            for m in self.cross.values():
                normal_tables(m, init_std, padding=False)
        self.attention, self.interest = nn.ModuleDict(), nn.ModuleDict()
        for g in ([] if kind in BASELINES else self.groups):
            e = sum(dim[self.sparse_table[p["target"]]] for p in g["pairs"])
            if kind == "din":
                self.attention[g["name"]] = ActivationUnit(e, att_hidden, act)
            elif kind == "dien":
                self.interest[g["name"]] = Interest(e, att_hidden, act, evolution, aux_hidden, aux)
            width += e
        self.mlp = Mlp(width, mlp_hidden, act)
        self.out = nn.Linear(self.mlp.out_features, 1)

    def lookup(self, b, g, key):
        return torch.cat([self.embeddings[self.seq_table[p[key]]](b[f"seq.{p[key]}.ids"]) for p in g["pairs"]], -1)

    def dense(self, b):
        return [b["dense." + d["name"]].unsqueeze(-1) for d in self.schema.get("dense", [])]

    def baseline(self, b, fields):
        """Wide & Deep, IPNN, DeepFM over the fields (sparse embeddings, then sum-pooled sequences) [B, E] each.
        first = Σ linear weight of every sparse id and real sequence id; deep = out(mlp([fields, dense])).
        PNN: logits = out(mlp([fields, <f_i, f_j> for i < j (i outer), dense])).
        DeepFM: deep + first + 0.5·Σ_e((Σ_i f_i)² − Σ_i f_i²). Wide & Deep: deep + first + Σ over each group's
        pairs and the real history positions of cross[history id · V_target + target id].
        Keeps the terms in self.terms (the golden fixtures store them)."""
        f = torch.stack(fields, 1) if self.kind != "wide_deep" else None    # [B, N, E]
        if self.kind == "pnn":
            i, j = torch.triu_indices(len(fields), len(fields), 1)
            self.terms = {"products": (f[:, i] * f[:, j]).sum(-1)}          # [B, N(N−1)/2]
            return self.out(self.mlp(torch.cat(fields + [self.terms["products"]] + self.dense(b), -1))).squeeze(-1)
        deep = self.out(self.mlp(torch.cat(fields + self.dense(b), -1))).squeeze(-1)
        first = sum(self.linear[t](b["sparse." + n]).squeeze(-1) for n, t in self.sparse)
        for n, t in self.pooled:
            first = first + (self.linear[t](b[f"seq.{n}.ids"]).squeeze(-1) * b[f"mask.{n}"]).sum(1)
        self.terms = {"first_order": first}
        if self.kind == "deepfm":
            self.terms["fm"] = 0.5 * (f.sum(1) ** 2 - (f * f).sum(1)).sum(-1)
            return deep + first + self.terms["fm"]
        cross = torch.zeros_like(first)
        for g in self.groups:
            for p in g["pairs"]:
                w, h = self.cross[g["name"]][p["target"]], p["history"]
                v = self.embeddings[self.sparse_table[p["target"]]].num_embeddings
                # exact while V_hist·V_target ≤ 2^24 (CROSS_ROWS), else wrapped mod 2^24 (int64 product, as ours)
                idx = (b[f"seq.{h}.ids"] * v + b["sparse." + p["target"]].unsqueeze(1)) % w.num_embeddings   # [B, T]
                cross = cross + (w(idx).squeeze(-1) * b[f"mask.{h}"]).sum(1)
        self.terms["cross"] = cross
        return deep + first + cross

    def forward(self, b):
        """Logits [B] and the auxiliary loss (DIEN in training, else None)."""
        parts = [self.embeddings[t](b["sparse." + n]) for n, t in self.sparse]
        for n, t in self.pooled:
            parts.append((self.embeddings[t](b[f"seq.{n}.ids"]) * b[f"mask.{n}"].unsqueeze(-1)).sum(1))
        if self.kind in BASELINES:
            return self.baseline(b, parts), None
        aux = []
        for g in self.groups:
            q = torch.cat([self.embeddings[self.sparse_table[p["target"]]](b["sparse." + p["target"]]) for p in g["pairs"]], -1)  # [B, E]
            k = self.lookup(b, g, "history")                                                                # [B, T, E]
            h0 = g["pairs"][0]["history"]
            mask = b[f"mask.{h0}"]                                                                          # [B, T]
            if self.kind == "din":
                w = torch.sigmoid(self.attention[g["name"]](q, k, mask.bool())) * mask
                parts.append((w.unsqueeze(-1) * k).sum(1))
            elif self.kind == "dien":
                m = self.interest[g["name"]]
                neg = self.lookup(b, g, "negative_history") if self.training and hasattr(m, "aux_mlp") else None
                v, a = m(q, k, neg, mask.bool(), b[f"len.{h0}"])
                parts.append(v)
                if a is not None:
                    aux.append(a)
            else:
                parts.append((mask.unsqueeze(-1) * k).sum(1))                                               # BaseModel: sum pooling
        return self.out(self.mlp(torch.cat(parts + self.dense(b), -1))).squeeze(-1), (sum(aux) if aux else None)


def batches(d, schema, idx, size):
    for s in range(0, len(idx), size):
        r = idx[s:s + size]
        b = {}
        for f in schema["sparse"]:
            b["sparse." + f["name"]] = torch.from_numpy(d["sparse." + f["name"]][r].astype(np.int64))
        for f in schema.get("dense", []):
            b["dense." + f["name"]] = torch.from_numpy(d["dense." + f["name"]][r].astype(np.float32))
        for q in schema["sequences"]:
            lengths = torch.from_numpy(d[f"seq.{q['name']}.lengths"][r].astype(np.int64))
            t = max(1, int(lengths.max()))
            b[f"seq.{q['name']}.ids"] = torch.from_numpy(d[f"seq.{q['name']}.ids"][r, :t].astype(np.int64))
            b[f"len.{q['name']}"] = lengths
            b[f"mask.{q['name']}"] = (torch.arange(t).unsqueeze(0) < lengths.unsqueeze(1)).float()
        b["labels"] = torch.from_numpy(d["labels"][r].astype(np.float32))
        yield b


def predict(model, d, schema):
    model.eval()
    out = []
    with torch.no_grad():
        for b in batches(d, schema, np.arange(len(d["labels"])), 4096):
            out.append(torch.sigmoid(model(b)[0]).numpy())
    model.train()
    return np.concatenate(out)


def metrics(d, p):
    y = d["labels"].astype(np.int64)
    pc = np.clip(p, 1e-7, 1 - 1e-7)
    return {"auc": auc(y, p), "gauc": gauc(y, p, d["users"]), "logloss": float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))}


def main():
    a = argparse.ArgumentParser()
    a.add_argument("--data", required=True, help="a cache written by `deepinterest prepare`")
    a.add_argument("--model", choices=["base", "din", "dien", *BASELINES], default="din")
    a.add_argument("--activation", choices=["prelu", "dice"], default="prelu", help="attention unit and MLP")
    a.add_argument("--evolution", choices=["augru", "agru", "aigru", "gru-attention"], default="augru")
    a.add_argument("--aux-weight", type=float, default=1.0, help="DIEN: α of the auxiliary loss (0 = off)")
    a.add_argument("--epochs", type=int, default=2)
    a.add_argument("--batch", type=int, default=256)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--seed", type=int, default=1)
    a.add_argument("--threads", type=int, default=2)
    a.add_argument("--limit", type=int, default=0, help="train on the first N shuffled samples of each epoch (smoke runs)")
    a.add_argument("--load", help="evaluate OUR weights.safetensors on test instead of training (architecture parity check)")
    args = a.parse_args()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    sets = {}
    for split in ("train", "valid", "test"):
        sets[split], meta = read_safetensors(os.path.join(args.data, f"{split}.safetensors"))
    schema = json.loads(meta["schema"])
    model = Model(schema, args.model, args.activation, [200, 80], [80, 40], 0.05, args.evolution, (100, 50), args.model == "dien" and args.aux_weight > 0)
    if args.load:
        weights, _ = read_safetensors(args.load)
        mine = model.state_dict()
        missing = [k for k in mine if k not in weights and not k.endswith("num_batches_tracked")]
        extra = [k for k in weights if k not in mine]
        if missing or extra:
            raise SystemExit(f"{args.load}: missing {missing}, unexpected {extra}")
        model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in weights.items()}, strict=False)
        p = predict(model, sets["test"], schema)
        print(json.dumps({"model": args.model, "load": args.load, "test": metrics(sets["test"], p), "predictions": p[:8].tolist()}))
        return
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    best, best_state, history = -1.0, None, []
    n = len(sets["train"]["labels"])
    for epoch in range(1, args.epochs + 1):
        start = time.time()
        idx = np.random.permutation(n)[:args.limit or n]
        for b in batches(sets["train"], schema, idx, args.batch):
            logits, aux = model(b)
            loss = F.binary_cross_entropy_with_logits(logits, b["labels"])
            if aux is not None:
                loss = loss + args.aux_weight * aux
            opt.zero_grad()
            loss.backward()
            opt.step()
        seconds = time.time() - start
        v = metrics(sets["valid"], predict(model, sets["valid"], schema))
        history.append({"epoch": epoch, "seconds": seconds, "samples_per_second": len(idx) / seconds, **{"valid." + k: x for k, x in v.items()}})
        print(json.dumps(history[-1]), file=sys.stderr, flush=True)
        if v["auc"] > best:
            best, best_state = v["auc"], {k: t.clone() for k, t in model.state_dict().items()}
    model.load_state_dict(best_state)
    t = metrics(sets["test"], predict(model, sets["test"], schema))
    print(json.dumps({"model": args.model, "activation": args.activation, "evolution": args.evolution if args.model == "dien" else None,
                      "aux_weight": args.aux_weight if args.model == "dien" else None, "seed": args.seed, "test": t, "history": history}))


if __name__ == "__main__":
    main()
