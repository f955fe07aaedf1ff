// Textbook GEMM (twin of tensor/kernels/gemm.h, same arguments): the triple loop
//   C_ij = alpha · Σ_p A_ip · B_pj + beta · C_ij
// with each sum over p accumulated in f64 and rounded once; beta == 0 never reads C. No packing,
// no blocking, no threads: what the five loops of kernels/gemm.cpp compute, written as the maths.
#pragma once
#include <cstdint>

#include "tensor/kernels/gemm.h"

namespace loupe::reference {

template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, kernels::MatRef<T> a, kernels::MatRef<T> b, T beta, T* c,
          int64_t rsc, int64_t csc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) sum += double(a.p[i * a.rs + p * a.cs]) * double(b.p[p * b.rs + j * b.cs]);
      T& cij = c[i * rsc + j * csc];
      cij = T(double(alpha) * sum + (beta == T(0) ? 0.0 : double(beta) * double(cij)));
    }
}

}  // namespace loupe::reference
