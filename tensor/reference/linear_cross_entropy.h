// Textbook twin of the fused LM head and cross-entropy (tensor/kernels/linear_cross_entropy.h,
// same arguments and results): the unfused maths, every intermediate whole —
//   Z = h · Wᵀ [N, V];  loss, G = count · ∂loss/∂Z  (tensor/reference/cross_entropy.h)
//   dh = G · W;  dW = Gᵀ · h
// (kernels::gemm runs its own triple loop in reference mode, tensor/reference/gemm.h).
#pragma once
#include "tensor/kernels/linear_cross_entropy.h"

namespace loupe::reference {

LinearCrossEntropy linear_cross_entropy_forward(const Tensor& h, const Tensor& w, const Tensor& targets,
                                                int64_t ignore_index, bool grad_h, bool grad_w);

}  // namespace loupe::reference
