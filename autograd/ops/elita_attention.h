// elita_attention: ELiTA's Attention2 core as one fused differentiable op (O(n) forward and backward).
// Kept in its own header so that autograd/ops.h stays the list of general ops.
#pragma once
#include "autograd/var.h"
#include "tensor/kernels/elita_attention.h"

namespace loupe {

// a, g, d: [B, T, H] key / query / diagonal logits; v: [B, T, H, Dh] values.
// y_i = (e^{d_i} v_i + e^{g_i} Σ_{j≤i} e^{a_j} v_j) / (e^{d_i} + e^{g_i} Σ_{j≤i} e^{a_j}), per (batch, head);
// returns y [B, T, H, Dh]. Equations and the stabilisation in tensor/kernels/elita_attention.h.
Var elita_attention(const Var& a, const Var& g, const Var& d, const Var& v);

}  // namespace loupe
