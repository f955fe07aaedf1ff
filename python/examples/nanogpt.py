"""nanoGPT's GPT written in Python on loupe.nn, op for op what models/gpt.cpp computes, so its
logits are bitwise the C++ model's for the same weights (python/tests/test_nanogpt.py). Names are nanoGPT's
(transformer.h.0.attn.c_attn.weight, ...), so state dicts move between the two unchanged."""
from dataclasses import dataclass

import math

import loupe
import loupe.nn as nn
import loupe.nn.functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 65
    block_size: int = 64
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    bias: bool = False
    activation: str = "gelu"  # or "gelu_tanh", GPT-2's
    seed: int = 1337


class CausalSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.n_head = c.n_head
        self.c_attn = nn.Linear(c.n_embd, 3 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split([C, C, C], dim=2)
        q, k, v = (t.reshape(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # one fused op, flash-style
        return self.c_proj(y.transpose(1, 2).reshape(B, T, C))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.approximate = "tanh" if c.activation == "gelu_tanh" else "none"
        self.c_fc = nn.Linear(c.n_embd, 4 * c.n_embd, bias=c.bias)
        self.c_proj = nn.Linear(4 * c.n_embd, c.n_embd, bias=c.bias)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate))


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.ln_1 = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.attn = CausalSelfAttention(c)
        self.ln_2 = nn.LayerNorm(c.n_embd, bias=c.bias)
        self.mlp = MLP(c)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(c.vocab_size, c.n_embd),
            wpe=nn.Embedding(c.block_size, c.n_embd),
            h=nn.ModuleList([Block(c) for _ in range(c.n_layer)]),
            ln_f=nn.LayerNorm(c.n_embd, bias=c.bias),
        ))
        self.init_weights(c.seed)

    def init_weights(self, seed):
        """nanoGPT's init: N(0, 0.02) for every matrix and embedding, N(0, 0.02/√(2·n_layer)) for the
        projections into the residual stream (c_proj), norm gains 1, biases 0. Each matrix is drawn
        with the seed models/gpt.cpp gives it, so this model starts from the C++ gpt's weights."""
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                std = 0.02 / math.sqrt(2 * self.config.n_layer) if name.endswith("c_proj.weight") else 0.02
                nn.init.normal_(p, 0.0, std, seed=nn.init.param_seed(seed, name))
            elif name.endswith("bias"):
                nn.init.zeros_(p)

    def forward(self, ids):
        t = self.transformer
        x = t.wte(ids) + t.wpe.weight.narrow(0, 0, ids.shape[1])  # token + position embeddings
        for block in t.h:
            x = block(x)
        return t.ln_f(x) @ t.wte.weight.transpose(0, 1)  # the head is tied to the token embedding
