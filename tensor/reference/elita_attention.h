// Textbook ELiTA Attention2 core (twin of tensor/kernels/elita_attention.h, same arguments and
// results): the O(T²) masked softmax that the O(T) cumulative sums compute. For each batch b,
// head h and query i, over the entries {diagonal} ∪ {j ≤ i}:
//   z_D = d_i (value v_i),   z_j = g_i + a_j (value v_j),   lse_i = log(e^{z_D} + Σ_j e^{z_j})
//   y_i = e^{z_D − lse_i} v_i + Σ_j e^{z_j − lse_i} v_j
// backward, with P the weights above and Δ = gy_i·y_i:
//   dz = P (gy_i·value − Δ);  dd_i = dz_D;  dg_i = Σ_j dz_j;  da_j += dz_j;  dv += P gy_i
// Generation (a running state) has no twin: it continues the fast kernel's sums.
#pragma once
#include "tensor/kernels/elita_attention.h"

namespace loupe::reference {

ElitaForwardResult elita_attention_forward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v);
ElitaGrads elita_attention_backward(const Tensor& a, const Tensor& g, const Tensor& d, const Tensor& v,
                                    const Tensor& y, const Tensor& lse, const Tensor& gy);

}  // namespace loupe::reference
