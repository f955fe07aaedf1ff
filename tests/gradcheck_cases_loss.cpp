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

// The fused head, with ignored rows and a strided W. These rows fit one chunk (kLinearCeChunk / V
// rows); tests/test_linear_cross_entropy.cpp checks several chunks against the unfused ops.
LOUPE_GRADCHECK_CASE("linear_cross_entropy", "N=5 C=3 V=7",
                     [] { return std::vector<Tensor>{rand64({5, 3}, 4, -1, 1), rand64({7, 3}, 5, -1, 1)}; },
                     [](const std::vector<Var>& v) {
                       return linear_cross_entropy(v[0], v[1], Tensor::from_ints({3, 0, 6, 6, 2}, {5}));
                     });
LOUPE_GRADCHECK_CASE("linear_cross_entropy", "ignore_index, strided W",
                     [] { return std::vector<Tensor>{rand64({4, 5}, 6, -1, 1), rand64({5, 6}, 7, -1, 1)}; },
                     [](const std::vector<Var>& v) {
                       return linear_cross_entropy(v[0], transpose(v[1], 0, 1), Tensor::from_ints({1, -100, 5, 0}, {4}), -100);
                     });

}  // namespace
