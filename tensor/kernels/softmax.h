// Softmax family kernels. The forward ops (softmax, log_softmax) are declared in
// tensor/ops.h; this header adds their closed-form backwards and the row-level
// helpers that the fused cross-entropy reuses.
//
// Every row is computed by one thread in a fixed order, so results are
// bitwise identical for any thread count.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace loupe {

// Given y = softmax(x, dim) and the output gradient g: dx = y * (g - sum(g * y)).
Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim);
// Given y = log_softmax(x, dim) and g: dx = g - exp(y) * sum(g).
Tensor log_softmax_backward(const Tensor& y, const Tensor& g, int64_t dim);

namespace kernels {

// Row helpers over n contiguous elements (xsimd main loop + scalar tail).
template <typename T>
T row_max(const T* x, int64_t n);
// y[i] = exp(x[i] - m); returns sum(y) (y may alias x; y may be null to only sum).
template <typename T>
T row_exp_sum(const T* x, T m, T* y, int64_t n);
// sum(a[i] * b[i]) and sum(a[i]), in a fixed order (lanes, then tail).
template <typename T>
T row_dot(const T* a, const T* b, int64_t n);
template <typename T>
T row_sum(const T* a, int64_t n);
// log(sum(exp(x))) computed stably as m + log(sum(exp(x - m))), m = max(x).
template <typename T>
T row_logsumexp(const T* x, int64_t n);

}  // namespace kernels
}  // namespace loupe
