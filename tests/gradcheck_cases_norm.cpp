// Gradcheck cases for layer_norm and rms_norm (autograd/ops/norm.cpp).
#include "autograd/nn_ops.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace loupe::testing {
namespace {

using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// ---- layer_norm
LOUPE_GRADCHECK_CASE("layer_norm", "weight and bias, C=7",
                     [] { return Ts{rand64({3, 5, 7}, 1, -2, 2), rand64({7}, 2, 0.5, 1.5), rand64({7}, 3)}; },
                     [](const Vs& v) { return layer_norm(v[0], v[1], v[2]); });
LOUPE_GRADCHECK_CASE("layer_norm", "no bias, 17 rows, C=3 (crosses row blocks)",
                     [] { return Ts{rand64({17, 3}, 4, -1, 3), rand64({3}, 5, -1, 1)}; },
                     [](const Vs& v) { return layer_norm(v[0], v[1], Var(), 1e-3); });
LOUPE_GRADCHECK_CASE("layer_norm", "C=1 rows",
                     [] { return Ts{rand64({4, 1}, 6), rand64({1}, 7), rand64({1}, 8)}; },
                     [](const Vs& v) { return layer_norm(v[0], v[1], v[2]); });

// ---- rms_norm
LOUPE_GRADCHECK_CASE("rms_norm", "C=9",
                     [] { return Ts{rand64({2, 3, 9}, 11, -2, 2), rand64({9}, 12, 0.5, 1.5)}; },
                     [](const Vs& v) { return rms_norm(v[0], v[1]); });
LOUPE_GRADCHECK_CASE("rms_norm", "17 rows, C=19",
                     [] { return Ts{rand64({17, 19}, 13), rand64({19}, 14)}; },
                     [](const Vs& v) { return rms_norm(v[0], v[1], 1e-6); });

}  // namespace
}  // namespace loupe::testing
