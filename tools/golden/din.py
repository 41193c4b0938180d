"""PyTorch reference fixtures for DIN's building blocks (run: /usr/bin/python3 tools/golden/din.py).

Writes tests/fixtures/din_*.safetensors. Each fixture holds inputs, weights (named with our
state-dict keys), outputs and the gradients of L = sum(out * w_out) for a fixed random w_out.
Batch norm in our engine is channels-last; PyTorch's BatchNorm1d gets the real rows as [N, C].
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
import st  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(20261122)


class Dice(nn.Module):
    """The DIN paper's Dice: BatchNorm without affine parameters (eps 1e-8), alpha per channel."""

    def __init__(self, c):
        super().__init__()
        self.bn = nn.BatchNorm1d(c, eps=1e-8, affine=False)
        self.alpha = nn.Parameter(torch.randn(c) * 0.3)

    def forward(self, x):  # x: [N, C]
        p = torch.sigmoid(self.bn(x))
        return p * x + (1 - p) * self.alpha * x


def mlp_dice():
    x = torch.randn(6, 5, requires_grad=True)
    l0, d0, l1, d1 = nn.Linear(5, 4), Dice(4), nn.Linear(4, 3), Dice(3)
    y = d1(l1(d0(l0(x))))
    w = torch.randn_like(y)
    (y * w).sum().backward()
    t = {"x": x, "y": y, "w_out": w, "x.grad": x.grad}
    for prefix, lin, dice in (("layers.0", l0, d0), ("layers.1", l1, d1)):
        t[f"{prefix}.linear.weight"] = lin.weight
        t[f"{prefix}.linear.bias"] = lin.bias
        t[f"{prefix}.act.alpha"] = dice.alpha
        t[f"{prefix}.linear.weight.grad"] = lin.weight.grad
        t[f"{prefix}.linear.bias.grad"] = lin.bias.grad
        t[f"{prefix}.act.alpha.grad"] = dice.alpha.grad
        t[f"{prefix}.act.bn.running_mean"] = dice.bn.running_mean
        t[f"{prefix}.act.bn.running_var"] = dice.bn.running_var
    with torch.no_grad():
        for m in (d0, d1):
            m.eval()
        t["y_eval"] = d1(l1(d0(l0(x))))
    st.save(os.path.join(OUT, "din_mlp_dice.safetensors"), t)


def attention_unit():
    B, T, E = 3, 5, 4
    lengths = torch.tensor([5, 2, 3])
    q = torch.randn(B, E, requires_grad=True)
    k = torch.randn(B, T, E, requires_grad=True)
    l0, d0, l1, d1, fc = nn.Linear(4 * E, 6), Dice(6), nn.Linear(6, 3), Dice(3), nn.Linear(3, 1)
    mask = torch.arange(T).unsqueeze(0) < lengths.unsqueeze(1)        # [B, T]
    qe = q.unsqueeze(1).expand(-1, T, -1)
    feats = torch.cat([qe, k, qe - k, qe * k], dim=-1)[mask]          # real positions only: [N, 4E]
    s_real = fc(d1(l1(d0(l0(feats))))).squeeze(-1)                   # [N]
    scores = torch.zeros(B, T).masked_scatter(mask, s_real)
    weights = torch.where(mask, torch.sigmoid(scores), torch.zeros_like(scores))
    pooled = torch.bmm(weights.unsqueeze(1), k).squeeze(1)            # [B, E]
    softw = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    pooled_soft = torch.bmm(softw.unsqueeze(1), k).squeeze(1)
    w1, w2 = torch.randn_like(pooled), torch.randn_like(pooled_soft)
    ((pooled * w1).sum() + (pooled_soft * w2).sum()).backward()
    t = {"q": q, "k": k, "lengths": lengths, "scores": scores, "weights": weights, "pooled": pooled,
         "softmax_weights": softw, "pooled_softmax": pooled_soft, "w_pooled": w1, "w_pooled_softmax": w2,
         "q.grad": q.grad, "k.grad": k.grad}
    for prefix, lin, dice in (("mlp.layers.0", l0, d0), ("mlp.layers.1", l1, d1)):
        t[f"{prefix}.linear.weight"] = lin.weight
        t[f"{prefix}.linear.bias"] = lin.bias
        t[f"{prefix}.act.alpha"] = dice.alpha
        t[f"{prefix}.linear.weight.grad"] = lin.weight.grad
        t[f"{prefix}.act.alpha.grad"] = dice.alpha.grad
    t["fc.weight"], t["fc.bias"], t["fc.weight.grad"] = fc.weight, fc.bias, fc.weight.grad
    st.save(os.path.join(OUT, "din_attention_unit.safetensors"), t)


def softmax_bce_embedding():
    x = torch.randn(3, 5, requires_grad=True)
    lengths = torch.tensor([5, 2, 0])
    mask = torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1)
    y = torch.softmax(x.masked_fill(~mask, float("-inf")), dim=-1)
    y = torch.nan_to_num(y, nan=0.0)                                   # torch gives NaN for the empty row; we define zeros
    w = torch.randn_like(y)
    (y * w).sum().backward()
    logits = torch.tensor([0.3, -2.0, 50.0, -50.0, 4.0, -0.7], requires_grad=True)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 0.0])
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets)
    bce.backward()
    probs = torch.tensor([0.0, 1.0, 0.3, 0.9, 0.5, 0.01], requires_grad=True)
    bcep = nn.functional.binary_cross_entropy(probs, targets)
    bcep.backward()
    emb = nn.Embedding(7, 3, padding_idx=0)
    ids = torch.tensor([[3, 0, 3, 6], [1, 1, 0, 2]])
    out = emb(ids)
    we = torch.randn_like(out)
    (out * we).sum().backward()
    st.save(os.path.join(OUT, "din_basic_ops.safetensors"), {
        "softmax.x": x, "softmax.lengths": lengths, "softmax.y": y, "softmax.w_out": w, "softmax.x.grad": x.grad,
        "bce.logits": logits, "bce.targets": targets, "bce.loss": bce.reshape(1), "bce.logits.grad": logits.grad,
        "bcep.probs": probs, "bcep.loss": bcep.reshape(1), "bcep.probs.grad": probs.grad,
        "emb.weight": emb.weight, "emb.ids": ids, "emb.out": out, "emb.w_out": we, "emb.weight.grad": emb.weight.grad,
    })


def optimizers():
    t = {}
    p0 = torch.randn(4, 3)
    grads = [torch.randn(4, 3) for _ in range(3)]
    grads[1][2].zero_()                                               # a row without gradient in one step
    t["p0"] = p0
    for i, g in enumerate(grads):
        t[f"grad{i}"] = g
    cases = {
        "adam": lambda p: torch.optim.Adam([p], lr=0.01, weight_decay=0.1),
        "adamw": lambda p: torch.optim.AdamW([p], lr=0.01, weight_decay=0.1),
        "sgd": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01),
        "nesterov": lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, nesterov=True),
    }
    for name, make in cases.items():
        p = p0.clone().requires_grad_(True)
        opt = make(p)
        for i, g in enumerate(grads):
            p.grad = g.clone()
            opt.step()
            t[f"{name}.step{i}"] = p.detach().clone()
    st.save(os.path.join(OUT, "din_optimizers.safetensors"), t)


if __name__ == "__main__":
    mlp_dice()
    attention_unit()
    softmax_bce_embedding()
    optimizers()
    print("fixtures written to", os.path.abspath(OUT))
