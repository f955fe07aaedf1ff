// Gradcheck cases for ELiTA's fused Attention2 core (autograd/ops/elita_attention.cpp).
#include "autograd/ops/elita_attention.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace {
using loupe::Shape;
using loupe::Tensor;
using loupe::Var;
using loupe::testing::rand64;

// a, g, d: [B, T, H]; v: [B, T, H, Dh]; logits spread over [lo, hi).
std::vector<Tensor> elita_inputs(int64_t B, int64_t T, int64_t H, int64_t Dh, double lo, double hi, uint64_t seed) {
  return {rand64({B, T, H}, seed, lo, hi), rand64({B, T, H}, seed + 1, lo, hi), rand64({B, T, H}, seed + 2, lo, hi),
          rand64({B, T, H, Dh}, seed + 3)};
}
Var elita_f(const std::vector<Var>& x) { return loupe::elita_attention(x[0], x[1], x[2], x[3]); }

LOUPE_GRADCHECK_CASE("elita_attention", "small B1 T7 H1 Dh3", [] { return elita_inputs(1, 7, 1, 3, -2, 2, 11); },
                     elita_f);
LOUPE_GRADCHECK_CASE("elita_attention", "B2 T17 H3 Dh5", [] { return elita_inputs(2, 17, 3, 5, -3, 3, 21); }, elita_f);
// Large logits: the naive exponentials would overflow in f32 (e^90); the stabilised form is exact.
LOUPE_GRADCHECK_CASE("elita_attention", "large logits", [] { return elita_inputs(1, 9, 2, 4, 60, 90, 31); },
                     elita_f);
}  // namespace
