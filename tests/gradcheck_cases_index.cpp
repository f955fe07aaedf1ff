// Gradcheck cases for the joining and indexing ops: repeated indices (whose
// gradients must add up), several dims, strided inputs and unused parts.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

using loupe::testing::rand64;

namespace {
using namespace loupe;

LOUPE_GRADCHECK_CASE("concat", "dim=1, three inputs",
                     [] { return std::vector<Tensor>{rand64({2, 3}, 1), rand64({2, 1}, 2), rand64({2, 4}, 3)}; },
                     [](const std::vector<Var>& v) { return concat({v[0], v[1], v[2]}, 1); });
LOUPE_GRADCHECK_CASE("concat", "dim=0, same input twice",
                     [] { return std::vector<Tensor>{rand64({2, 3}, 4), rand64({1, 3}, 5)}; },
                     [](const std::vector<Var>& v) { return concat({v[0], v[1], v[0]}, 0); });

LOUPE_GRADCHECK_CASE("stack", "dim=0", [] { return std::vector<Tensor>{rand64({2, 3}, 6), rand64({2, 3}, 7)}; },
                     [](const std::vector<Var>& v) { return stack({v[0], v[1]}, 0); });
LOUPE_GRADCHECK_CASE("stack", "dim=-1, strided input",
                     [] { return std::vector<Tensor>{rand64({3, 2}, 8), rand64({3, 5}, 9)}; },
                     [](const std::vector<Var>& v) {
                       return stack({v[0], split(v[1], {2, 1, 2}, 1)[2]}, -1);  // the second is a strided view
                     });

LOUPE_GRADCHECK_CASE("split", "reordered parts, one unused", [] { return std::vector<Tensor>{rand64({3, 6}, 10)}; },
                     [](const std::vector<Var>& v) {
                       auto p = split(v[0], {1, 3, 2}, 1);
                       return concat({p[2], p[0]}, 1);  // p[1] unused: its slice gets zero gradient
                     });
LOUPE_GRADCHECK_CASE("split", "dim=0, parts used twice", [] { return std::vector<Tensor>{rand64({5, 2}, 11)}; },
                     [](const std::vector<Var>& v) {
                       auto p = split(v[0], {2, 3}, 0);
                       return concat({p[1], p[0], p[1]}, 0);
                     });

LOUPE_GRADCHECK_CASE("gather", "dim=1, repeated indices", [] { return std::vector<Tensor>{rand64({3, 4}, 12)}; },
                     [](const std::vector<Var>& v) {
                       return gather(v[0], 1, Tensor::from_ints({0, 0, 3, 2, 1, 1, 3, 3, 3, 0, 2, 1}, {3, 4}));
                     });
LOUPE_GRADCHECK_CASE("gather", "dim=0, smaller index", [] { return std::vector<Tensor>{rand64({3, 4}, 13)}; },
                     [](const std::vector<Var>& v) { return gather(v[0], 0, Tensor::from_ints({2, 2, 0, 1, 2, 0}, {2, 3})); });

LOUPE_GRADCHECK_CASE("index_select", "dim=0, repeats", [] { return std::vector<Tensor>{rand64({4, 3}, 14)}; },
                     [](const std::vector<Var>& v) { return index_select(v[0], 0, Tensor::from_ints({3, 0, 3, 3, 1}, {5})); });
LOUPE_GRADCHECK_CASE("index_select", "dim=1 of a strided view", [] { return std::vector<Tensor>{rand64({2, 7, 2}, 15)}; },
                     [](const std::vector<Var>& v) {
                       Var part = split(v[0], {2, 5}, 1)[1];  // [2, 5, 2] view
                       return index_select(part, 1, Tensor::from_ints({4, 0, 4, 2}, {4}));
                     });

LOUPE_GRADCHECK_CASE("scatter_add", "dim=0, repeats, src larger than index",
                     [] { return std::vector<Tensor>{rand64({3, 4}, 16), rand64({4, 5}, 17)}; },
                     [](const std::vector<Var>& v) {
                       return scatter_add(v[0], 0, Tensor::from_ints({0, 2, 2, 1, 0, 0, 1, 2, 2, 2, 0, 1}, {3, 4}), v[1]);
                     });
LOUPE_GRADCHECK_CASE("scatter_add", "dim=1", [] { return std::vector<Tensor>{rand64({2, 3}, 18), rand64({2, 4}, 19)}; },
                     [](const std::vector<Var>& v) {
                       return scatter_add(v[0], 1, Tensor::from_ints({2, 2, 0, 2, 1, 1, 1, 0}, {2, 4}), v[1]);
                     });

LOUPE_GRADCHECK_CASE("embedding", "repeated ids", [] { return std::vector<Tensor>{rand64({7, 3}, 20)}; },
                     [](const std::vector<Var>& v) {
                       return embedding(v[0], Tensor::from_ints({1, 6, 1, 0, 6, 6, 2, 1}, {2, 4}));
                     });
LOUPE_GRADCHECK_CASE("embedding", "strided weight", [] { return std::vector<Tensor>{rand64({5, 6}, 21)}; },
                     [](const std::vector<Var>& v) {
                       return embedding(split(v[0], {2, 4}, 1)[1], Tensor::from_ints({4, 0, 4}, {3}));
                     });

}  // namespace
