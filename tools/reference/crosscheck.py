#!/usr/bin/env python3
"""Cross-check loupe's gpt and llama against PyTorch (tools/reference/torch_models.py).

For each model config: dump_model (a loupe executable) writes its initial weights, a fixed
batch, the logits, the loss, every parameter gradient and the parameters after 5 AdamW steps;
PyTorch loads the same weights, repeats all of it in f32, and every tensor must agree to a
relative error <= 1e-4, measured per tensor as max|loupe − torch| / max|torch|.

Usage: crosscheck.py path/to/dump_model [workdir]. Without PyTorch: skipped, or failed under LOUPE_REQUIRE_ALL=1.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_env import require  # noqa: E402

torch, = require("torch")

import torch_models  # noqa: E402

TOL = 1e-4
CONFIGS = [
    {"type": "gpt", "vocab_size": 29, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 32, "bias": True},
    {"type": "gpt", "vocab_size": 29, "block_size": 16, "n_layer": 2, "n_head": 4, "n_embd": 32, "bias": False,
     "tie_weights": False, "activation": "gelu_tanh"},
    {"type": "llama", "vocab_size": 29, "block_size": 16, "n_layer": 2, "n_head": 4, "n_kv_head": 2, "n_embd": 32},
    {"type": "llama", "vocab_size": 29, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 32,
     "tie_weights": True, "rope_base": 500.0},
]


def rel_err(a, b, mask=None):
    a, b = a.double(), b.double()
    scale = b.abs().max().item()
    diff = (a - b).abs()
    if mask is not None:
        diff = diff[mask]
    worst = diff.max().item() if diff.numel() else 0.0
    return worst / (scale if scale > 0 else 1.0)


# Adam divides each gradient by its own running RMS, so an element whose gradient is pure rounding
# noise (e.g. the key part of c_attn.bias: softmax is blind to a per-row constant, so that gradient
# is exactly 0 in exact arithmetic) moves by ±lr in a direction set by the noise, differently in
# every framework. The AdamW comparison leaves out elements whose first gradient is below
# NOISE_FLOOR × the tensor's largest gradient, and prints how many it left out.
NOISE_FLOOR = 1e-4


def check_one(dump_model, cfg, workdir):
    path = os.path.join(workdir, "dump_%s.safetensors" % cfg["type"])
    subprocess.run([dump_model, json.dumps(cfg), path], check=True)
    t, meta = torch_models.load_safetensors(path)
    full_cfg = json.loads(meta["config"])
    lr, wd, steps = float(meta["lr"]), float(meta["weight_decay"]), int(meta["steps"])
    torch.manual_seed(0)
    model = torch_models.build(full_cfg).float()
    params = dict(model.named_parameters())
    loupe_names = sorted(k[len("init."):] for k in t if k.startswith("init."))
    assert sorted(params) == loupe_names, "parameter names differ:\n torch %s\n loupe %s" % (sorted(params), loupe_names)
    with torch.no_grad():
        for n, p in params.items():
            assert tuple(p.shape) == tuple(t["init." + n].shape), "shape of %s differs" % n
            p.copy_(t["init." + n])

    x, y = t["x"], t["y"]
    V = full_cfg["vocab_size"]

    def loss_fn():
        logits = model(x)
        return logits, torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))

    errors = []
    logits, loss = loss_fn()
    loss.backward()
    errors.append(("logits", rel_err(t["logits"], logits.detach())))
    errors.append(("loss", rel_err(t["loss"], loss.detach().reshape(1))))
    masks, skipped = {}, 0
    for n, p in params.items():
        errors.append(("grad." + n, rel_err(t["grad." + n], p.grad)))
        g = p.grad.abs()
        masks[n] = g >= NOISE_FLOOR * g.max()
        skipped += int((~masks[n]).sum())

    decay = [p for n, p in params.items() if p.dim() >= 2]
    no_decay = [p for n, p in params.items() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.99), eps=1e-8)
    losses = []
    for s in range(steps):
        if s > 0:
            opt.zero_grad()
            _, loss = loss_fn()
            loss.backward()
        losses.append(loss.item())
        opt.step()
    errors.append(("adamw.loss", rel_err(t["adamw.loss"], torch.tensor(losses, dtype=torch.float64))))
    for n, p in params.items():
        errors.append(("adamw." + n, rel_err(t["adamw." + n], p.detach(), masks[n])))

    worst = max(errors, key=lambda e: e[1])
    bad = [e for e in errors if not e[1] <= TOL]
    label = json.dumps(cfg, sort_keys=True)
    print("%s: %d tensors compared, worst %s rel err %.2e; loss loupe %.6f torch %.6f; "
          "%d noise-gradient elements left out of the AdamW comparison" %
          (label, len(errors), worst[0], worst[1], t["loss"].item(), losses[0], skipped))
    for group in ("logits", "loss", "grad.", "adamw."):
        sel = [e for n_, e in errors if n_.startswith(group)]
        print("  %-7s worst rel err %.2e" % (group, max(sel)))
    for n, e in bad:
        print("  MISMATCH %s: rel err %.3e > %.0e" % (n, e, TOL))
    return not bad


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    torch.set_num_threads(1)
    ok = True
    with tempfile.TemporaryDirectory() as d:
        for cfg in CONFIGS:
            ok = check_one(sys.argv[1], cfg, sys.argv[2] if len(sys.argv) > 2 else d) and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
