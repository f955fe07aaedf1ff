// Fused row normalisations (LayerNorm, RMSNorm): forward and backward over
// `rows` contiguous rows of C elements. Rows run in parallel; the weight/bias
// gradients (sums over rows) are summed in fixed blocks of rows, then the block
// partials in order, so every result is bitwise identical for any thread count.
// Textbook twin (plain f64 loops, selected by reference mode): tensor/reference/norm.h.
#pragma once
#include <cstdint>

namespace loupe::kernels {

// y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps) (population variance); b may be null.
// Saves mean[rows] and rstd[rows] for the backward.
template <typename T>
void layernorm_forward(int64_t rows, int64_t C, const T* x, const T* w, const T* b, double eps, T* y, T* mean,
                       T* rstd);
// With xh = (x - mean) * rstd and g = dy * w:
//   dx = rstd * (g - mean(g) - xh * mean(g * xh)),  dw = Σ_rows dy * xh,  db = Σ_rows dy.
// Any of dx, dw, db may be null (not needed).
template <typename T>
void layernorm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* mean, const T* rstd, const T* dy,
                        T* dx, T* dw, T* db);

// y = x * rstd * w, rstd = 1/sqrt(mean(x²) + eps). Saves rstd[rows].
template <typename T>
void rmsnorm_forward(int64_t rows, int64_t C, const T* x, const T* w, double eps, T* y, T* rstd);
// With xh = x * rstd, g = dy * w:  dx = rstd * (g - xh * mean(g * xh)),  dw = Σ_rows dy * xh.
template <typename T>
void rmsnorm_backward(int64_t rows, int64_t C, const T* x, const T* w, const T* rstd, const T* dy, T* dx, T* dw);

}  // namespace loupe::kernels
