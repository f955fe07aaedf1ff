// Joining and indexing kernels. The forward ops (concat, stack, split, gather,
// index_select, scatter_add, embedding) are declared in tensor/ops.h; this
// header adds the backwards that are not themselves one of those ops.
// All are deterministic: every output element is summed in a fixed order.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace loupe {

// The backward of index_select: zeros of x_shape with g's slices added back at
// index positions along dim (repeated indices accumulate, in index order).
Tensor index_select_backward(const Tensor& g, const Shape& x_shape, int64_t dim, const Tensor& index);

// The backward of embedding: a zero [vocab, D] gradient with each row of g
// ([..., D], one row per id) added into row ids[p], in order of p.
Tensor embedding_backward(const Tensor& g, const Tensor& ids, int64_t vocab);

}  // namespace loupe
