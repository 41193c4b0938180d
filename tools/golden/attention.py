"""PyTorch references for LSTM/BiLSTM, multi-head attention, LayerNorm and Adagrad
(run: /usr/bin/python3 tools/golden/attention.py; writes tests/fixtures/attn_*.safetensors)."""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
torch.manual_seed(11)


def lstm():
    B, T, I, H = 4, 5, 3, 4
    lengths = torch.tensor([5, 2, 1, 4])
    t = {"lengths": lengths}
    for name, bi in (("lstm", False), ("bilstm", True)):
        m = nn.LSTM(I, H, batch_first=True, bidirectional=bi)
        x = torch.randn(B, T, I, requires_grad=True)
        out, (hn, _) = m(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)
        last = torch.cat([hn[0], hn[1]], dim=-1) if bi else hn[0]
        w1, w2 = torch.randn_like(out), torch.randn_like(last)
        ((out * w1).sum() + (last * w2).sum()).backward()
        t.update({f"{name}.x": x, f"{name}.out": out, f"{name}.last": last, f"{name}.w_out": w1, f"{name}.w_last": w2, f"{name}.x.grad": x.grad})
        for pn, p in m.named_parameters():
            t[f"{name}.{pn}"] = p
            t[f"{name}.{pn}.grad"] = p.grad
    st.save(os.path.join(OUT, "attn_lstm.safetensors"), t)


def mha_layernorm_adagrad():
    B, T, E, Hh = 3, 4, 8, 2
    lengths = torch.tensor([4, 2, 3])
    mha = nn.MultiheadAttention(E, Hh, batch_first=True)
    with torch.no_grad():
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    x = torch.randn(B, T, E, requires_grad=True)
    pad = torch.arange(T).unsqueeze(0) >= lengths.unsqueeze(1)
    y, _ = mha(x, x, x, key_padding_mask=pad, need_weights=False)
    w = torch.randn_like(y)
    ln = nn.LayerNorm(E)
    with torch.no_grad():
        ln.weight.normal_()
        ln.bias.normal_()
    z = ln(y)
    wz = torch.randn_like(z)
    ((y * w).sum() + (z * wz).sum()).backward()
    t = {"lengths": lengths, "x": x, "y": y, "w_y": w, "z": z, "w_z": wz, "x.grad": x.grad,
         "in_proj_weight": mha.in_proj_weight, "in_proj_bias": mha.in_proj_bias,
         "out_proj.weight": mha.out_proj.weight, "out_proj.bias": mha.out_proj.bias,
         "in_proj_weight.grad": mha.in_proj_weight.grad, "out_proj.weight.grad": mha.out_proj.weight.grad,
         "ln.weight": ln.weight, "ln.bias": ln.bias, "ln.weight.grad": ln.weight.grad, "ln.bias.grad": ln.bias.grad}
    p0 = torch.randn(3, 4)
    grads = [torch.randn(3, 4) for _ in range(3)]
    p = p0.clone().requires_grad_(True)
    opt = torch.optim.Adagrad([p], lr=0.1, lr_decay=0.01, weight_decay=0.05)
    t["adagrad.p0"] = p0
    for i, g in enumerate(grads):
        p.grad = g.clone()
        opt.step()
        t[f"adagrad.grad{i}"] = g
        t[f"adagrad.step{i}"] = p.detach().clone()
    st.save(os.path.join(OUT, "attn_mha.safetensors"), t)


if __name__ == "__main__":
    lstm()
    mha_layernorm_adagrad()
    print("fixtures written")
