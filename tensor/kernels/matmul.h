// Tensor-level helpers around the GEMM kernel, shared by matmul's forward and backward.
#pragma once
#include "tensor/tensor.h"

namespace loupe::kernels {

// out[..., m, n] = sum over the batch dims that `out_shape` drops or keeps at 1 of
// x[..., m, k] · y[..., k, n], where x and y (both >= 2-D) broadcast over their batch dims.
// With out_shape = the broadcast batch shape + [m, n] this is plain batched matmul; with a
// smaller batch shape it is the gradient of an operand that was broadcast (the sum runs in a
// fixed order, or is folded into one GEMM's K dimension when the strides allow).
// x and y are read through their strides (a transposed view costs no copy). `op` names the
// caller in error messages.
Tensor matmul_sum_to(const Tensor& x, const Tensor& y, const Shape& out_shape, const char* op = "matmul");

}  // namespace loupe::kernels
