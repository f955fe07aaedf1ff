// Shared test helpers: comparisons against naive f64 references.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/gradcheck.h"
#include "tensor/tensor.h"

namespace loupe::testing {

// Asserts elementwise |a - b| <= atol + rtol * |b|, reporting the worst element.
inline ::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double rtol = 1e-5, double atol = 1e-6) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << a.str() << " vs " << b.str();
  const auto va = a.to_vector(), vb = b.to_vector();
  double worst = 0;
  int64_t wi = -1;
  for (size_t i = 0; i < va.size(); ++i) {
    const double err = std::fabs(va[i] - vb[i]);
    const double tol = atol + rtol * std::fabs(vb[i]);
    const bool nan_mismatch = std::isnan(va[i]) != std::isnan(vb[i]);
    if (nan_mismatch || (!(err <= tol) && !(std::isinf(va[i]) && va[i] == vb[i]))) {
      if (wi < 0 || err > worst || nan_mismatch) {
        worst = err;
        wi = int64_t(i);
      }
    }
  }
  if (wi >= 0)
    return ::testing::AssertionFailure() << "mismatch at flat index " << wi << ": " << va[size_t(wi)] << " vs "
                                         << vb[size_t(wi)] << " (abs err " << worst << ")";
  return ::testing::AssertionSuccess();
}

// Asserts the two tensors are bitwise identical (same dtype, shape and bytes).
inline ::testing::AssertionResult bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape())
    return ::testing::AssertionFailure() << a.str() << " vs " << b.str();
  const Tensor ca = a.contiguous(), cb = b.contiguous();
  const size_t n = size_t(ca.numel()) * dtype_size(ca.dtype());
  const auto* pa = static_cast<const unsigned char*>(ca.raw_data());
  const auto* pb = static_cast<const unsigned char*>(cb.raw_data());
  for (size_t i = 0; i < n; ++i)
    if (pa[i] != pb[i]) return ::testing::AssertionFailure() << "bytes differ at byte " << i << " of " << n;
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult gradcheck_ok(const std::function<Var(const std::vector<Var>&)>& f,
                                               const std::vector<Tensor>& inputs, const GradcheckOptions& opt = {}) {
  auto r = gradcheck(f, inputs, opt);
  if (r.ok) return ::testing::AssertionSuccess() << r.report;
  return ::testing::AssertionFailure() << r.report;
}

// Random f64 tensor in [lo, hi) for tests.
inline Tensor rand64(const Shape& s, uint64_t seed, double lo = -1, double hi = 1) {
  return Tensor::uniform(s, lo, hi, seed, DType::F64);
}

}  // namespace loupe::testing
