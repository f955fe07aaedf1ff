// Gradcheck cases for the reductions (autograd/ops/reduce.cpp): all dims, dim sets,
// negative dims, keepdim, strided inputs and ties of amax/amin.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace {
using namespace loupe;
using loupe::testing::rand64;
using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

auto in(Shape s, uint64_t seed = 3) {
  return [=] { return Ts{rand64(s, seed)}; };
}

LOUPE_GRADCHECK_CASE("sum", "all", in({3, 4}), [](const Vs& v) { return sum(v[0]); });
LOUPE_GRADCHECK_CASE("sum", "dims {0,2} keepdim", in({2, 3, 4}), [](const Vs& v) { return sum(v[0], {0, 2}, true); });
LOUPE_GRADCHECK_CASE("sum", "dim -1 of transposed", in({3, 5}),
                     [](const Vs& v) { return sum(transpose(v[0], 0, 1), {-1}); });
LOUPE_GRADCHECK_CASE("mean", "dim 1", in({2, 3, 4}), [](const Vs& v) { return mean(v[0], {1}); });
LOUPE_GRADCHECK_CASE("mean", "all keepdim", in({3, 4}), [](const Vs& v) { return mean(v[0], {}, true); });
LOUPE_GRADCHECK_CASE("amax", "dim -1", in({3, 5}), [](const Vs& v) { return amax(v[0], {-1}); });
LOUPE_GRADCHECK_CASE("amax", "dims {0,1} of transposed, keepdim", in({3, 4, 2}),
                     [](const Vs& v) { return amax(transpose(v[0], 0, 2), {0, 1}, true); });
// Two equal maxima per row: the central difference in each is 1/2, the equal split.
LOUPE_GRADCHECK_CASE("amax", "two-way ties", [] {
  return Ts{Tensor::from_vector({0.5, 0.9, 0.9, -1.0, 2.0, 1.0, 2.0, 0.0}, {2, 4}, DType::F64)};
}, [](const Vs& v) { return amax(v[0], {1}); });
LOUPE_GRADCHECK_CASE("amin", "dim 0", in({4, 3}), [](const Vs& v) { return amin(v[0], {0}); });
LOUPE_GRADCHECK_CASE("amin", "two-way ties", [] {
  return Ts{Tensor::from_vector({0.5, -0.9, -0.9, 1.0}, {4}, DType::F64)};
}, [](const Vs& v) { return amin(v[0]); });
LOUPE_GRADCHECK_CASE("var", "dim -1 unbiased", in({3, 5}), [](const Vs& v) { return var(v[0], {-1}); });
LOUPE_GRADCHECK_CASE("var", "dims {0,2} population keepdim", in({2, 3, 4}),
                     [](const Vs& v) { return var(v[0], {0, 2}, true, 0); });
LOUPE_GRADCHECK_CASE("var", "all of transposed", in({3, 4}), [](const Vs& v) { return var(transpose(v[0], 0, 1)); });
}  // namespace
