// Gradcheck cases for dropout (autograd/ops/dropout.cpp).
#include "autograd/nn_ops.h"
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace loupe::testing {
namespace {

using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// ---- dropout (the mask is a pure function of seed and counter, so f is deterministic)
LOUPE_GRADCHECK_CASE("dropout", "p=0.3",
                     [] { return Ts{rand64({5, 13}, 21)}; },
                     [](const Vs& v) { return dropout(v[0], 0.3, 42, 7); });

}  // namespace
}  // namespace loupe::testing
