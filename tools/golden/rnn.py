"""PyTorch reference fixtures for the recurrent ops (run: /usr/bin/python3 tools/golden/rnn.py).

rnn_gru.safetensors: nn.GRU over pack_padded_sequence(enforce_sorted=False) with ragged lengths,
and AGRU / AUGRU written as loops over time with the same (r, z, n) parameter layout, rows frozen
after their length. Loss L = sum(outputs * w_out) + sum(last * w_last).
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
torch.manual_seed(7)
B, T, I, H = 4, 5, 3, 4
lengths = torch.tensor([5, 2, 1, 4])


def attention_gru(kind, x, a, w_ih, w_hh, b_ih, b_hh):
    h = torch.zeros(B, H)
    outs = []
    for t in range(T):
        gi = x[:, t] @ w_ih.t() + b_ih
        gh = h @ w_hh.t() + b_hh
        i_r, i_z, i_n = gi.chunk(3, 1)
        h_r, h_z, h_n = gh.chunk(3, 1)
        r = torch.sigmoid(i_r + h_r)
        n = torch.tanh(i_n + r * h_n)
        at = a[:, t].unsqueeze(1)
        g = at if kind == "agru" else at * torch.sigmoid(i_z + h_z)
        h_new = (1 - g) * h + g * n
        active = (t < lengths).unsqueeze(1)
        h = torch.where(active, h_new, h)
        outs.append(torch.where(active, h_new, torch.zeros_like(h_new)))
    return torch.stack(outs, 1), h


def main():
    t = {"lengths": lengths}
    gru = nn.GRU(I, H, batch_first=True)
    x = torch.randn(B, T, I, requires_grad=True)
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, hn = gru(packed)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
    last = hn[0]
    w_out, w_last = torch.randn_like(out), torch.randn_like(last)
    ((out * w_out).sum() + (last * w_last).sum()).backward()
    t.update({"x": x, "w_out": w_out, "w_last": w_last, "gru.out": out, "gru.last": last, "gru.x.grad": x.grad})
    for name, p in gru.named_parameters():
        t[f"gru.{name}"] = p
        t[f"gru.{name}.grad"] = p.grad
    for kind in ("agru", "augru"):
        xk = x.detach().clone().requires_grad_(True)
        a = torch.rand(B, T, requires_grad=True)
        ps = [p.detach().clone().requires_grad_(True) for p in (gru.weight_ih_l0, gru.weight_hh_l0, gru.bias_ih_l0, gru.bias_hh_l0)]
        o, l = attention_gru(kind, xk, a, *ps)
        ((o * w_out).sum() + (l * w_last).sum()).backward()
        t.update({f"{kind}.scores": a, f"{kind}.out": o, f"{kind}.last": l, f"{kind}.x.grad": xk.grad, f"{kind}.scores.grad": a.grad})
        for name, p in zip(("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), ps):
            t[f"{kind}.{name}.grad"] = p.grad
    st.save(os.path.join(OUT, "rnn_gru.safetensors"), t)
    print("wrote rnn_gru.safetensors")


if __name__ == "__main__":
    main()
