// The fused update loop shared by the optimizers: the update rule is written once
// as a template over V (a SIMD batch or a plain scalar), applied to whole batches
// and then to the scalar tail of each fixed-size chunk. Only +, −, ×, ÷ and √ are
// used (all correctly rounded), so the batch and scalar paths agree bit for bit.
#pragma once
#include <cmath>
#include <cstdint>
#include <utility>

#include "tensor/simd.h"

#include "optim/optimizer.h"
#include "tensor/parallel.h"

namespace loupe::optim::detail {

inline float vsqrt(float x) { return std::sqrt(x); }
inline double vsqrt(double x) { return std::sqrt(x); }
template <class T, class A>
xsimd::batch<T, A> vsqrt(const xsimd::batch<T, A>& x) { return xsimd::sqrt(x); }

// For each element i of [0, n): loads g = grad[i] and s_k = state[k][i] (the parameter and its
// slots), calls rule(g, s_0, ..., s_{K-1}) with the s_k by reference, and stores the s_k back.
// rule is a generic lambda, called with V = xsimd::batch<T> on whole batches and V = T on the tail.
template <class T, int K, class Rule>
void fused_update(int64_t n, const T* grad, T* const (&state)[K], Rule&& rule) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = int64_t(B::size);
  auto apply = [&](auto g, auto (&v)[K]) {
    [&]<size_t... I>(std::index_sequence<I...>) { rule(g, v[I]...); }(std::make_index_sequence<K>{});
  };
  parallel_for(n, kUpdateGrain, [&](int64_t begin, int64_t end) {
    int64_t i = begin;
    for (; i + W <= end; i += W) {
      B v[K];
      for (int k = 0; k < K; ++k) v[k] = B::load_unaligned(state[k] + i);
      apply(B::load_unaligned(grad + i), v);
      for (int k = 0; k < K; ++k) v[k].store_unaligned(state[k] + i);
    }
    for (; i < end; ++i) {
      T v[K];
      for (int k = 0; k < K; ++k) v[k] = state[k][i];
      apply(grad[i], v);
      for (int k = 0; k < K; ++k) state[k][i] = v[k];
    }
  });
}

}  // namespace loupe::optim::detail
