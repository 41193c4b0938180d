"""PyTorch reference for DSIN (Feng et al., IJCAI 2019) (run: /usr/bin/python3 tools/golden/dsin.py).

Writes tests/fixtures/dsin_block.safetensors (bias encoding + Transformer encoder layer over
ragged sessions) and tests/fixtures/dsin_forward.safetensors (a whole DSIN forward and backward on
a tiny batch). The reference modules are built from nn.TransformerEncoderLayer, nn.LSTM and
nn.Linear with the same attribute names as our modules, so the state_dict keys are ours.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(20261123)


class BiasEncoding(nn.Module):
    """BE(k, t, c) = w_k^K + w_t^T + w_c^C (paper §4.2)."""

    def __init__(self, s, l, e):
        super().__init__()
        self.session = nn.Parameter(torch.randn(s) * 0.5)
        self.position = nn.Parameter(torch.randn(l) * 0.5)
        self.unit = nn.Parameter(torch.randn(e) * 0.5)

    def forward(self, x):  # [B, S, L, E]
        s, l = x.shape[1], x.shape[2]
        return x + self.session[:s].view(1, s, 1, 1) + self.position[:l].view(1, 1, l, 1) + self.unit.view(1, 1, 1, -1)


def extract(bias, layer, sess, lengths):
    """Session interests I [B, S, E]: bias encoding, encoder layer per session, mean over real positions."""
    b, s, l, e = sess.shape
    x = bias(sess).reshape(b * s, l, e)
    flat = lengths.reshape(-1)
    real = torch.arange(l).unsqueeze(0) < flat.unsqueeze(1)
    pad = ~real
    pad[flat == 0, 0] = False  # an empty session would make softmax NaN; its output is discarded below
    y = layer(x, src_key_padding_mask=pad)
    pooled = (y * real.unsqueeze(-1)).sum(1) / real.sum(1).clamp(min=1).unsqueeze(-1)
    return pooled.reshape(b, s, e)


class SessionInterest(nn.Module):
    def __init__(self, e, s, l, heads, ff):
        super().__init__()
        self.bias_encoding = BiasEncoding(s, l, e)
        self.extractor = nn.TransformerEncoderLayer(e, heads, dim_feedforward=ff, dropout=0.0, batch_first=True)
        self.interacting = nn.LSTM(e, e, batch_first=True, bidirectional=True)
        self.activate_extractor = nn.Linear(e, e, bias=False)
        self.activate_interacting = nn.Linear(e, e, bias=False)

    def forward(self, query, sess, lengths, counts):
        b, s, _, e = sess.shape
        interests = extract(self.bias_encoding, self.extractor, sess, lengths)  # [B, S, E]
        smask = torch.arange(s).unsqueeze(0) < counts.unsqueeze(1)
        ui = activate(self.activate_extractor, query, interests, smask)
        h = torch.zeros(b, s, e)
        rows = counts > 0
        packed = nn.utils.rnn.pack_padded_sequence(interests[rows], counts[rows], batch_first=True, enforce_sorted=False)
        out, _ = self.interacting(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=s)
        h = h.index_put((rows.nonzero().squeeze(1),), out[:, :, :e] + out[:, :, e:])
        uh = activate(self.activate_interacting, query, h, smask)
        return ui, uh


def activate(w, query, keys, smask):
    """U = Σ_k softmax_k(K_k·W·q)·K_k over real sessions (paper Eq. 9–10); no session → 0."""
    scores = (keys @ w(query).unsqueeze(-1)).squeeze(-1)
    scores = scores.masked_fill(~smask, float("-inf"))
    weights = torch.softmax(scores, dim=1)
    weights = torch.where(smask.any(1, keepdim=True), weights, torch.zeros_like(weights))
    return (weights.unsqueeze(-1) * keys).sum(1)


class MlpLayer(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.linear = nn.Linear(i, o)
        self.act = nn.PReLU(1)

    def forward(self, x):
        return self.act(self.linear(x))


class Mlp(nn.Module):
    def __init__(self, i, hidden):
        super().__init__()
        self.layers = nn.ModuleList()
        for h in hidden:
            self.layers.append(MlpLayer(i, h))
            i = h

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Dsin(nn.Module):
    def __init__(self, d, s, l, heads, ff, hidden):
        super().__init__()
        self.embeddings = nn.ModuleDict({n: nn.Embedding(v, d, padding_idx=0) for n, v in (("user", 6), ("item", 12), ("cate", 5))})
        self.sessions = nn.ModuleDict({"sessions": SessionInterest(2 * d, s, l, heads, ff)})
        self.mlp = Mlp(3 * d + 4 * d, hidden)
        self.out = nn.Linear(hidden[-1], 1)

    def forward(self, user, item, cate, sess_item, sess_cate, lengths, counts):
        e = self.embeddings
        query = torch.cat([e["item"](item), e["cate"](cate)], -1)
        sess = torch.cat([e["item"](sess_item), e["cate"](sess_cate)], -1)
        ui, uh = self.sessions["sessions"](query, sess, lengths, counts)
        x = torch.cat([e["user"](user), e["item"](item), e["cate"](cate), ui, uh], -1)
        return self.out(self.mlp(x)).squeeze(-1)


def block():
    n, s, l, e, heads, ff = 2, 3, 4, 8, 2, 6
    lengths = torch.tensor([[4, 2, 1], [3, 0, 0]])
    bias = BiasEncoding(s, l, e)
    layer = nn.TransformerEncoderLayer(e, heads, dim_feedforward=ff, dropout=0.0, batch_first=True)
    with torch.no_grad():
        layer.self_attn.in_proj_bias.normal_()
        layer.norm1.weight.normal_()
        layer.norm2.bias.normal_()
    x = torch.randn(n, s, l, e, requires_grad=True)
    y = extract(bias, layer, x, lengths)
    w = torch.randn_like(y)
    (y * w).sum().backward()
    t = {"x": x, "lengths": lengths, "y": y, "w_out": w, "x.grad": x.grad}
    for k, v in list(bias.named_parameters(prefix="bias_encoding")) + list(layer.named_parameters(prefix="extractor")):
        t[k] = v
        t[k + ".grad"] = v.grad
    st.save(os.path.join(OUT, "dsin_block.safetensors"), t)


def forward():
    d, s, l, heads, ff, hidden = 4, 3, 4, 2, 6, [8, 4]
    model = Dsin(d, s, l, heads, ff, hidden)
    with torch.no_grad():
        model.sessions["sessions"].extractor.self_attn.in_proj_bias.normal_()
        for emb in model.embeddings.values():
            emb.weight.mul_(0.5)
    # Rows: 3 sessions, 1 session, no session, 2 sessions; the longest session fills L = 4.
    counts = torch.tensor([3, 1, 0, 2])
    lengths = torch.tensor([[2, 4, 1], [3, 0, 0], [0, 0, 0], [1, 2, 0]])
    sess_item = torch.zeros(4, s, l, dtype=torch.long)
    for b in range(4):
        for k in range(s):
            sess_item[b, k, : lengths[b, k]] = torch.randint(1, 12, (int(lengths[b, k]),))
    cate_of = torch.tensor([0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3])
    sess_cate = cate_of[sess_item] * (sess_item > 0)
    user = torch.tensor([1, 2, 3, 5])
    item = torch.tensor([3, 7, 11, 2])
    cate = cate_of[item]
    labels = torch.tensor([1.0, 0.0, 1.0, 0.0])
    logits = model(user, item, cate, sess_item, sess_cate, lengths, counts)
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    loss.backward()
    t = {"user": user, "item": item, "cate": cate, "sess_item": sess_item, "sess_cate": sess_cate,
         "lengths": lengths, "counts": counts, "labels": labels, "logits": logits, "loss": loss.reshape(1)}
    for k, v in model.named_parameters():
        t[k] = v
        t[k + ".grad"] = v.grad
    st.save(os.path.join(OUT, "dsin_forward.safetensors"), t)


if __name__ == "__main__":
    block()
    forward()
    print("fixtures written")
