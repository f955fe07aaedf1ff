// GEMM: C = alpha * op(A) * op(B) + beta * C, BLIS-style (packed panels, an
// MR x NR xsimd micro-kernel, five named loops, OpenMP over M and N only so the
// K-sum order of every C element is the same for any thread count).
// Matrices are described by general strides (row stride, column stride) in
// elements, so transposes and non-contiguous views need no copies: op(A) = Aᵀ
// is just A with its two strides swapped.
#pragma once
#include <cstdint>

namespace loupe::kernels {

template <typename T>
struct MatRef {  // element (i, j) at p[i * rs + j * cs]
  const T* p;
  int64_t rs, cs;
};

// C[m x n] = alpha * A[m x k] * B[k x n] + beta * C. beta == 0 never reads C (NaNs in C are overwritten).
template <typename T>
void gemm(int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, MatRef<T> b, T beta, T* c, int64_t rsc, int64_t csc);

// Batched: matrix i of A/B/C starts at p + i * batch_stride (a stride of 0 broadcasts).
template <typename T>
void gemm_batched(int64_t batch, int64_t m, int64_t n, int64_t k, T alpha, MatRef<T> a, int64_t stride_a,
                  MatRef<T> b, int64_t stride_b, T beta, T* c, int64_t rsc, int64_t csc, int64_t stride_c);

// BLAS-style convenience: row-major, op = transpose when trans_* is set, leading dimensions lda/ldb/ldc.
template <typename T>
void gemm_rowmajor(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
                   const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  MatRef<T> ra{a, trans_a ? 1 : lda, trans_a ? lda : 1};
  MatRef<T> rb{b, trans_b ? 1 : ldb, trans_b ? ldb : 1};
  gemm<T>(m, n, k, alpha, ra, rb, beta, c, ldc, 1);
}

}  // namespace loupe::kernels
