"""loupe's learning-rate schedule (optim/schedule.cpp; nanoGPT's get_lr for "cosine"), for the
reference trainers (torch_train.py, jax_train.py). Plain Python: importing it loads no framework."""
import math


def get_lr(it, t):
    """The lr of 0-based step `it` for a run config's train section `t`."""
    if t["schedule"] == "inv_sqrt":
        return min(t["inv_sqrt_cap"], t["inv_sqrt_scale"] / math.sqrt(it + 1))
    if it < t["warmup_iters"]:
        return t["lr"] * (it + 1) / (t["warmup_iters"] + 1)
    if t["schedule"] == "constant":
        return t["lr"]
    if it > t["lr_decay_iters"] or t["lr_decay_iters"] <= t["warmup_iters"]:
        return t["min_lr"]
    r = (it - t["warmup_iters"]) / (t["lr_decay_iters"] - t["warmup_iters"])
    return t["min_lr"] + 0.5 * (1.0 + math.cos(math.pi * r)) * (t["lr"] - t["min_lr"])
