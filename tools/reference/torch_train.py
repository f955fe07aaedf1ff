#!/usr/bin/env python3
"""Trains a loupe run config in PyTorch and reports tokens/s, for `loupe bench train`
side by side on the same machine.

  .venv/bin/python3 tools/reference/torch_train.py --config configs/gpt-baby.json [--steps N]
         [--threads T] [--loupe build/release/tools/loupe] [--set section.key=value ...] [--json]
         [--sdpa] [--compile]

To compare like with like, loupe itself prepares the run: `loupe train --stop-after 0`
writes the resolved config, the initial weights (a checkpoint at step 0) and the token
file; this script loads the same weights into tools/reference/torch_models.py and trains
with the same AdamW groups (decay on dim >= 2), lr schedule (nanoGPT's get_lr), grad
clipping and batch shape. With --batches FILE (what `loupe batches` writes) it trains on loupe's
own batches, so its per-step losses are loupe's to float rounding (tests/python/test_peers.py);
without, batches are drawn with torch.randint and losses agree only statistically. Dropout is not
modelled (torch_models has none): compare configs with dropout 0.
--sdpa computes attention with F.scaled_dot_product_attention (PyTorch 2's fused kernel, as a
user writes it); --compile trains torch.compile(model) (inductor, generated C++): its first two
steps compile and are reported as compile seconds, not counted in tokens/s. Peak RSS is the
process's own (getrusage), PyTorch's libraries included.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

# The OpenMP runtime reads this when torch loads it: spinning workers made Debian's PyTorch 1.13
# 2x slower on 2 cores in our measurements (4.1k vs 8.7k tokens/s on gpt-baby); ACTIVE to compare.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_models  # noqa: E402
from schedule import get_lr  # noqa: E402


def find_loupe():
    for d in ("build/release", "build/debug"):
        p = os.path.join(d, "tools", "loupe")
        if os.path.exists(p):
            return p
    sys.exit("torch_train: no loupe binary found; pass --loupe PATH (build with ./run build)")


def cpu_backend():
    """What PyTorch computes with here: its kernels' ISA (ATEN_CPU_CAPABILITY), oneDNN and MKL."""
    return (f"torch {torch.__version__}, ISA {torch.backends.cpu.get_cpu_capability()}, "
            f"oneDNN {torch.backends.mkldnn.is_available()}, MKL {torch.backends.mkl.is_available()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[], help="section.key=value, as loupe train --set")
    ap.add_argument("--steps", type=int, default=0, help="training steps (default: train.max_iters)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="torch threads (default: every core, as loupe)")
    ap.add_argument("--loupe", default="", help="the loupe binary (default: build/release/tools/loupe)")
    ap.add_argument("--eval-iters", type=int, default=20, help="val batches at the end (0: none)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--sdpa", action="store_true", help="attention by F.scaled_dot_product_attention")
    ap.add_argument("--compile", action="store_true", help="train torch.compile(model) (inductor)")
    ap.add_argument("--batches", default="", help="loupe's training batches (`loupe batches -o FILE`)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    loupe = a.loupe or find_loupe()

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [loupe, "train", "--config", a.config, "--out", tmp, "--stop-after", "0", "--quiet"]
        for s in a.set:
            cmd += ["--set", s]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        tensors, meta = torch_models.load_safetensors(os.path.join(tmp, "ckpt.safetensors"))
        with open(os.path.join(tmp, "data.json")) as f:
            data = json.load(f)
    cfg = json.loads(meta["config"])
    mc, t = cfg["model"], cfg["train"]
    dtype = torch.float64 if mc.get("dtype") == "f64" else torch.float32

    model = torch_models.build(mc, sdpa=a.sdpa).to(dtype)
    state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    model.load_state_dict(state, strict=True)
    model.train()

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": t["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}]
    if t["optimizer"] == "sgd":
        opt = torch.optim.SGD(groups, lr=t["lr"], momentum=t["momentum"], nesterov=t["nesterov"])
    else:
        cls = torch.optim.AdamW if t["optimizer"] == "adamw" else torch.optim.Adam
        opt = cls(groups, lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=t["eps"])

    width = np.uint16 if data["bytes_per_token"] == 2 else np.uint32
    tokens = np.memmap(data["token_file"], dtype=width, mode="r")
    n_train = data["train_tokens"]
    train_data, val_data = tokens[:n_train], tokens[n_train:]
    B, T, accum = t["batch_size"], mc["block_size"], t["grad_accum"]
    gen = torch.Generator().manual_seed(t["seed"])
    given = np.load(a.batches) if a.batches else None
    if given is not None and given.shape[1:] != (B, T + 1):
        sys.exit(f"torch_train: {a.batches} holds batches of shape {given.shape[1:]}, the run needs ({B}, {T + 1})")

    def batch(split):
        d = train_data if split == "train" else val_data
        ix = torch.randint(len(d) - T, (B,), generator=gen)
        x = torch.stack([torch.from_numpy(d[i:i + T].astype(np.int64)) for i in ix.tolist()])
        y = torch.stack([torch.from_numpy(d[i + 1:i + 1 + T].astype(np.int64)) for i in ix.tolist()])
        return x, y

    run_model = torch.compile(model) if a.compile else model

    def loss_of(x, y):
        logits = run_model(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    steps = a.steps or t["max_iters"]
    if given is not None and len(given) < steps * accum:
        sys.exit(f"torch_train: {a.batches} holds {len(given)} micro-batches, {steps} steps need {steps * accum}")

    def train_batch(it, m):
        if given is None:
            return batch("train")
        rows = torch.from_numpy(given[it * accum + m])
        # Contiguous copies, as a training loop's batches usually are. (The NaN losses of torch.compile
        # under ATEN_CPU_CAPABILITY=avx2, first blamed on the strided views rows[:, :-1], came from
        # inductor's cache shared by both ISAs: peers.py gives each its own.)
        return rows[:, :-1].contiguous(), rows[:, 1:].contiguous()

    times, losses = [], []
    for it in range(steps):
        t0 = time.perf_counter()
        for g in opt.param_groups:
            g["lr"] = get_lr(it, t)
        step_loss = 0.0
        for m in range(accum):
            x, y = train_batch(it, m)
            l = loss_of(x, y)
            (l / accum).backward()
            step_loss += l.item() / accum  # the mean over the micro-batches, as loupe logs it
        if t["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss = step_loss
        losses.append(loss)
        times.append(time.perf_counter() - t0)
        if not a.json and (it % max(1, steps // 10) == 0 or it + 1 == steps):
            print(f"step {it + 1}/{steps} | loss {loss:.4f} | {B * T * accum / times[-1]:.0f} tok/s", file=sys.stderr)
    warm = 2 if a.compile else 1  # the first step warms up; with --compile the first two compile
    timed = times[warm:] if len(times) > warm else times
    compile_seconds = sum(times[:warm]) - len(times[:warm]) * sum(timed) / len(timed) if a.compile else 0.0
    tps = B * T * accum * len(timed) / sum(timed)

    val = None
    if a.eval_iters:
        model.eval()
        with torch.no_grad():
            val = sum(loss_of(*batch("val")).item() for _ in range(a.eval_iters)) / a.eval_iters
    res = {"bench": "torch_train", "config": a.config, "torch": torch.__version__, "threads": torch.get_num_threads(),
           "backend": cpu_backend(), "parameters": sum(p.numel() for p in model.parameters()), "steps": steps, "tokens_per_step": B * T * accum,
           "tokens_per_sec": tps, "ms_per_step": 1e3 * sum(timed) / len(timed), "last_loss": loss, "losses": losses, "val_loss": val, "batches": "loupe" if given is not None else "torch.randint",
           "attention": "sdpa" if a.sdpa else "explicit", "compiled": a.compile, "compile_seconds": compile_seconds,
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{a.config} in PyTorch {torch.__version__}: {res['parameters']} parameters, {steps} steps on "
              f"{res['threads']} threads: {tps:.0f} tokens/s ({res['ms_per_step']:.1f} ms/step), last loss {loss:.4f}"
              + (f", val loss {val:.4f}" if val is not None else "")
              + (f", compiled in {compile_seconds:.1f} s" if a.compile else "") + f", peak RSS {res['peak_rss_mib']:.0f} MiB"
              + f"  [{cpu_backend()}{', sdpa' if a.sdpa else ''}]")


if __name__ == "__main__":
    main()
