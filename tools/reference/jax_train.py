#!/usr/bin/env python3
"""Trains a loupe run config in JAX, the whole step under jax.jit: a peer of `loupe bench train`
(tools/reference/peers.py).

  .venv/bin/python3 tools/reference/jax_train.py --config configs/gpt-baby.json --batches B.npy
         [--steps N] [--loupe build/release/tools/loupe] [--set section.key=value ...] [--json]

As torch_train.py: `loupe train --stop-after 0` gives the initial weights and the resolved config,
`loupe batches` the token batches, and the step is loupe's (optim/ and tools/train/step.h): AdamW
with decay on dim >= 2 (PyTorch's update order: decay, moments, bias-corrected step), nanoGPT's
cosine schedule, the global-norm clip (max_norm / (norm + 1e-6)), grad_accum micro-batches of
loss / accum. The models are loupe's gpt and llama (the conventions of torch_models.py). The first
step compiles; its seconds are reported apart and left out of tokens/s.
"""
import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

import jax
import jax.numpy as jnp
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from schedule import get_lr  # noqa: E402

jax.config.update("jax_enable_x64", True)  # f64 configs; f32 ones stay f32 (every array is typed)


# ---------------------------------------------------------------- the models
def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    y = (x - mu) / jnp.sqrt(var + eps) * w
    return y + b if b is not None else y


def rms_norm(x, w, eps):
    return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope(x, base):
    """x [B, T, H, D]: each interleaved pair (x[2i], x[2i+1]) turned by t·base^(−2i/D)."""
    B, T, H, D = x.shape
    ang = np.arange(T, dtype=np.float64)[:, None] * base ** (-2.0 * np.arange(D // 2, dtype=np.float64) / D)
    cos, sin = (jnp.asarray(f(ang), dtype=x.dtype)[None, :, None, :] for f in (np.cos, np.sin))
    a, b = x[..., 0::2], x[..., 1::2]
    return jnp.stack([a * cos - b * sin, a * sin + b * cos], axis=-1).reshape(B, T, H, D)


def attention(p, pre, x, c, use_rope):
    B, T, C = x.shape
    H, Hkv = c["n_head"], c.get("n_kv_head", c["n_head"])
    D = C // H
    qkv = x @ p[pre + "c_attn.weight"].T
    if pre + "c_attn.bias" in p:
        qkv = qkv + p[pre + "c_attn.bias"]
    q = qkv[..., :H * D].reshape(B, T, H, D)
    k = qkv[..., H * D:(H + Hkv) * D].reshape(B, T, Hkv, D)
    v = qkv[..., (H + Hkv) * D:].reshape(B, T, Hkv, D)
    if use_rope:
        q, k = rope(q, c["rope_base"]), rope(k, c["rope_base"])
    k, v = jnp.repeat(k, H // Hkv, axis=2), jnp.repeat(v, H // Hkv, axis=2)
    att = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(D)
    att = jnp.where(jnp.tril(jnp.ones((T, T), bool)), att, -jnp.inf)
    y = jnp.einsum("bhts,bshd->bthd", jax.nn.softmax(att, axis=-1), v).reshape(B, T, C)
    y = y @ p[pre + "c_proj.weight"].T
    return y + p[pre + "c_proj.bias"] if pre + "c_proj.bias" in p else y


def gpt(p, ids, c):
    T, eps = ids.shape[1], c["norm_eps"]
    x = p["transformer.wte.weight"][ids] + p["transformer.wpe.weight"][:T]
    approximate = c["activation"] == "gelu_tanh"
    for i in range(c["n_layer"]):
        h = f"transformer.h.{i}."
        x = x + attention(p, h + "attn.", layer_norm(x, p[h + "ln_1.weight"], p.get(h + "ln_1.bias"), eps), c, False)
        u = layer_norm(x, p[h + "ln_2.weight"], p.get(h + "ln_2.bias"), eps)
        u = u @ p[h + "mlp.c_fc.weight"].T + (p[h + "mlp.c_fc.bias"] if h + "mlp.c_fc.bias" in p else 0)
        u = jax.nn.gelu(u, approximate=approximate) @ p[h + "mlp.c_proj.weight"].T
        x = x + (u + p[h + "mlp.c_proj.bias"] if h + "mlp.c_proj.bias" in p else u)
    x = layer_norm(x, p["transformer.ln_f.weight"], p.get("transformer.ln_f.bias"), eps)
    return x @ (p["lm_head.weight"] if "lm_head.weight" in p else p["transformer.wte.weight"]).T


def llama(p, ids, c):
    eps = c["norm_eps"]
    x = p["tok_embeddings.weight"][ids]
    for i in range(c["n_layer"]):
        h = f"layers.{i}."
        x = x + attention(p, h + "attention.", rms_norm(x, p[h + "attention_norm.weight"], eps), c, True)
        u = rms_norm(x, p[h + "ffn_norm.weight"], eps)
        f = h + "feed_forward."
        x = x + (jax.nn.silu(u @ p[f + "w1.weight"].T) * (u @ p[f + "w3.weight"].T)) @ p[f + "w2.weight"].T
    x = rms_norm(x, p["norm.weight"], eps)
    return x @ (p["output.weight"] if "output.weight" in p else p["tok_embeddings.weight"]).T


# ---------------------------------------------------------------- the step
def make_step(forward, c, t, accum):
    b1, b2, eps, wd, clip = t["beta1"], t["beta2"], t["eps"], t["weight_decay"], t["grad_clip"]

    def loss_fn(p, rows):
        logits = forward(p, rows[:, :-1], c)
        logp = jax.nn.log_softmax(logits, axis=-1)
        return -jnp.take_along_axis(logp, rows[:, 1:, None], axis=-1).mean()

    def step(p, m, v, batches, lr, count):
        loss, grads = 0.0, jax.tree_util.tree_map(jnp.zeros_like, p)
        for a in range(accum):  # loss / accum backward, summed (static: unrolled under jit)
            l, g = jax.value_and_grad(loss_fn)(p, batches[a])
            loss = loss + l / accum
            grads = jax.tree_util.tree_map(lambda s, x: s + x / accum, grads, g)
        if clip > 0:
            norm = jnp.sqrt(sum(jnp.sum(x.astype(jnp.float64) ** 2) for x in jax.tree_util.tree_leaves(grads)))
            coef = jnp.minimum(1.0, clip / (norm + 1e-6))
            grads = jax.tree_util.tree_map(lambda x: (x * coef).astype(x.dtype), grads)
        bc1, bc2 = 1 - b1 ** count, 1 - b2 ** count
        out_p, out_m, out_v = {}, {}, {}
        for k, x in p.items():
            g = grads[k]
            if x.ndim >= 2 and wd > 0:
                x = x * (1 - lr * wd)  # decoupled weight decay on the decay group
            out_m[k] = b1 * m[k] + (1 - b1) * g
            out_v[k] = b2 * v[k] + (1 - b2) * g * g
            denom = jnp.sqrt(out_v[k]) / jnp.sqrt(bc2) + eps
            out_p[k] = (x - (lr / bc1) * out_m[k] / denom).astype(x.dtype)
        return out_p, out_m, out_v, loss

    return jax.jit(step)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", required=True)
    ap.add_argument("--set", action="append", default=[], help="section.key=value, as loupe train --set")
    ap.add_argument("--batches", required=True, help="loupe's training batches (`loupe batches -o FILE`)")
    ap.add_argument("--steps", type=int, default=0, help="training steps (default: every step the batches hold)")
    ap.add_argument("--loupe", default=os.path.join("build", "release", "tools", "loupe"))
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [a.loupe, "train", "--config", a.config, "--out", tmp, "--stop-after", "0", "--quiet"]
        subprocess.run(cmd + [x for s in a.set for x in ("--set", s)], check=True, stdout=subprocess.DEVNULL)
        with safe_open(os.path.join(tmp, "ckpt.safetensors"), framework="numpy") as f:
            cfg = json.loads(f.metadata()["config"])
            params = {k[len("model."):]: jnp.asarray(f.get_tensor(k)) for k in f.keys() if k.startswith("model.")}
    c, t = cfg["model"], cfg["train"]
    if c["type"] not in ("gpt", "llama"):
        sys.exit(f"jax_train: model type {c['type']!r} has no JAX twin (gpt, llama)")
    accum, B, T = t["grad_accum"], t["batch_size"], c["block_size"]
    given = np.load(a.batches)
    steps = a.steps or len(given) // accum
    if given.shape[1:] != (B, T + 1) or len(given) < steps * accum:
        sys.exit(f"jax_train: {a.batches} holds {given.shape}, the run needs {steps * accum} x ({B}, {T + 1})")
    step = make_step(gpt if c["type"] == "gpt" else llama, c, t, accum)
    m = {k: jnp.zeros_like(x) for k, x in params.items()}
    v = {k: jnp.zeros_like(x) for k, x in params.items()}
    times, losses = [], []
    for it in range(steps):
        t0 = time.perf_counter()
        batches = jnp.asarray(given[it * accum:(it + 1) * accum])
        params, m, v, loss = step(params, m, v, batches, get_lr(it, t), it + 1)
        losses.append(float(loss))  # waits for the step
        times.append(time.perf_counter() - t0)
    timed = times[1:] if len(times) > 1 else times
    tps = B * T * accum * len(timed) / sum(timed)
    res = {"bench": "jax_train", "config": a.config, "jax": jax.__version__, "backend": f"jax {jax.__version__}, "
           f"{jax.default_backend()}", "threads": os.cpu_count(), "steps": steps, "tokens_per_step": B * T * accum,
           "tokens_per_sec": tps, "ms_per_step": 1e3 * sum(timed) / len(timed), "last_loss": losses[-1], "losses": losses,
           "compile_seconds": times[0] - sum(timed) / len(timed), "batches": "loupe",
           "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if a.json:
        print(json.dumps(res))
    else:
        print(f"{a.config} in JAX {jax.__version__}: {steps} steps: {tps:.0f} tokens/s ({res['ms_per_step']:.1f} ms/step), "
              f"last loss {losses[-1]:.4f}, compiled in {res['compile_seconds']:.1f} s, peak RSS {res['peak_rss_mib']:.0f} MiB")


if __name__ == "__main__":
    main()
