// ELiTA's Attention2 core in O(n) time and memory (docs/models/elita.md).
//
// For one (batch, head), with scalar logits a_j (key side: k1·x_j + p1_j·c),
// g_i (query side: p2_i·c + k3·x_i), d_i (diagonal: k2·x_i) and values v_j:
//
//   y_i = ( e^{d_i} v_i + e^{g_i} Σ_{j≤i} e^{a_j} v_j ) / ( e^{d_i} + e^{g_i} Σ_{j≤i} e^{a_j} )
//
// which is a true softmax over the logits {d_i} ∪ {g_i + a_j : j ≤ i}. The cumulative
// sums are kept relative to the running max m_i = max_{j≤i} a_j (online-softmax rescaling):
//   S_i = Σ_{j≤i} e^{a_j − m_i},  N_i = Σ_{j≤i} e^{a_j − m_i} v_j,
// and the G and D terms are combined in log space with M_i = max(d_i, g_i + m_i + log S_i):
//   y_i = (e^{d_i − M_i} v_i + e^{g_i + m_i − M_i} N_i) / Z_i,  Z_i = e^{d_i − M_i} + e^{g_i + m_i − M_i} S_i,
//   lse_i = M_i + log Z_i  (the log-normaliser, saved for the backward).
// Every exponent is ≤ 0, so nothing overflows however large the logits are.
//
// Layout: a, g, d are [B, T, H]; v is [B, T, H, Dh] (any strides; the last dim of v is
// made unit-stride); y is [B, T, H, Dh] contiguous, lse [B, T, H] contiguous.
// Textbook twin (plain f64 loops, selected by reference mode): tensor/reference/elita_attention.h.
#pragma once
#include "tensor/tensor.h"

namespace loupe {

// The running sums of one sequence (per batch and head): what O(1)-per-token generation keeps.
// m [B, H] (−inf before the first token), s [B, H], num [B, H, Dh]; all contiguous, same dtype as v.
struct ElitaState {
  Tensor m, s, num;
  static ElitaState empty(int64_t batch, int64_t heads, int64_t head_dim, DType dtype);
  int64_t bytes() const;
};

struct ElitaForwardResult {
  Tensor y;    // [B, T, H, Dh]
  Tensor lse;  // [B, T, H]
};

// Forward. With `state`, the sums start from it (the tokens continue an earlier sequence) and the
// final sums are written back: running a sequence in pieces gives bitwise the same y as in one go.
ElitaForwardResult elita_attention_forward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v,
                                           ElitaState* state = nullptr);

struct ElitaGrads {
  Tensor da, dg, dd, dv;  // shapes of a, g, d, v; contiguous
};

// Backward, itself O(n): with b_i = g_i − lse_i and softmax weights P_ij = e^{a_j + b_i}, P^D_i = e^{d_i − lse_i}:
//   dd_i = P^D_i (gy_i·v_i − gy_i·y_i),   dg_i = −dd_i  (only g_i − d_i matters to the softmax)
//   da_j = e^{a_j} [ v_j · Σ_{i≥j} e^{b_i} gy_i − Σ_{i≥j} e^{b_i} (gy_i·y_i) ]
//   dv_j = P^D_j gy_j + e^{a_j} Σ_{i≥j} e^{b_i} gy_i
// The reverse cumulative sums are kept relative to the reverse running max μ_j = max_{i≥j} b_i,
// so e^{a_j + μ_j} ≤ 1 (it is one of the softmax weights P_{i*j}).
ElitaGrads elita_attention_backward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v,
                                    const Tensor& y, const Tensor& lse, const Tensor& gy);

}  // namespace loupe
