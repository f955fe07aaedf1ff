// Placeholder-free but slow GEMM: a correct triple loop with an f64-free K order.
// Replaced by the BLIS-style implementation (issue 3).
#include "tensor/kernels/gemm.h"

#include "tensor/parallel.h"

namespace loupe::kernels {

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, MatRef<T> b, T beta, T* c, int64_t rsc, int64_t csc) {
  parallel_for(m, 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < n; ++j) {
        T acc = 0;
        for (int64_t p = 0; p < k; ++p) acc += a.p[i * a.rs + p * a.cs] * b.p[p * b.rs + j * b.cs];
        T& dst = c[i * rsc + j * csc];
        dst = beta == T(0) ? alpha * acc : alpha * acc + beta * dst;
      }
  });
}

template <typename T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, int64_t stride_a,
                  MatRef<T> b, int64_t stride_b, T beta, T* c, int64_t rsc, int64_t csc, int64_t stride_c) {
  for (int64_t i = 0; i < batch; ++i)
    gemm<T>(m, n, k, alpha, {a.p + i * stride_a, a.rs, a.cs}, {b.p + i * stride_b, b.rs, b.cs}, beta,
            c + i * stride_c, rsc, csc);
}

template void gemm<float>(int64_t, int64_t, int64_t, float, MatRef<float>, MatRef<float>, float, float*, int64_t,
                          int64_t);
template void gemm<double>(int64_t, int64_t, int64_t, double, MatRef<double>, MatRef<double>, double, double*,
                           int64_t, int64_t);
template void gemm_batched<float>(int64_t, int64_t, int64_t, int64_t, float, MatRef<float>, int64_t, MatRef<float>,
                                  int64_t, float, float*, int64_t, int64_t, int64_t);
template void gemm_batched<double>(int64_t, int64_t, int64_t, int64_t, double, MatRef<double>, int64_t,
                                   MatRef<double>, int64_t, double, double*, int64_t, int64_t, int64_t);

}  // namespace loupe::kernels
