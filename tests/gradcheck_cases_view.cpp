// Gradcheck cases for the view ops (autograd/ops/view.cpp). Each view is followed by
// gradcheck's random weighting, so a gradient landing in the wrong place is caught.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace {
using namespace loupe;
using loupe::testing::rand64;
using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

auto in(Shape s, uint64_t seed = 9) {
  return [=] { return Ts{rand64(s, seed)}; };
}

LOUPE_GRADCHECK_CASE("reshape", "[2,3,4] -> [4,-1]", in({2, 3, 4}), [](const Vs& v) { return reshape(v[0], {4, -1}); });
LOUPE_GRADCHECK_CASE("reshape", "of transposed (copies)", in({3, 4}),
                     [](const Vs& v) { return reshape(transpose(v[0], 0, 1), {12}); });
LOUPE_GRADCHECK_CASE("permute", "[2,3,4] -> (2,0,1)", in({2, 3, 4}), [](const Vs& v) { return permute(v[0], {2, 0, 1}); });
LOUPE_GRADCHECK_CASE("permute", "negative dims", in({2, 3, 4}), [](const Vs& v) { return permute(v[0], {-1, -3, -2}); });
LOUPE_GRADCHECK_CASE("transpose", "(0,2)", in({2, 3, 4}), [](const Vs& v) { return transpose(v[0], 0, 2); });
LOUPE_GRADCHECK_CASE("narrow", "dim 1 [1, 3)", in({3, 5}), [](const Vs& v) { return narrow(v[0], 1, 1, 2); });
LOUPE_GRADCHECK_CASE("slice", "dim 0 step 2", in({5, 3}), [](const Vs& v) { return slice(v[0], 0, 0, 5, 2); });
LOUPE_GRADCHECK_CASE("slice", "dim -1 [1,4) of transposed", in({5, 3}),
                     [](const Vs& v) { return slice(transpose(v[0], 0, 1), -1, 1, 4); });
LOUPE_GRADCHECK_CASE("select", "dim 1 index -1", in({3, 4}), [](const Vs& v) { return select(v[0], 1, -1); });
LOUPE_GRADCHECK_CASE("expand", "[3,1] -> [2,3,4]", in({3, 1}), [](const Vs& v) { return expand(v[0], {2, 3, 4}); });
LOUPE_GRADCHECK_CASE("squeeze", "dim -2", in({3, 1, 4}), [](const Vs& v) { return squeeze(v[0], -2); });
LOUPE_GRADCHECK_CASE("unsqueeze", "dim -1", in({3, 4}), [](const Vs& v) { return unsqueeze(v[0], -1); });
LOUPE_GRADCHECK_CASE("unsqueeze", "dim 0", in({3, 4}), [](const Vs& v) { return unsqueeze(v[0], 0); });
LOUPE_GRADCHECK_CASE("contiguous", "of transposed", in({3, 4}), [](const Vs& v) { return contiguous(transpose(v[0], 0, 1)); });
// Two overlapping views of one input: their gradients must add up.
LOUPE_GRADCHECK_CASE("narrow", "overlapping views add", in({6}),
                     [](const Vs& v) { return narrow(v[0], 0, 0, 4) * narrow(v[0], 0, 2, 4); });
}  // namespace
