// Gradcheck cases for the fused cross-entropy: plain, with ignored rows, and on
// strided logits.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

using loupe::testing::rand64;

namespace {
using namespace loupe;

LOUPE_GRADCHECK_CASE("cross_entropy", "N=5 V=7", [] { return std::vector<Tensor>{rand64({5, 7}, 1, -2, 2)}; },
                     [](const std::vector<Var>& v) {
                       return cross_entropy(v[0], Tensor::from_ints({3, 0, 6, 6, 2}, {5}));
                     });
LOUPE_GRADCHECK_CASE("cross_entropy", "ignore_index", [] { return std::vector<Tensor>{rand64({6, 4}, 2, -2, 2)}; },
                     [](const std::vector<Var>& v) {
                       return cross_entropy(v[0], Tensor::from_ints({1, -100, 3, 0, -100, 3}, {6}), -100);
                     });
LOUPE_GRADCHECK_CASE("cross_entropy", "strided logits", [] { return std::vector<Tensor>{rand64({4, 9}, 3, -2, 2)}; },
                     [](const std::vector<Var>& v) {
                       return cross_entropy(split(v[0], {2, 7}, 1)[1], Tensor::from_ints({6, 0, 1, 5}, {4}), -1);
                     });

}  // namespace
