// Gradcheck cases for rope and rotate_pairs (autograd/ops/rope.cpp).
#include "autograd/nn_ops.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace loupe::testing {
namespace {

using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// ---- rope
LOUPE_GRADCHECK_CASE("rope", "B2 T5 H3 D6",
                     [] { return Ts{rand64({2, 5, 3, 6}, 31)}; },
                     [](const Vs& v) { return rope(v[0]); });
LOUPE_GRADCHECK_CASE("rope", "offset 9, base 100",
                     [] { return Ts{rand64({1, 3, 2, 4}, 32)}; },
                     [](const Vs& v) { return rope(v[0], 9, 100.0); });

// ---- rotate_pairs (angles as inputs; cos and sin are free tensors here, not a rotation)
LOUPE_GRADCHECK_CASE("rotate_pairs", "B2 T3 H2 D6",
                     [] { return Ts{rand64({2, 3, 2, 6}, 33), rand64({3, 2, 3}, 34), rand64({3, 2, 3}, 35)}; },
                     [](const Vs& v) { return rotate_pairs(v[0], v[1], v[2]); });

}  // namespace
}  // namespace loupe::testing
