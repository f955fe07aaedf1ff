// Gradcheck cases for einsum (autograd/ops/einsum.cpp): products, batched and attention forms,
// ELiTA's three-operand form, repeated indices (traces, diagonals), '...' with broadcast dims,
// labels only one operand has, scalars, many operands, and one Var used as two operands.
#include "tests/gradcheck_cases.h"
#include "tests/testing.h"

namespace {
using namespace loupe;
using loupe::testing::rand64;
using Vs = std::vector<Var>;
using Ts = std::vector<Tensor>;

// Inputs of the given shapes (seeds 11, 12, ...).
auto in(std::vector<Shape> shapes) {
  return [=] {
    Ts ts;
    for (size_t k = 0; k < shapes.size(); ++k) ts.push_back(rand64(shapes[k], 11 + k));
    return ts;
  };
}
auto spec(const char* s) {
  return [s](const Vs& v) { return einsum(s, v); };
}

#define EINSUM_CASE(s, ...) LOUPE_GRADCHECK_CASE("einsum", s, in(__VA_ARGS__), spec(s))

EINSUM_CASE("ij,jk->ik", {{3, 4}, {4, 5}});
EINSUM_CASE("ij,jk->ki", {{3, 4}, {4, 5}});
EINSUM_CASE("bij,bjk->bik", {{2, 3, 4}, {2, 4, 3}});
EINSUM_CASE("bhqd,bhkd->bhqk", {{2, 2, 3, 4}, {2, 2, 5, 4}});
EINSUM_CASE("bhqk,bhkd->bhqd", {{2, 2, 3, 5}, {2, 2, 5, 4}});
EINSUM_CASE("bi,bj,ijk->bk", {{3, 4}, {3, 2}, {4, 2, 3}});
EINSUM_CASE("ii->", {{4, 4}});
EINSUM_CASE("ii->i", {{4, 4}});
EINSUM_CASE("iij->j", {{3, 3, 4}});
EINSUM_CASE("iji,jk->ik", {{3, 2, 3}, {2, 4}});
EINSUM_CASE("ii,i->i", {{3, 3}, {3}});
EINSUM_CASE("...ij,...jk->...ik", {{2, 1, 3, 4}, {3, 4, 2}});
EINSUM_CASE("...i,...i->...", {{4, 1, 3}, {2, 3}});
EINSUM_CASE("...ii->...i", {{2, 3, 3}});
EINSUM_CASE("...i,i->i", {{2, 3, 4}, {4}});
EINSUM_CASE("ij,jk->i", {{3, 4}, {4, 5}});  // k only in operand 1: its gradient is broadcast along k
EINSUM_CASE("ij->", {{3, 4}});
EINSUM_CASE("ijk->ki", {{2, 3, 4}});
EINSUM_CASE("i,j->ij", {{3}, {4}});
EINSUM_CASE(",ij->ij", {{}, {3, 4}});
EINSUM_CASE(",->", {{}, {}});
EINSUM_CASE("ij,jk", {{3, 1}, {1, 4}});  // implicit output; size-1 contracted index
EINSUM_CASE("ij,ij->j", {{5, 2}, {1, 2}});              // a letter index broadcast (size 1 against 5)
EINSUM_CASE("ij,jk->ik", {{2, 1}, {3, 4}});             // a contracted index broadcast
EINSUM_CASE("i,i", {{3}, {1}});
EINSUM_CASE("ii,i->i", {{1, 1}, {4}});                  // a size-1 diagonal broadcast
EINSUM_CASE("bij,bjk->bik", {{1, 3, 2}, {4, 2, 1}});    // batch and column indices broadcast
EINSUM_CASE("Ab,bC->AC", {{2, 3}, {3, 4}});
EINSUM_CASE("ab,bc,cd,de,ef->af", {{2, 3}, {3, 2}, {2, 3}, {3, 2}, {2, 3}});
EINSUM_CASE("ab,bc,ca->", {{2, 3}, {3, 4}, {4, 2}});

// The same Var as both operands: its two gradients add up.
LOUPE_GRADCHECK_CASE("einsum", "ij,ij-> (same Var twice)", in({{3, 4}}),
                     [](const Vs& v) { return einsum("ij,ij->", {v[0], v[0]}); });
// A transposed (non-contiguous) operand.
LOUPE_GRADCHECK_CASE("einsum", "ij,jk->ik of a transposed operand", in({{4, 3}, {4, 5}}),
                     [](const Vs& v) { return einsum("ij,jk->ik", {transpose(v[0], 0, 1), v[1]}); });

}  // namespace
