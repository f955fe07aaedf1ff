// Summary statistics of a float tensor's values, for tracing and anomaly checks: the finite
// values' min, max, sum and sum of squares, and the NaN and Inf counts. Computed in fixed chunks
// in parallel, the partial results combined in chunk order: the same numbers on any thread count.
#pragma once
#include <cstdint>
#include <limits>

#include "tensor/tensor.h"

namespace loupe {

struct TensorStats {
  double min = std::numeric_limits<double>::infinity(), max = -std::numeric_limits<double>::infinity();
  double sum = 0, sumsq = 0;
  int64_t finite = 0, nan = 0, inf = 0;
  double mean() const { return finite ? sum / double(finite) : 0.0; }
  double rms() const;
  bool all_finite() const { return nan + inf == 0; }
};

TensorStats tensor_stats(const Tensor& t);  // t: f32 or f64, any strides

}  // namespace loupe
