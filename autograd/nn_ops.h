// Fused differentiable ops used by the nn layers: normalisations, dropout,
// rotary embeddings and causal attention. Each is one op with a hand-written
// backward (autograd/ops/{norm,dropout,rope,attention}.cpp), so a transformer
// block records a few large nodes instead of dozens of small ones.
#pragma once
#include <cstdint>

#include "autograd/var.h"

namespace loupe {

// ---- normalisation over the last dim (ops/norm.cpp, kernels/norm.cpp) ----
// layer_norm: y = (x - mean) / sqrt(var + eps) * weight + bias   (population variance);
// `bias` may be an undefined Var (nanoGPT's bias=False). weight, bias: [C], x: [..., C].
Var layer_norm(const Var& x, const Var& weight, const Var& bias, double eps = 1e-5);
// rms_norm: y = x / sqrt(mean(x²) + eps) * weight.
Var rms_norm(const Var& x, const Var& weight, double eps = 1e-5);

// ---- dropout (ops/dropout.cpp) ----
// Zeroes each element with probability p and scales survivors by 1/(1-p). Element i of the
// flattened x is kept iff u(seed, counter, i) >= p with u the Philox uniform of stream
// `counter`: the same mask for any thread count, recomputed (not stored) in backward.
// p == 0 returns x itself. The mask is kernels::DropoutMask (tensor/kernels/dropout.h).
Var dropout(const Var& x, double p, uint64_t seed, uint64_t counter);

// ---- rotary position embedding (ops/rope.cpp) ----
// x: [B, T, H, D] with D even; token t sits at position pos_offset + t. Interleaved-pair
// convention (as Meta's LLaMA reference code): the pair (x[2i], x[2i+1]) of every head is
// rotated by the angle p·θ_i, θ_i = base^(−2i/D):
//   y[2i]   = x[2i] cos − x[2i+1] sin,   y[2i+1] = x[2i] sin + x[2i+1] cos.
// Backward rotates the gradient by −p·θ_i (a rotation's inverse is its transpose).
Var rope(const Var& x, int64_t pos_offset = 0, double base = 10000.0);

// The same turn of interleaved pairs by angles given as tensors (Wiola's SRPE, whose angles
// depend on a learned parameter): x [B, T, H, D], cos and sin [T, H, D/2] (broadcast views are
// fine), y[b,t,h,2i] = x[2i] cos[t,h,i] − x[2i+1] sin[t,h,i], y[2i+1] = x[2i] sin + x[2i+1] cos.
// Gradients flow to x and to cos and sin (summed over the batch).
Var rotate_pairs(const Var& x, const Var& cos, const Var& sin);
// (rope and rotate_pairs share one pair turn; its textbook twin: tensor/reference/rotate_pairs.h)

// ---- fused causal attention (ops/attention.cpp, kernels/attention.cpp) ----
// q: [B, H, Tq, D], k: [B, Hkv, Tk, D], v: [B, Hkv, Tk, Dv] (Dv may differ from D) with
// H % Hkv == 0 (query head h reads kv head h / (H / Hkv): grouped-query attention without
// copying k, v). Query row i is at absolute
// position q_offset + i and attends to keys j <= q_offset + i (q_offset + Tq <= Tk; a KV-cache
// decode step passes q_offset = number of cached tokens).
//   out_i = Σ_j softmax_j(q_i·k_j · scale) v_j          scale = 1/sqrt(D) when scale <= 0
// Flash-style: keys are visited in tiles with a running max, no [Tq, Tk] matrix is stored; the
// log-sum-exp of each row is saved and backward recomputes the probabilities from it.
// Optional dropout on the probabilities (p > 0), mask from Philox keyed by
// (seed, counter, ((b·H + h)·Tq + i)·Tk + j).
// The result has shape [B, H, Tq, Dv] laid out in memory as [B, Tq, H, Dv], so
// transpose(1, 2) + reshape to [B, Tq, H·Dv] is a free view.
struct AttentionOptions {
  int64_t q_offset = 0;
  double scale = 0;  // <= 0: 1/sqrt(D)
  double dropout_p = 0;
  uint64_t seed = 0, counter = 0;
};
Var causal_attention(const Var& q, const Var& k, const Var& v, const AttentionOptions& opt = {});

}  // namespace loupe
