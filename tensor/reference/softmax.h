// Textbook softmax and log-softmax along `dim` (twins of tensor/ops.h's softmax/log_softmax and
// tensor/kernels/softmax.h's backwards, same arguments and results), one row at a time in f64:
//   softmax:      y_i = e^(x_i − m) / Σ_j e^(x_j − m),   m = max_j x_j
//                 dx_i = y_i · (g_i − Σ_j g_j y_j)
//   log_softmax:  y_i = x_i − m − log Σ_j e^(x_j − m)
//                 dx_i = g_i − e^(y_i) · Σ_j g_j
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace loupe::reference {

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);
Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim);
Tensor log_softmax_backward(const Tensor& y, const Tensor& g, int64_t dim);

}  // namespace loupe::reference
