// Helpers the model suites share (test_models, test_silia, test_shishu, test_elita, test_wiola).
#pragma once
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "autograd/ops.h"
#include "models/model.h"
#include "tests/testing.h"

namespace loupe::testing {

// Token ids [B, T] uniform over [0, V), from the counter-based RNG.
inline Tensor random_ids(int64_t B, int64_t T, int64_t V, uint64_t seed) {
  Tensor u = Tensor::uniform({B, T}, 0, double(V), seed, DType::F64);
  std::vector<int64_t> ids;
  for (double x : u.to_vector()) ids.push_back(std::min<int64_t>(V - 1, int64_t(x)));
  return Tensor::from_ints(ids, {B, T});
}

// Mean cross-entropy of the model's logits on ids against targets.
inline double loss_of(models::LanguageModel& m, const Tensor& ids, const Tensor& targets) {
  Var logits = m.forward(ids);
  return cross_entropy(reshape(logits, {-1, m.vocab_size()}), targets.reshape({-1})).item();
}

// Full recompute vs prefix + one-token-at-a-time decoding through the cache.
inline void expect_cache_matches_full(models::LanguageModel& m, int64_t B, int64_t T, int64_t prefix, double tol) {
  NoGrad ng;
  m.eval();
  const Tensor ids = random_ids(B, T, m.vocab_size(), 77);
  const Tensor full = m.forward(ids).value();
  auto cache = m.make_cache(B, T);
  std::vector<Tensor> parts{m.forward_cached(ids.narrow(1, 0, prefix), *cache).value()};
  for (int64_t t = prefix; t < T; ++t) parts.push_back(m.forward_cached(ids.narrow(1, t, 1), *cache).value());
  EXPECT_EQ(cache->length(), T);
  EXPECT_TRUE(all_close(concat(parts, 1), full, tol, tol));
}

// A cross-entropy training loop with plain SGD (p -= lr * grad) on one fixed batch: (first, last) loss.
inline std::pair<double, double> overfit_one_batch(models::LanguageModel& m, int steps, double lr) {
  const Tensor ids = random_ids(2, 16, m.vocab_size(), 5), targets = random_ids(2, 16, m.vocab_size(), 6);
  m.train();
  const double first = loss_of(m, ids, targets);
  for (int s = 0; s < steps; ++s) {
    m.zero_grad();
    Var logits = m.forward(ids);
    Var loss = cross_entropy(reshape(logits, {-1, m.vocab_size()}), targets.reshape({-1}));
    loss.backward();
    NoGrad ng;
    for (auto& p : m.parameters())
      if (p.grad().defined()) add_(p.mutable_value(), p.grad(), -lr);
  }
  return {first, loss_of(m, ids, targets)};
}

}  // namespace loupe::testing
