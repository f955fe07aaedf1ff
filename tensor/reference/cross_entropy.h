// Textbook softmax cross-entropy over rows of logits [N, V] with i64 targets (twin of
// tensor/kernels/cross_entropy.h, same arguments and results):
//   lse_i = log Σ_v e^{x_iv},   loss = mean over counted rows of (lse_i − x_i[t_i])
//   dx_iv = dloss / count · (e^{x_iv − lse_i} − [v = t_i]),   0 for ignored rows
#pragma once
#include "tensor/kernels/cross_entropy.h"

namespace loupe::reference {

CrossEntropyForward cross_entropy_forward(const Tensor& logits, const Tensor& targets, int64_t ignore_index);
Tensor cross_entropy_backward(const CrossEntropyForward& fwd, const Tensor& targets, int64_t ignore_index,
                              double dloss);

}  // namespace loupe::reference
