"""Whole-model fixtures from the PyTorch reference of the accuracy tables (run: /usr/bin/python3 tools/golden/ctr_models.py).

docs/results.md compares our DIN + Dice and DIEN with tools/reference/torch_ctr.py trained on the
same samples. These fixtures tie that comparison to the test suite: the reference's own Model class
(state_dict keys are ours) runs one training-mode step on a tiny ragged batch, and the C# tests load
its weights into our models and must reproduce logits, the loss (DIEN: BCE + α·auxiliary loss),
Dice's running statistics and every parameter's gradient. If either implementation drifts, CI says so.

Writes tests/fixtures/ctr_din_dice.safetensors, ctr_dien_{augru,agru,aigru,gru_attention}.safetensors,
ctr_dien_adam_steps.safetensors (three Adam steps: the training path, optimizer included) and the DIN
paper's baselines ctr_{wide_deep,pnn,deepfm}.safetensors (also their first-order, cross, FM and
inner-product terms, so a mismatch can be localised).

The committed fixtures were written with OpenBLAS as libblas (Debian: apt-get install libopenblas0-openmp);
with the reference BLAS the float32 results differ in the last bits.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "reference"))
import st  # noqa: E402
from torch_ctr import Model  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures")
os.makedirs(OUT, exist_ok=True)

SCHEMA = {
    "tables": [{"name": "user", "vocab": 6, "dim": 4}, {"name": "item", "vocab": 12, "dim": 4}, {"name": "cate", "vocab": 5, "dim": 4}],
    "sparse": [{"name": "user", "table": "user"}, {"name": "item", "table": "item"}, {"name": "cate", "table": "cate"}],
    "dense": [],
    "sequences": [{"name": n, "table": t, "max_length": 5} for n, t in
                  (("hist_item", "item"), ("hist_cate", "cate"), ("neg_hist_item", "item"), ("neg_hist_cate", "cate"))],
    "groups": [{"name": "behaviour", "pairs": [{"target": "item", "history": "hist_item", "negative_history": "neg_hist_item"},
                                               {"target": "cate", "history": "hist_cate", "negative_history": "neg_hist_cate"}]}],
}
CATE_OF = torch.tensor([0, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3])


def batch(users=(1, 2, 3, 5), lengths=(5, 2, 1, 3)):
    """Four rows with 5, 2, 1 and 3 behaviours (a one-behaviour row has no auxiliary pair); ids 0 at padding."""
    lengths = torch.tensor(lengths)
    mask = (torch.arange(5).unsqueeze(0) < lengths.unsqueeze(1))
    hist = torch.randint(1, 12, (4, 5)) * mask
    neg = torch.randint(1, 12, (4, 5)) * mask
    item = torch.tensor([3, 7, 11, 2])
    b = {"sparse.user": torch.tensor(users), "sparse.item": item, "sparse.cate": CATE_OF[item],
         "labels": torch.tensor([1.0, 0.0, 1.0, 0.0])}
    for name, ids in (("hist_item", hist), ("hist_cate", CATE_OF[hist] * mask), ("neg_hist_item", neg), ("neg_hist_cate", CATE_OF[neg] * mask)):
        b[f"seq.{name}.ids"], b[f"len.{name}"], b[f"mask.{name}"] = ids, lengths, mask.float()
    return b


def randomize(model):
    """Embeddings (and Dice's α, which starts at 0; the baselines' first-order and cross weights) drawn from
    N(0, 0.5²) so every path carries signal; returns a copy of the weights. The embeddings' padding rows
    are drawn too (never read: padding is masked); the first-order tables' padding rows stay 0."""
    with torch.no_grad():
        for e in model.embeddings.values():
            e.weight.normal_(0, 0.5)
        for k, p in model.named_parameters():
            if k.endswith(".alpha") or k.startswith(("linear.", "cross.")):
                p.normal_(0, 0.5)
            if k.startswith("linear."):
                p[0].zero_()
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def write(name, model, b, aux_weight):
    weights = randomize(model)
    logits, aux = model(b)
    loss = F.binary_cross_entropy_with_logits(logits, b["labels"])
    if aux is not None:
        loss = loss + aux_weight * aux
    loss.backward()
    t = {k: v.to(torch.float32) for k, v in b.items() if not k.startswith("mask.")}
    t.update({"logits": logits, "loss": loss.reshape(1), **getattr(model, "terms", {})})  # baselines: first_order, fm, cross, products
    if aux is not None:
        t["aux_loss"] = aux.reshape(1)
    for k, p in model.named_parameters():
        t[k] = weights[k]
        t[k + ".grad"] = p.grad
    for k, v in model.named_buffers():
        if not k.endswith("num_batches_tracked"):
            t[k + ".after"] = v                                            # running statistics after the step
    st.save(os.path.join(OUT, name), t)


def train_steps():
    """Three torch.optim.Adam steps (lr 0.01, dense: untouched embedding rows keep moving on their
    momentum) of DIEN with AUGRU and the auxiliary loss on batches b1, b2, b1: the training path over
    several steps, optimizer included. b2 has other users, so some rows get no gradient in its step."""
    b1, b2 = batch(), batch(users=(4, 2, 1, 1), lengths=(3, 5, 2, 4))
    model = Model(SCHEMA, "dien", "prelu", [8, 4], [6, 3], 0.05, "augru", (5, 3), aux=True)
    t = randomize(model)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for b in (b1, b2, b1):
        logits, aux = model(b)
        loss = F.binary_cross_entropy_with_logits(logits, b["labels"]) + aux
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    for prefix, b in (("b1.", b1), ("b2.", b2)):
        t.update({prefix + k: v.to(torch.float32) for k, v in b.items() if not k.startswith("mask.")})
    t.update({k + ".after": v.detach() for k, v in model.named_parameters()})
    t["losses"] = torch.stack(losses)
    st.save(os.path.join(OUT, "ctr_dien_adam_steps.safetensors"), t)


def main():
    torch.manual_seed(20261201)
    b = batch()
    write("ctr_din_dice.safetensors", Model(SCHEMA, "din", "dice", [8, 4], [6, 3], 0.05), b, 0)
    for evolution in ("augru", "agru", "aigru", "gru-attention"):
        model = Model(SCHEMA, "dien", "prelu", [8, 4], [6, 3], 0.05, evolution, (5, 3), aux=True)
        write(f"ctr_dien_{evolution.replace('-', '_')}.safetensors", model, b, 1.0)
    train_steps()
    torch.manual_seed(20261210)                                            # the baselines: their own stream, after the others
    for kind in ("wide_deep", "pnn", "deepfm"):
        write(f"ctr_{kind}.safetensors", Model(SCHEMA, kind, "prelu", [8, 4], [6, 3], 0.05), b, 0)


if __name__ == "__main__":
    main()
