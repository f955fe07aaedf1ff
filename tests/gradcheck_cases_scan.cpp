// Gradcheck cases for cumsum: every dim of a 3-D input, and a strided input and gradient.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

using loupe::testing::rand64;

namespace {
using namespace loupe;

LOUPE_GRADCHECK_CASE("cumsum", "dim=0", [] { return std::vector<Tensor>{rand64({3, 5, 4}, 1)}; },
                     [](const std::vector<Var>& v) { return cumsum(v[0], 0); });
LOUPE_GRADCHECK_CASE("cumsum", "dim=1", [] { return std::vector<Tensor>{rand64({3, 5, 4}, 2)}; },
                     [](const std::vector<Var>& v) { return cumsum(v[0], 1); });
LOUPE_GRADCHECK_CASE("cumsum", "dim=-1", [] { return std::vector<Tensor>{rand64({3, 5, 4}, 3)}; },
                     [](const std::vector<Var>& v) { return cumsum(v[0], -1); });
LOUPE_GRADCHECK_CASE("cumsum", "strided input and grad", [] { return std::vector<Tensor>{rand64({4, 7}, 4)}; },
                     [](const std::vector<Var>& v) {
                       Var part = split(v[0], {2, 5}, 1)[1];
                       return concat({cumsum(part, 0), cumsum(part, 1)}, 1);
                     });

}  // namespace
