// Scans along one dim. cumsum is declared in tensor/ops.h; its backward, the
// reverse cumsum, lives here.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace loupe {

// out[..., i, ...] = sum_{k >= i} x[..., k, ...] along dim (the backward of cumsum).
Tensor cumsum_reverse(const Tensor& x, int64_t dim);

}  // namespace loupe
