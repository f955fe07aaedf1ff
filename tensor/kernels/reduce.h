// Reductions over any set of dims (sum, mean, amax, amin, var, argmax, sum_to_shape;
// declared in tensor/ops.h). Helpers shared with the autograd reductions live here.
//
// Summation order (deterministic for any thread count, accurate for long f32 sums):
// values are added in T-typed SIMD lanes over fixed blocks of kReduceBlock
// elements; every block's total is added into an f64 accumulator, blocks in index
// order. The reduced range of one output is further cut into fixed superblocks of
// kReduceSuper elements, whose f64 partials are computed in parallel and summed in
// order. Chunk boundaries depend only on the shapes, never on the thread count.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace loupe::kernels {

constexpr int64_t kReduceBlock = 256;       // elements summed in T lanes before going to f64
constexpr int64_t kReduceSuper = 1 << 15;  // reduced elements per parallel work item

// Which dims of an ndim-tensor `dims` names (negative dims count from the end; empty = all).
// Throws naming `op` for out-of-range or repeated dims.
std::vector<bool> reduce_mask(const char* op, int64_t ndim, const std::vector<int64_t>& dims);

// The shape of the result: reduced dims removed, or kept as 1 with keepdim.
Shape reduced_shape(const Shape& shape, const std::vector<bool>& mask, bool keepdim);

// Number of elements each output reduces over.
int64_t reduced_count(const Shape& shape, const std::vector<bool>& mask);

}  // namespace loupe::kernels
