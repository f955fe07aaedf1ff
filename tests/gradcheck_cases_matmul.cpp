// Gradcheck cases for matmul (autograd/ops/matmul.cpp): 2-D, transposed views (read by the
// GEMM through swapped strides), batched with broadcast batch dims on either side (the
// broadcast operand's gradient is a sum over batches), and NumPy's 1-D promotions.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace {
using namespace loupe;
using loupe::testing::rand64;
using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

auto in2(Shape a, Shape b) {
  return [=] { return Ts{rand64(a, 21), rand64(b, 22)}; };
}
auto mm = [](const Vs& v) { return matmul(v[0], v[1]); };

LOUPE_GRADCHECK_CASE("matmul", "[3,4]x[4,5]", in2({3, 4}, {4, 5}), mm);
LOUPE_GRADCHECK_CASE("matmul", "transposed views Aᵀ Bᵀ", in2({4, 3}, {5, 4}),
                     [](const Vs& v) { return matmul(transpose(v[0], 0, 1), transpose(v[1], 0, 1)); });
LOUPE_GRADCHECK_CASE("matmul", "[2,3,4]x[2,4,5] batched", in2({2, 3, 4}, {2, 4, 5}), mm);
LOUPE_GRADCHECK_CASE("matmul", "[2,3,4]x[4,5] shared weight", in2({2, 3, 4}, {4, 5}), mm);
LOUPE_GRADCHECK_CASE("matmul", "[3,4]x[2,4,5] shared left", in2({3, 4}, {2, 4, 5}), mm);
LOUPE_GRADCHECK_CASE("matmul", "[2,1,3,4]x[3,4,2] both broadcast", in2({2, 1, 3, 4}, {3, 4, 2}), mm);
LOUPE_GRADCHECK_CASE("matmul", "batch-transposed [3,2,4]->[2,3,4] x [2,4,5]", in2({3, 2, 4}, {2, 4, 5}),
                     [](const Vs& v) { return matmul(transpose(v[0], 0, 1), v[1]); });
LOUPE_GRADCHECK_CASE("matmul", "1-D x 2-D", in2({4}, {4, 5}), mm);
LOUPE_GRADCHECK_CASE("matmul", "3-D x 1-D", in2({2, 3, 4}, {4}), mm);
LOUPE_GRADCHECK_CASE("matmul", "1-D x 1-D (dot)", in2({4}, {4}), mm);
LOUPE_GRADCHECK_CASE("matmul", "1-D x 3-D", in2({4}, {2, 4, 3}), mm);

}  // namespace
