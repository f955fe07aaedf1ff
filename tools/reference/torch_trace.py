#!/usr/bin/env python3
"""PyTorch's side of a module-by-module comparison with loupe.

Runs a loupe checkpoint's gpt or llama model in PyTorch (tools/reference/torch_models.py, the
same parameter names, so the weights load one to one) on the token ids of an .npy file, with a
forward hook on every module, and writes what each module returned as a trace in loupe's format
(autograd/trace.h): one {"op": "module", "module": path, ...} record per module call, with the
same statistics (min, max, mean, rms of the finite values, nan and inf counts). There is no
hash: PyTorch's bits are not loupe's, so the comparison is within a tolerance:

    loupe audit trace --ckpt DIR --tokens ids.npy -o loupe.jsonl [--dump loupe_npy]
    torch_trace.py    --ckpt DIR --tokens ids.npy -o torch.jsonl [--dump torch_npy]
    loupe audit diff --modules --tol 1e-5 loupe.jsonl torch.jsonl

names the first module whose output disagrees (with --dump on both sides, by the max relative
error of the values themselves). ids.npy holds integer ids [B, T+1]: the model reads [:, :T].

Usage: torch_trace.py --ckpt DIR --tokens ids.npy -o trace.jsonl [--dump DIR]
Exit 2 on bad input; without PyTorch 77 (skipped), or 1 under LOUPE_REQUIRE_ALL=1 (reference_env.py).
"""
import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_env import require  # noqa: E402

np, torch = require("numpy", "torch")

import torch_models  # noqa: E402


def fail(msg):
    print("torch_trace: error: " + msg, file=sys.stderr)
    sys.exit(2)


def stats(t):
    """loupe's output record (autograd/trace.h): statistics over the finite values, in f64."""
    x = t.detach().double().reshape(-1)
    finite = torch.isfinite(x)
    rec = {"dtype": {torch.float32: "f32", torch.float64: "f64"}.get(t.dtype, str(t.dtype)), "shape": list(t.shape)}
    f = x[finite]
    if f.numel():
        rec.update({"min": f.min().item(), "max": f.max().item(), "mean": f.mean().item(),
                    "rms": math.sqrt((f * f).mean().item())})
    rec.update({"nan": int(torch.isnan(x).sum()), "inf": int(torch.isinf(x).sum())})
    return rec


def file_safe(s):
    out = "".join(c if c.isalnum() or c in "._-" else "_" for c in s)
    return out or "top"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True, help="loupe checkpoint directory (ckpt.safetensors)")
    ap.add_argument("--tokens", required=True, help=".npy of integer token ids [B, T+1]")
    ap.add_argument("-o", "--out", required=True, help="trace to write (JSONL)")
    ap.add_argument("--dump", help="also write each module's output as .npy into this directory")
    a = ap.parse_args()

    path = os.path.join(a.ckpt, "ckpt.safetensors")
    if not os.path.exists(path):
        fail("%s: no such checkpoint" % path)
    tensors, meta = torch_models.load_safetensors(path)
    run = json.loads(meta["config"])
    cfg = run["model"]
    if cfg.get("type") not in ("gpt", "llama"):
        fail("%s: model type %r; the PyTorch reference has gpt and llama" % (path, cfg.get("type")))
    try:
        ids = np.load(a.tokens)
    except Exception as e:  # noqa: BLE001 (any unreadable file is bad input)
        fail("%s: %s" % (a.tokens, e))
    if ids.ndim != 2 or ids.shape[1] < 2 or ids.dtype.kind not in "iu":
        fail("%s: expected integer token ids of shape [B, T+1], got %s %s" % (a.tokens, ids.dtype, ids.shape))

    torch.set_num_threads(1)
    model = torch_models.build(cfg).float()
    params = dict(model.named_parameters())
    with torch.no_grad():
        for n, p in params.items():
            key = "model." + n
            if key not in tensors:
                fail("%s: no tensor %s for PyTorch's parameter %s" % (path, key, n))
            p.copy_(tensors[key])

    records, calls = [], {}

    def hook(name):
        def on_forward(_module, _inputs, output):
            rec = {"seq": len(records), "step": int(meta.get("step", 0)), "pass": "forward", "op": "module",
                   "module": name, "inputs": [], "outputs": [stats(output)]}
            if a.dump:
                f = os.path.join(a.dump, "%d.forward.module.%s.output0.npy" % (rec["seq"], file_safe(name)))
                np.save(f, output.detach().numpy())
                rec["outputs"][0]["npy"] = f
            calls[name] = calls.get(name, 0) + 1
            records.append(rec)
        return on_forward

    for name, m in model.named_modules():
        if name:
            m.register_forward_hook(hook(name))
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
    x = torch.from_numpy(ids[:, :-1].astype(np.int64))
    y = torch.from_numpy(ids[:, 1:].astype(np.int64))
    with torch.no_grad():
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    with open(a.out, "w") as f:
        f.write(json.dumps({"note": "model", "value": cfg}) + "\n")
        for r in records:
            f.write(json.dumps(r) + "\n")
        f.write(json.dumps({"note": "loss", "value": loss.item()}) + "\n")
    print("traced %d module calls of PyTorch's %s into %s; loss %.6f" % (len(records), cfg["type"], a.out, loss.item()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
