"""The loupe gpt and llama models in PyTorch, with the same parameter names and
the same conventions, so a loupe safetensors state dict loads one to one.

Conventions that must match loupe (models/gpt.cpp, models/llama.cpp):
- c_attn is one fused projection whose output rows are [q | k | v]
  (n_head·D, n_kv_head·D, n_kv_head·D); query head h reads kv head h // (n_head / n_kv_head).
- RoPE: interleaved pairs (x[2i], x[2i+1]) of each head rotated by p·base^(−2i/D); the angle
  table is computed in float64 and rounded once to the working dtype.
- GELU is the exact erf form (nanoGPT's nn.GELU()) unless activation == "gelu_tanh".
- Tied heads reuse the token embedding (no lm_head / output parameter).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors import safe_open


def load_safetensors(path):
    """A loupe safetensors file through Hugging Face's safetensors: ({name: tensor}, metadata)."""
    with safe_open(path, framework="pt") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, f.metadata() or {}


# ---------------------------------------------------------------- shared pieces
class CausalSelfAttention(nn.Module):
    sdpa = False  # build(..., sdpa=True): F.scaled_dot_product_attention, as a PyTorch 2 user writes it

    def __init__(self, n_embd, n_head, n_kv_head, bias, rope, rope_base):
        super().__init__()
        self.h, self.hkv, self.d = n_head, n_kv_head, n_embd // n_head
        self.rope, self.rope_base = rope, rope_base
        self.c_attn = nn.Linear(n_embd, (n_head + 2 * n_kv_head) * self.d, bias=bias)
        self.c_proj = nn.Linear(n_embd, n_embd, bias=bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split([self.h * self.d, self.hkv * self.d, self.hkv * self.d], dim=2)
        q = q.view(B, T, self.h, self.d)
        k = k.view(B, T, self.hkv, self.d)
        v = v.view(B, T, self.hkv, self.d)
        if self.rope:
            q, k = apply_rope(q, self.rope_base), apply_rope(k, self.rope_base)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        g = self.h // self.hkv
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
        if self.sdpa:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(self.d)
            mask = torch.ones(T, T, dtype=torch.bool).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


def apply_rope(x, base):
    """x [B, T, H, D]: rotate each interleaved pair (x[2i], x[2i+1]) by t·base^(−2i/D)."""
    B, T, H, D = x.shape
    i = torch.arange(D // 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * base ** (-2.0 * i / D)  # [T, D/2]
    cos = ang.cos().to(x.dtype)[None, :, None, :]
    sin = ang.sin().to(x.dtype)[None, :, None, :]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).reshape(B, T, H, D)


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


# ---------------------------------------------------------------- GPT (nanoGPT)
class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        e, bias = c["n_embd"], c["bias"]
        self.ln_1 = nn.LayerNorm(e, eps=c["norm_eps"], elementwise_affine=True)
        self.attn = CausalSelfAttention(e, c["n_head"], c["n_head"], bias, False, 0)
        self.ln_2 = nn.LayerNorm(e, eps=c["norm_eps"])
        self.mlp = nn.Module()
        self.mlp.c_fc = nn.Linear(e, 4 * e, bias=bias)
        self.mlp.c_proj = nn.Linear(4 * e, e, bias=bias)
        if not bias:
            for ln in (self.ln_1, self.ln_2):
                ln.bias = None
        self.gelu = (lambda u: F.gelu(u, approximate="tanh")) if c["activation"] == "gelu_tanh" else F.gelu

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp.c_proj(self.gelu(self.mlp.c_fc(self.ln_2(x))))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c["vocab_size"], c["n_embd"]),
            wpe=nn.Embedding(c["block_size"], c["n_embd"]),
            h=nn.ModuleList([Block(c) for _ in range(c["n_layer"])]),
            ln_f=nn.LayerNorm(c["n_embd"], eps=c["norm_eps"]),
        ))
        if not c["bias"]:
            self.transformer.ln_f.bias = None
        if not c["tie_weights"]:
            self.lm_head = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)

    def forward(self, idx):
        T = idx.shape[1]
        t = self.transformer
        x = t.wte(idx) + t.wpe.weight[:T]
        for b in t.h:
            x = b(x)
        x = t.ln_f(x)
        return self.lm_head(x) if not self.c["tie_weights"] else x @ t.wte.weight.t()


# ---------------------------------------------------------------- LLaMA-style
class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        e = c["n_embd"]
        self.attention_norm = RMSNorm(e, c["norm_eps"])
        self.attention = CausalSelfAttention(e, c["n_head"], c["n_kv_head"], False, True, c["rope_base"])
        self.ffn_norm = RMSNorm(e, c["norm_eps"])
        self.feed_forward = nn.Module()
        self.feed_forward.w1 = nn.Linear(e, c["ffn_hidden"], bias=False)
        self.feed_forward.w2 = nn.Linear(c["ffn_hidden"], e, bias=False)
        self.feed_forward.w3 = nn.Linear(e, c["ffn_hidden"], bias=False)

    def forward(self, x):
        x = x + self.attention(self.attention_norm(x))
        f = self.feed_forward
        u = self.ffn_norm(x)
        return x + f.w2(F.silu(f.w1(u)) * f.w3(u))


class Llama(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.tok_embeddings = nn.Embedding(c["vocab_size"], c["n_embd"])
        self.layers = nn.ModuleList([Layer(c) for _ in range(c["n_layer"])])
        self.norm = RMSNorm(c["n_embd"], c["norm_eps"])
        if not c["tie_weights"]:
            self.output = nn.Linear(c["n_embd"], c["vocab_size"], bias=False)

    def forward(self, idx):
        x = self.tok_embeddings(idx)
        for l in self.layers:
            x = l(x)
        x = self.norm(x)
        return self.output(x) if not self.c["tie_weights"] else x @ self.tok_embeddings.weight.t()


def build(config, sdpa=False):
    """The PyTorch twin of a loupe gpt or llama config; sdpa: attention through PyTorch's fused
    F.scaled_dot_product_attention instead of the explicit masked softmax."""
    model = {"gpt": GPT, "llama": Llama}[config["type"]](config)
    for m in model.modules():
        if isinstance(m, CausalSelfAttention):
            m.sdpa = sdpa
    return model
