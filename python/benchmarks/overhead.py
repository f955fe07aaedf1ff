"""What driving loupe from Python costs: gpt-baby's training tokens/s with the loop in Python
(loupe's C++ gpt, and the nanoGPT written in Python of python/examples/) beside `loupe bench train`,
and the time per call of small ops from Python beside PyTorch 2 eager. Run on an idle machine:

    ./run python python/benchmarks/overhead.py [--steps 200] [--repeats 3]

Prints a markdown table for docs/performance.md (date, CPU, command) and a JSON line."""
import argparse
import datetime
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import loupe
import loupe.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python" / "examples"))
from nanogpt import GPT, GPTConfig  # noqa: E402

CONFIG = json.loads((ROOT / "configs" / "gpt-baby.json").read_text())
CONFIG["data"]["corpus"] = str(ROOT / CONFIG["data"]["corpus"])
M, T = CONFIG["model"], CONFIG["train"]


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def batches(text, vocab, batch, block, seed):
    """nanoGPT's get_batch over tiny shakespeare's characters."""
    ids = np.array([vocab[c] for c in text], dtype=np.int64)
    rng = np.random.default_rng(seed)
    while True:
        starts = rng.integers(0, len(ids) - block - 1, size=batch)
        x = np.stack([ids[s:s + block] for s in starts])
        y = np.stack([ids[s + 1:s + 1 + block] for s in starts])
        yield loupe.from_numpy(x), loupe.from_numpy(y)


def python_loop(model, named, decay, steps, warmup):
    """nanoGPT's training loop: forward, loss, backward, clip, AdamW with decay groups, schedule."""
    groups = [{"params": [(n, p) for n, p in named if n in decay], "weight_decay": T["weight_decay"]},
              {"params": [(n, p) for n, p in named if n not in decay], "weight_decay": 0.0}]
    opt = loupe.optim.AdamW(groups, lr=T["lr"], betas=(T["beta1"], T["beta2"]))
    schedule = loupe.open_data(CONFIG).lr  # gpt-baby's schedule, loupe's own
    text = Path(CONFIG["data"]["corpus"]).read_text()
    vocab = {c: i for i, c in enumerate(sorted(set(text)))}
    data = batches(text, vocab, T["batch_size"], M["block_size"], seed=1)
    params = [p for _, p in named]
    for it in range(warmup + steps):
        if it == warmup:
            start = time.perf_counter()
        x, y = next(data)
        for g in opt.param_groups:
            g["lr"] = schedule(it)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1))
        loss.backward()
        loupe.nn.utils.clip_grad_norm_(params, T["grad_clip"])
        opt.step()
        opt.zero_grad()
    return steps * T["batch_size"] * M["block_size"] / (time.perf_counter() - start)


def cpp_model_loop(steps, warmup):
    model = loupe.models.build(dict(M, vocab_size=65))
    return python_loop(model, model.named_parameters(), set(model.decay_parameter_names()), steps, warmup)


def python_model_loop(steps, warmup):
    c = GPTConfig(vocab_size=65, block_size=M["block_size"], n_layer=M["n_layer"], n_head=M["n_head"],
                  n_embd=M["n_embd"], bias=M["bias"])
    model = GPT(c)
    named = list(model.named_parameters())
    return python_loop(model, named, {n for n, p in named if p.dim() >= 2}, steps, warmup)


def cli(steps):
    out = subprocess.run([str(ROOT / "build/release/tools/loupe"), "bench", "train", "--config",
                          str(ROOT / "configs/gpt-baby.json"), "--steps", str(steps), "--json"],
                         check=True, capture_output=True, text=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])["tokens_per_sec"]


def per_call_us(fn, n=20000):
    for _ in range(200):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def op_overheads():
    import torch
    torch.set_num_threads(loupe.get_num_threads())
    la, lb = loupe.randn(4, seed=1), loupe.randn(4, seed=2)
    lw = loupe.randn(4, 4, seed=3)
    lg = loupe.randn(4, seed=4, requires_grad=True)
    ta, tb, tw = (torch.from_dlpack(t) for t in (la, lb, lw))
    tg = torch.randn(4, requires_grad=True)
    cases = {
        "a + b (4 floats)": (lambda: la + lb, lambda: ta + tb),
        "a.exp()": (lambda: la.exp(), lambda: ta.exp()),
        "w @ w (4x4)": (lambda: lw @ lw, lambda: tw @ tw),
        "x.sum()": (lambda: la.sum(), lambda: ta.sum()),
        "x[1:3]": (lambda: la[1:3], lambda: ta[1:3]),
        "(g * g).sum().backward()": (lambda: (lg * lg).sum().backward(), lambda: (tg * tg).sum().backward()),
    }
    return {k: (per_call_us(l), per_call_us(t)) for k, (l, t) in cases.items()}


def median(xs):
    return sorted(xs)[len(xs) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    runs = {"loupe bench train (CLI)": [], "C++ gpt, Python loop": [], "Python nanoGPT, Python loop": []}
    for _ in range(a.repeats):  # interleaved, so a slow moment of the machine hits all three
        runs["loupe bench train (CLI)"].append(cli(a.steps))
        runs["C++ gpt, Python loop"].append(cpp_model_loop(a.steps, a.warmup))
        runs["Python nanoGPT, Python loop"].append(python_model_loop(a.steps, a.warmup))
    base = median(runs["loupe bench train (CLI)"])
    print(f"{datetime.date.today()}, {cpu_model()}, {loupe.get_num_threads()} threads, "
          f"`./run python python/benchmarks/overhead.py --steps {a.steps} --repeats {a.repeats}`\n")
    print("| gpt-baby training | tokens/s (median [range]) | vs the CLI |\n|---|---:|---:|")
    for name, xs in runs.items():
        print(f"| {name} | {median(xs):,.0f} [{min(xs):,.0f}–{max(xs):,.0f}] | {median(xs) / base:.3f} |")
    ops = op_overheads()
    print("\n| one call from Python | loupe µs | PyTorch 2 eager µs |\n|---|---:|---:|")
    for name, (l, t) in ops.items():
        print(f"| `{name}` | {l:.2f} | {t:.2f} |")
    print(json.dumps({"train": runs, "ops_us": ops}))


if __name__ == "__main__":
    main()
