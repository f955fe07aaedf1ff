// Gradcheck cases for softmax and log_softmax: last and other dims, a strided
// input (a narrowed view) and a strided incoming gradient (through concat's backward).
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

using loupe::testing::rand64;

namespace {
using namespace loupe;

LOUPE_GRADCHECK_CASE("softmax", "dim=-1", [] { return std::vector<Tensor>{rand64({3, 7}, 1, -2, 2)}; },
                     [](const std::vector<Var>& v) { return softmax(v[0], -1); });
LOUPE_GRADCHECK_CASE("softmax", "dim=0 of 3-D", [] { return std::vector<Tensor>{rand64({5, 2, 3}, 2, -2, 2)}; },
                     [](const std::vector<Var>& v) { return softmax(v[0], 0); });
LOUPE_GRADCHECK_CASE("softmax", "strided input and grad", [] { return std::vector<Tensor>{rand64({4, 9}, 3, -2, 2)}; },
                     [](const std::vector<Var>& v) {
                       Var part = split(v[0], {2, 7}, 1)[1];  // [4, 7] view, row stride 9
                       return concat({softmax(part, 1), softmax(part, 0)}, 1);
                     });

LOUPE_GRADCHECK_CASE("log_softmax", "dim=-1", [] { return std::vector<Tensor>{rand64({3, 7}, 4, -2, 2)}; },
                     [](const std::vector<Var>& v) { return log_softmax(v[0], -1); });
LOUPE_GRADCHECK_CASE("log_softmax", "dim=1 of 3-D", [] { return std::vector<Tensor>{rand64({2, 5, 3}, 5, -2, 2)}; },
                     [](const std::vector<Var>& v) { return log_softmax(v[0], 1); });
LOUPE_GRADCHECK_CASE("log_softmax", "strided input and grad", [] { return std::vector<Tensor>{rand64({4, 9}, 6, -2, 2)}; },
                     [](const std::vector<Var>& v) {
                       Var part = split(v[0], {3, 6}, 1)[0];
                       return concat({log_softmax(part, 0), log_softmax(part, 1)}, 1);
                     });

}  // namespace
