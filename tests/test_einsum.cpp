// einsum: forward against a naive f64 evaluation of the definition (a loop over every assignment of
// every index), on hand-picked specs and on randomly generated ones; determinism across thread
// counts; the contraction planner; and the error messages for malformed specs.
#include <algorithm>
#include <map>
#include <random>

#include "autograd/ops.h"
#include "tensor/kernels/einsum.h"
#include "tensor/kernels/einsum_explain.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using namespace loupe::testing;

namespace {

// ---------------------------------------------------------------- naive reference
// out[output] = sum over all index assignments of prod_k operand_k[its indices]. '...' dims become
// the pseudo-indices '0', '1', ... (right-aligned); a size-1 '...' dim reads element 0 (broadcast).
Tensor reference_einsum(std::string spec, const std::vector<Tensor>& ops) {
  spec.erase(std::remove(spec.begin(), spec.end(), ' '), spec.end());
  const size_t arrow = spec.find("->");
  const std::string lhs = spec.substr(0, arrow);
  std::vector<std::string> terms(1);
  for (char c : lhs) c == ',' ? terms.push_back("") : void(terms.back() += c);
  size_t ell = 0;  // number of '...' dims
  for (size_t k = 0; k < terms.size(); ++k)
    if (terms[k].find("...") != std::string::npos)
      ell = std::max(ell, size_t(ops[k].dim()) - (terms[k].size() - 3));
  auto expand = [&](const std::string& t, size_t rank) {
    const size_t at = t.find("...");
    if (at == std::string::npos) return t;
    std::string dots;
    for (size_t j = ell - rank; j < ell; ++j) dots += char('0' + j);
    return t.substr(0, at) + dots + t.substr(at + 3);
  };
  for (size_t k = 0; k < terms.size(); ++k) terms[k] = expand(terms[k], size_t(ops[k].dim()) - (terms[k].size() - 3));
  std::string out;
  if (arrow != std::string::npos) {
    out = expand(spec.substr(arrow + 2), ell);
  } else {
    for (size_t j = 0; j < ell; ++j) out += char('0' + j);
    std::map<char, int> count;
    for (auto& t : terms)
      for (char c : t)
        if (std::isalpha(static_cast<unsigned char>(c))) ++count[c];
    for (auto [c, n] : count)  // std::map iterates in ASCII order
      if (n == 1) out += c;
  }
  std::map<char, int64_t> size;
  for (size_t k = 0; k < terms.size(); ++k)
    for (size_t d = 0; d < terms[k].size(); ++d) size[terms[k][d]] = std::max(size[terms[k][d]], ops[k].size(int64_t(d)));
  std::string all;
  for (auto [c, n] : size) all += c;

  Shape out_shape;
  for (char c : out) out_shape.push_back(size[c]);
  std::vector<double> res(size_t(shape_numel(out_shape)), 0.0);
  std::vector<std::vector<double>> vals;
  for (auto& t : ops) vals.push_back(t.to_vector());
  std::map<char, int64_t> at;
  for (char c : all) at[c] = 0;
  bool empty = false;
  for (char c : all) empty = empty || size[c] == 0;
  while (!empty) {
    double prod = 1;
    for (size_t k = 0; k < ops.size(); ++k) {
      int64_t flat = 0;
      for (size_t d = 0; d < terms[k].size(); ++d) {
        const int64_t n = ops[k].size(int64_t(d));
        flat = flat * n + (n == 1 ? 0 : at[terms[k][d]]);
      }
      prod *= vals[k][size_t(flat)];
    }
    int64_t o = 0;
    for (char c : out) o = o * size[c] + at[c];
    res[size_t(o)] += prod;
    size_t i = all.size();  // odometer over all indices
    while (i > 0 && ++at[all[i - 1]] == size[all[i - 1]]) at[all[--i]] = 0;
    if (i == 0) break;
  }
  return Tensor::from_vector(res, out_shape, DType::F64);
}

::testing::AssertionResult matches_reference(const std::string& spec, const std::vector<Tensor>& ops,
                                             double rtol = 1e-10, double atol = 1e-12) {
  Tensor got = einsum(spec, ops);
  if (!got.is_contiguous()) return ::testing::AssertionFailure() << spec << ": result is not contiguous";
  for (auto& t : ops)
    if (got.numel() > 0 && got.shares_storage(t))
      return ::testing::AssertionFailure() << spec << ": result aliases an operand";
  auto r = all_close(got, reference_einsum(spec, ops), rtol, atol);
  if (!r) r << " for spec '" << spec << "'";
  return r;
}

// A non-contiguous tensor with the values of a fresh one: made transposed and transposed back.
Tensor transposed_copy(const Tensor& t) {
  if (t.dim() < 2) return t;
  Tensor tt = t.transpose(0, t.dim() - 1).contiguous();
  return tt.transpose(0, t.dim() - 1);
}
// Every other element of a twice-as-long tensor along dim 0.
Tensor strided_copy(const Tensor& t) {
  if (t.dim() < 1) return t;
  Shape big = t.shape();
  big[0] *= 2;
  Tensor b = Tensor::zeros(big, t.dtype());
  Tensor v = b.slice(0, 0, big[0], 2);
  v.copy_(t);
  return v;
}

}  // namespace

// ---------------------------------------------------------------- explicit cases
TEST(Einsum, MatmulForms) {
  Tensor a = rand64({17, 31}, 1), b = rand64({31, 65}, 2);
  EXPECT_TRUE(matches_reference("ij,jk->ik", {a, b}));
  EXPECT_TRUE(matches_reference("ij,jk", {a, b}));
  EXPECT_TRUE(matches_reference("ij,jk->ki", {a, b}));
  EXPECT_TRUE(matches_reference("ji,jk->ik", {a.transpose(0, 1).contiguous(), b}));
  EXPECT_TRUE(matches_reference("ij, jk -> ik", {a, b}));  // spaces are ignored
  EXPECT_TRUE(matches_reference("ij,j->i", {a, rand64({31}, 3)}));
  EXPECT_TRUE(matches_reference("i,ij->j", {rand64({17}, 4), a}));
  EXPECT_TRUE(matches_reference("i,i->", {rand64({65}, 5), rand64({65}, 6)}));
}

TEST(Einsum, BatchedAndAttention) {
  EXPECT_TRUE(matches_reference("bij,bjk->bik", {rand64({3, 7, 17}, 1), rand64({3, 17, 5}, 2)}));
  EXPECT_TRUE(matches_reference("bhqd,bhkd->bhqk", {rand64({2, 3, 7, 8}, 3), rand64({2, 3, 5, 8}, 4)}));
  EXPECT_TRUE(matches_reference("bhqk,bhkd->bhqd", {rand64({2, 3, 7, 5}, 5), rand64({2, 3, 5, 8}, 6)}));
  EXPECT_TRUE(matches_reference("bqhd,bkhd->bhqk", {rand64({2, 7, 3, 4}, 7), rand64({2, 5, 3, 4}, 8)}));
  EXPECT_TRUE(matches_reference("bij,bij->bij", {rand64({3, 4, 5}, 9), rand64({3, 4, 5}, 10)}));  // batch only
  EXPECT_TRUE(matches_reference("bij,bij->b", {rand64({3, 4, 5}, 11), rand64({3, 4, 5}, 12)}));
}

TEST(Einsum, ElitaForm) {
  EXPECT_TRUE(matches_reference("bi,bj,ijk->bk", {rand64({4, 5}, 1), rand64({4, 6}, 2), rand64({5, 6, 3}, 3)}));
  EXPECT_TRUE(matches_reference("bi,bj,ijk->bik", {rand64({4, 5}, 4), rand64({4, 6}, 5), rand64({5, 6, 3}, 6)}));
}

TEST(Einsum, TraceAndDiagonal) {
  Tensor m = rand64({7, 7}, 1);
  EXPECT_TRUE(matches_reference("ii->", {m}));
  EXPECT_TRUE(matches_reference("ii", {m}));
  EXPECT_TRUE(matches_reference("ii->i", {m}));
  EXPECT_TRUE(matches_reference("iij->j", {rand64({3, 3, 4}, 2)}));
  EXPECT_TRUE(matches_reference("iji->ij", {rand64({3, 4, 3}, 3)}));
  EXPECT_TRUE(matches_reference("iii->i", {rand64({3, 3, 3}, 4)}));
  EXPECT_TRUE(matches_reference("ii,ij->j", {m, rand64({7, 5}, 5)}));
  EXPECT_TRUE(matches_reference("ii->i", {transposed_copy(m)}));
  EXPECT_DOUBLE_EQ(einsum("ii->", {Tensor::from_vector({1, 2, 3, 4}, {2, 2}, DType::F64)}).item(), 5.0);
}

TEST(Einsum, OuterProductsAndSums) {
  Tensor x = rand64({5}, 1), y = rand64({7}, 2);
  EXPECT_TRUE(matches_reference("i,j->ij", {x, y}));
  EXPECT_TRUE(matches_reference("i,j", {x, y}));
  EXPECT_TRUE(matches_reference("i,j->ji", {x, y}));
  EXPECT_TRUE(matches_reference("ij,kl->ijkl", {rand64({2, 3}, 3), rand64({4, 5}, 4)}));
  EXPECT_TRUE(matches_reference("ij,kl->kjli", {rand64({2, 3}, 3), rand64({4, 5}, 4)}));
  Tensor big = rand64({65, 31}, 5);
  EXPECT_TRUE(matches_reference("ij->", {big}));
  EXPECT_TRUE(matches_reference("ij->j", {big}));
  EXPECT_TRUE(matches_reference("ij->i", {big}));
  EXPECT_TRUE(matches_reference("ij->ji", {big}));
  EXPECT_TRUE(matches_reference("ijk->ki", {rand64({3, 4, 5}, 6)}));
  EXPECT_TRUE(matches_reference("ij,jk->i", {rand64({3, 4}, 7), rand64({4, 5}, 8)}));  // k summed first
  // A long sum crosses the chunked-reduction path (more than one chunk of 16384).
  EXPECT_TRUE(matches_reference("i->", {rand64({40000}, 9)}, 1e-10, 1e-9));
}

TEST(Einsum, StridedAndTransposedInputs) {
  Tensor a = rand64({6, 7}, 1), b = rand64({7, 5}, 2);
  EXPECT_TRUE(matches_reference("ij,jk->ik", {transposed_copy(a), b}));
  EXPECT_TRUE(matches_reference("ij,jk->ik", {a, transposed_copy(b)}));
  EXPECT_TRUE(matches_reference("ij,jk->ik", {strided_copy(a), strided_copy(b)}));
  EXPECT_TRUE(matches_reference("bij,bjk->bik", {transposed_copy(rand64({3, 4, 5}, 3)), strided_copy(rand64({3, 5, 2}, 4))}));
  // A broadcast (stride 0) operand.
  EXPECT_TRUE(matches_reference("ij,jk->ik", {rand64({1, 7}, 5).expand({6, 7}), b}));
}

TEST(Einsum, Scalars) {
  Tensor s = Tensor::scalar(2.5, DType::F64), t = Tensor::scalar(-3, DType::F64);
  EXPECT_DOUBLE_EQ(einsum(",->", {s, t}).item(), -7.5);
  EXPECT_DOUBLE_EQ(einsum(",", {s, t}).item(), -7.5);
  EXPECT_DOUBLE_EQ(einsum("->", {s}).item(), 2.5);
  EXPECT_DOUBLE_EQ(einsum("", {s}).item(), 2.5);
  EXPECT_TRUE(matches_reference(",ij->ij", {s, rand64({3, 4}, 1)}));
  EXPECT_TRUE(matches_reference("ij,->ji", {rand64({3, 4}, 2), s}));
  EXPECT_TRUE(matches_reference("i,->", {rand64({5}, 3), s}));
  EXPECT_EQ(einsum("i,i->", {rand64({4}, 4), rand64({4}, 5)}).dim(), 0);
}

TEST(Einsum, Ellipsis) {
  EXPECT_TRUE(matches_reference("...ij,...jk->...ik", {rand64({2, 1, 3, 4}, 1), rand64({5, 4, 6}, 2)}));
  EXPECT_TRUE(matches_reference("...ij,...jk", {rand64({2, 3, 4}, 3), rand64({2, 4, 5}, 4)}));
  EXPECT_TRUE(matches_reference("i...->...", {rand64({3, 2, 4}, 5)}));
  EXPECT_TRUE(matches_reference("...ii->...i", {rand64({2, 3, 3}, 6)}));
  EXPECT_TRUE(matches_reference("...i,...i->...", {rand64({4, 1, 3}, 7), rand64({5, 3}, 8)}));
  EXPECT_TRUE(matches_reference("...i,i->i", {rand64({4, 2, 3}, 9), rand64({3}, 10)}));  // '...' summed
  EXPECT_TRUE(matches_reference("i...j,j...->...i", {rand64({2, 3, 4}, 11), rand64({4, 3}, 12)}));
  EXPECT_TRUE(matches_reference("...,...->...", {rand64({3, 1}, 13), rand64({1, 4}, 14)}));  // all broadcast
  EXPECT_TRUE(matches_reference("ij...->ji...", {rand64({2, 3}, 15)}));  // '...' of rank 0
  Tensor r = einsum("...ij,...jk->...ik", {rand64({2, 1, 3, 4}, 1), rand64({5, 4, 6}, 2)});
  EXPECT_EQ(r.shape(), (Shape{2, 5, 3, 6}));
}

TEST(Einsum, UppercaseAndImplicitOrder) {
  EXPECT_TRUE(matches_reference("Ab,bC->AC", {rand64({3, 4}, 1), rand64({4, 5}, 2)}));
  EXPECT_TRUE(matches_reference("aA->Aa", {rand64({3, 4}, 3)}));
  // Implicit output: ASCII order, uppercase first (as NumPy): "ba,Bc" -> "Bac".
  Tensor r = einsum("ba,Bc", {rand64({2, 3}, 4), rand64({4, 5}, 5)});
  EXPECT_EQ(r.shape(), (Shape{4, 3, 2, 5}));
  EXPECT_TRUE(matches_reference("ba,Bc", {rand64({2, 3}, 4), rand64({4, 5}, 5)}));
  EXPECT_EQ(einsum("ji", {rand64({2, 3}, 6)}).shape(), (Shape{3, 2}));
}

TEST(Einsum, ManyOperands) {  // more than 4 operands: greedy order
  EXPECT_TRUE(matches_reference("ab,bc,cd,de,ef->af", {rand64({2, 3}, 1), rand64({3, 4}, 2), rand64({4, 2}, 3),
                                                      rand64({2, 5}, 4), rand64({5, 3}, 5)}));
  EXPECT_TRUE(matches_reference("ab,b,bc,c,ca,a", {rand64({3, 4}, 6), rand64({4}, 7), rand64({4, 2}, 8),
                                                   rand64({2}, 9), rand64({2, 3}, 10), rand64({3}, 11)}));
}

TEST(Einsum, EmptyDims) {
  Tensor r = einsum("ij,jk->ik", {rand64({3, 0}, 1), rand64({0, 4}, 2)});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_TRUE(all_close(r, Tensor::zeros({3, 4}, DType::F64)));
  EXPECT_EQ(einsum("ij,jk->ik", {rand64({0, 2}, 3), rand64({2, 4}, 4)}).shape(), (Shape{0, 4}));
}

TEST(Einsum, FreshResultAndF32) {
  Tensor a = rand64({3, 4}, 1);
  Tensor r = einsum("ij->ij", {a});
  EXPECT_FALSE(r.shares_storage(a));
  EXPECT_TRUE(bitwise_equal(r, a));
  Tensor a32 = a.to(DType::F32), b32 = rand64({4, 5}, 2).to(DType::F32);
  Tensor r32 = einsum("ij,jk->ik", {a32, b32});
  EXPECT_EQ(r32.dtype(), DType::F32);
  EXPECT_TRUE(all_close(r32, reference_einsum("ij,jk->ik", {a32, b32}), 1e-5, 1e-6));
}

// ---------------------------------------------------------------- random specs
namespace {
struct RandomCase {
  std::string spec;
  std::vector<Tensor> ops;
};

// Random specs over a few letters and '...', 1-4 operands; with `broadcast_letters`, each operand
// reads some of its letters at size 1 (the same size for every repeat of it in that operand).
RandomCase random_case(std::mt19937_64& rng, bool broadcast_letters = false) {
  auto pick = [&](int n) { return int(rng() % uint64_t(n)); };
  for (;;) {
    const std::string pool_all = "abcdijkAZ";
    std::string pool;
    const int nletters = 1 + pick(5);
    std::string shuffled = pool_all;
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    pool = shuffled.substr(0, size_t(nletters));
    std::map<char, int64_t> size;
    for (char c : pool) size[c] = 1 + pick(5);
    const int ell = pick(3) == 0 ? 1 + pick(2) : 0;
    Shape ell_size;
    for (int j = 0; j < ell; ++j) ell_size.push_back(1 + pick(3));

    const int nops = 1 + pick(4);
    std::vector<std::string> terms;
    std::vector<Shape> shapes;
    std::string used;
    bool any_ell = false;
    for (int k = 0; k < nops; ++k) {
      std::string t;
      Shape s;
      const int rank = pick(4);
      std::map<char, bool> one;  // letters this operand reads at size 1
      for (char c : pool) one[c] = broadcast_letters && pick(3) == 0;
      for (int d = 0; d < rank; ++d) {
        const char c = pool[size_t(pick(int(pool.size())))];
        t += c;
        used += c;
        s.push_back(one[c] ? 1 : size[c]);
      }
      if (ell > 0 && pick(10) < 7) {
        any_ell = true;
        const int at = pick(rank + 1), r = pick(ell + 1);
        Shape es;
        for (int j = ell - r; j < ell; ++j) es.push_back(pick(4) == 0 ? 1 : ell_size[size_t(j)]);
        t.insert(size_t(at), "...");
        s.insert(s.begin() + at, es.begin(), es.end());
      }
      terms.push_back(t);
      shapes.push_back(s);
    }
    std::string spec;
    for (size_t k = 0; k < terms.size(); ++k) spec += (k ? "," : "") + terms[k];
    if (pick(10) < 6) {  // explicit output: some distinct used letters, maybe '...'
      std::string letters = used;
      std::sort(letters.begin(), letters.end());
      letters.erase(std::unique(letters.begin(), letters.end()), letters.end());
      std::shuffle(letters.begin(), letters.end(), rng);
      std::string out = letters.substr(0, size_t(pick(int(letters.size()) + 1)));
      if (any_ell && pick(10) < 8) out.insert(size_t(pick(int(out.size()) + 1)), "...");
      spec += "->" + out;
    }
    double work = 1;
    for (char c : pool) work *= double(size[c]);
    for (auto s : ell_size) work *= double(s);
    if (work > 3000) continue;
    RandomCase rc{spec, {}};
    for (size_t k = 0; k < shapes.size(); ++k) {
      Tensor t = rand64(shapes[k], rng());
      const int layout = pick(3);
      rc.ops.push_back(layout == 0 ? t : layout == 1 ? transposed_copy(t) : strided_copy(t));
    }
    return rc;
  }
}
}  // namespace

TEST(Einsum, RandomSpecsMatchNaiveDefinition) {
  std::mt19937_64 rng(20240611);
  for (int n = 0; n < 400; ++n) {
    RandomCase c = random_case(rng);
    SCOPED_TRACE("case " + std::to_string(n) + ": " + c.spec);
    ASSERT_TRUE(matches_reference(c.spec, c.ops));
    if (n % 8 == 0) {  // and in f32
      std::vector<Tensor> f32;
      for (auto& t : c.ops) f32.push_back(t.to(DType::F32));
      ASSERT_TRUE(all_close(einsum(c.spec, f32), reference_einsum(c.spec, f32), 1e-4, 1e-5));
    }
  }
}

// NumPy's broadcasting of letter indices: a size-1 dim against the index's size elsewhere.
TEST(Einsum, RandomSpecsWithSize1LetterDimsMatchNaiveDefinition) {
  std::mt19937_64 rng(20261202);
  int broadcast = 0;
  for (int n = 0; n < 400; ++n) {
    RandomCase c = random_case(rng, true);
    SCOPED_TRACE("case " + std::to_string(n) + ": " + c.spec);
    ASSERT_TRUE(matches_reference(c.spec, c.ops));
    Shape sizes;
    for (auto& t : c.ops) sizes.insert(sizes.end(), t.shape().begin(), t.shape().end());
    broadcast += std::count(sizes.begin(), sizes.end(), 1) > 0;
    if (n % 4 == 0) {  // and the gradient of every operand, against finite differences
      const std::string spec = c.spec;
      const auto r = gradcheck([&](const std::vector<Var>& v) { return einsum(spec, v); }, c.ops);
      ASSERT_TRUE(r.ok) << r.report;
    }
  }
  EXPECT_GT(broadcast, 200);  // most cases broadcast something
}

TEST(Einsum, NumpyBroadcastExamples) {
  // ij,ij->j with [10,2] and [1,2]: out[j] = sum_i a[i,j] b[0,j]
  const Tensor a = rand64({10, 2}, 1), b = rand64({1, 2}, 2);
  const Tensor r = einsum("ij,ij->j", {a, b});
  EXPECT_EQ(r.shape(), (Shape{2}));
  for (int64_t j = 0; j < 2; ++j) {
    double want = 0;
    for (int64_t i = 0; i < 10; ++i) want += a.at({i, j}) * b.at({0, j});
    EXPECT_NEAR(r.at({j}), want, 1e-12);
  }
  EXPECT_TRUE(matches_reference("ij,ij->j", {a, b}));
  // ...ij,...jk->...ik with [1,5] and [1,5]: j broadcasts (1 against 5 ... and 5 against 1)
  const Tensor p = rand64({1, 5}, 3), q = rand64({1, 5}, 4);
  EXPECT_EQ(einsum("...ij,...jk->...ik", {p, q}).shape(), (Shape{1, 5}));
  EXPECT_TRUE(matches_reference("...ij,...jk->...ik", {p, q}));
  // i,i with [2] and [1]: b[0] (a[0] + a[1])
  const Tensor u = rand64({2}, 5), v = rand64({1}, 6);
  EXPECT_NEAR(einsum("i,i", {u, v}).item(), v.at({0}) * (u.at({0}) + u.at({1})), 1e-12);
  // A contracted index broadcast on one side, an output index broadcast on the other.
  EXPECT_TRUE(matches_reference("ij,jk->ik", {rand64({2, 1}, 7), rand64({3, 4}, 8)}));
  EXPECT_TRUE(matches_reference("ij,jk", {rand64({2, 3}, 9), rand64({1, 4}, 10)}));
  // A diagonal of size 1 broadcast against the index elsewhere: ii,i->i with [1,1] and [4].
  EXPECT_TRUE(matches_reference("ii,i->i", {rand64({1, 1}, 11), rand64({4}, 12)}));
  EXPECT_TRUE(matches_reference("iij,j->ij", {rand64({3, 3, 1}, 13), rand64({5}, 14)}));
  // An output index that only size-1 dims carry stays 1.
  EXPECT_EQ(einsum("ij,jk->ik", {rand64({1, 3}, 15), rand64({3, 1}, 16)}).shape(), (Shape{1, 1}));
}

TEST(Einsum, BroadcastGradientIsSummedBackKeepingTheDim) {
  const Tensor a = rand64({10, 2}, 1), b = rand64({1, 2}, 2);
  Var va(a, true), vb(b, true);
  sum(einsum("ij,ij->j", {va, vb})).backward();
  ASSERT_EQ(vb.grad().shape(), (Shape{1, 2}));
  for (int64_t j = 0; j < 2; ++j) {
    double want = 0;
    for (int64_t i = 0; i < 10; ++i) want += a.at({i, j});
    EXPECT_NEAR(vb.grad().at({0, j}), want, 1e-12);  // db[0,j] = sum_i a[i,j]
    for (int64_t i = 0; i < 10; ++i) EXPECT_NEAR(va.grad().at({i, j}), b.at({0, j}), 1e-12);
  }
  // The same as spelling the broadcast out with expand.
  Var vb2(b, true);
  sum(einsum("ij,ij->j", {Var(a), expand(vb2, {10, 2})})).backward();
  EXPECT_TRUE(all_close(vb.grad(), vb2.grad(), 1e-12, 1e-14));
}

// ---------------------------------------------------------------- determinism
TEST(Einsum, OneAndTwoThreadsBitwiseEqual) {
  const std::vector<std::pair<std::string, std::vector<Tensor>>> cases = {
      {"bij,bjk->bik", {rand64({4, 33, 40}, 1), rand64({4, 40, 29}, 2)}},
      {"bhqd,bhkd->bhqk", {rand64({2, 2, 31, 16}, 3), rand64({2, 2, 17, 16}, 4)}},
      {"bi,bj,ijk->bk", {rand64({8, 7}, 5), rand64({8, 9}, 6), rand64({7, 9, 5}, 7)}},
      {"ij->", {rand64({300, 700}, 8)}},
      {"ij->j", {rand64({300, 70}, 9)}},
      {"i->", {rand64({100000}, 10)}},
      {"bi,bi->b", {rand64({5000, 7}, 11), rand64({5000, 7}, 12)}},
  };
  for (auto& [spec, ops] : cases) {
    for (bool f32 : {false, true}) {
      std::vector<Tensor> in;
      for (auto& t : ops) in.push_back(f32 ? t.to(DType::F32) : t);
      set_num_threads(1);
      Tensor one = einsum(spec, in);
      set_num_threads(2);
      Tensor two = einsum(spec, in);
      EXPECT_TRUE(bitwise_equal(one, two)) << spec << (f32 ? " f32" : " f64");
    }
  }
}

// ---------------------------------------------------------------- planner and parser internals
TEST(Einsum, ParseLabels) {
  using namespace einsum_detail;
  Problem p = parse("...ij,j->...i", {{2, 3, 4}, {4}});
  ASSERT_EQ(p.inputs.size(), 2u);
  EXPECT_EQ(p.inputs[0], (Labels{kEllipsis, 26 + 8, 26 + 9}));
  EXPECT_EQ(p.inputs[1], (Labels{26 + 9}));
  EXPECT_EQ(p.output, (Labels{kEllipsis, 26 + 8}));
  EXPECT_EQ(p.size[size_t(kEllipsis)], 2);
  EXPECT_EQ(label_name(0), "A");
  EXPECT_EQ(label_name(26), "a");
  EXPECT_EQ(label_name(kEllipsis + 1), "...[1]");
}

TEST(Einsum, PlannerPicksTheCheapOrder) {
  using namespace einsum_detail;
  // a: 100, b: 100, c: 2. ab,bc,c->a: contracting (bc, c) first (200 + 10000) beats (ab, bc) first (20000 + ...).
  std::vector<int64_t> size(kEllipsis, 1);
  size[0] = 100;
  size[1] = 100;
  size[2] = 2;
  auto order = contraction_order({{0, 1}, {1, 2}, {2}}, {0}, size);
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(order[0], (std::pair<int, int>{1, 2}));
  // Greedy (5 operands): first the pair whose result removes the most elements, AB·B -> A.
  size[3] = 3;
  auto greedy = contraction_order({{2}, {2, 3}, {0, 1}, {3}, {1}}, {0}, size);
  ASSERT_EQ(greedy.size(), 4u);
  EXPECT_EQ(greedy[0], (std::pair<int, int>{2, 4}));
}

// ---------------------------------------------------------------- errors
namespace {
::testing::AssertionResult throws_with(const std::string& spec, const std::vector<Tensor>& ops,
                                       const std::vector<std::string>& pieces) {
  try {
    einsum(spec, ops);
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (auto& p : pieces)
      if (msg.find(p) == std::string::npos)
        return ::testing::AssertionFailure() << "message '" << msg << "' lacks '" << p << "'";
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "einsum('" << spec << "') did not throw";
}
}  // namespace

TEST(Einsum, MalformedSpecsThrowNamingTheProblem) {
  Tensor m = rand64({2, 3}, 1), n = rand64({3, 4}, 2), sq = rand64({3, 3}, 3);
  EXPECT_TRUE(throws_with("ij,jk->ik", {m}, {"ij,jk->ik", "2 operand(s)", "1 operand(s) were given"}));
  EXPECT_TRUE(throws_with("ij", {m, n}, {"1 operand(s)", "2 operand(s) were given"}));
  EXPECT_TRUE(throws_with("i#", {m}, {"invalid character '#'", "'i#'"}));
  EXPECT_TRUE(throws_with("i1", {m}, {"invalid character '1'"}));
  EXPECT_TRUE(throws_with("i..j", {m}, {"'.'", "not part of an ellipsis"}));
  EXPECT_TRUE(throws_with("...i...", {m}, {"more than one '...'"}));
  EXPECT_TRUE(throws_with("ij->i...j...", {m}, {"more than one '...'", "output"}));
  EXPECT_TRUE(throws_with("ij->k", {m}, {"output index 'k' does not appear in any input"}));
  EXPECT_TRUE(throws_with("ij->ii", {m}, {"output index 'i' appears more than once"}));
  EXPECT_TRUE(throws_with("ij,jk->ik", {m, m}, {"index 'j'", "size 3", "size 2", "[2, 3]"}));
  EXPECT_TRUE(throws_with("ii", {m}, {"index 'i' repeats in operand 0", "sizes 2 and 3", "diagonal"}));
  EXPECT_TRUE(throws_with("ii->i", {rand64({1, 3}, 8)}, {"index 'i' repeats", "sizes 1 and 3"}));  // as NumPy
  EXPECT_TRUE(throws_with("ij,ij->j", {rand64({3, 2}, 9), rand64({4, 2}, 10)},
                          {"ij,ij->j", "index 'i'", "size 3", "size 4", "[3, 2]", "[4, 2]", "agree or be 1"}));
  EXPECT_TRUE(throws_with("ij,ij,ij", {rand64({1, 2}, 9), rand64({3, 2}, 10), rand64({4, 2}, 11)},
                          {"index 'i' has size 3 in operand 1", "size 4 in operand 2"}));
  EXPECT_TRUE(throws_with("ijk", {m}, {"operand 0", "[2, 3]", "rank 2", "'ijk'", "3 dims"}));
  EXPECT_TRUE(throws_with("i", {m}, {"rank 2", "1 dims"}));
  EXPECT_TRUE(throws_with("...ijk", {m}, {"at least 3"}));
  EXPECT_TRUE(throws_with("...i,...i", {rand64({2, 3}, 4), rand64({4, 3}, 5)},
                          {"'...' dims do not broadcast", "[2, 3]", "[4, 3]"}));
  EXPECT_TRUE(throws_with("ij->i->j", {m}, {"more than one '->'"}));
  EXPECT_TRUE(throws_with("ij-i", {m}, {"'-'"}));
  EXPECT_TRUE(throws_with("ij>i", {m}, {"'>'"}));
  EXPECT_TRUE(throws_with("i,j->i,j", {rand64({2}, 6), rand64({2}, 7)}, {"',' in the output"}));
  EXPECT_TRUE(throws_with("ij,jk", {m, n.to(DType::F32)}, {"f32 or all f64", "f64[2, 3]", "f32[3, 4]"}));
  EXPECT_TRUE(throws_with("i", {Tensor::from_ints({1, 2}, {2})}, {"i64"}));
  EXPECT_TRUE(throws_with("", {}, {"at least one operand"}));
  EXPECT_TRUE(throws_with("ii->i", {sq.slice(0, 0, 2)}, {"index 'i'"}));
}

// ---------------------------------------------------------------- autograd wrapper
TEST(Einsum, VarForwardMatchesTensorAndSkipsConstants) {
  Var a(rand64({3, 4}, 1), true), b(rand64({4, 5}, 2), false);
  Var y = einsum("ij,jk->ik", {a, b});
  EXPECT_TRUE(bitwise_equal(y.value(), einsum("ij,jk->ik", {a.value(), b.value()})));
  sum(y).backward();
  EXPECT_TRUE(a.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  // d/da sum(a b) = ones b^T  (row sums of b, broadcast over rows)
  EXPECT_TRUE(all_close(a.grad(), einsum("ij,jk->ik", {Tensor::ones({3, 5}, DType::F64), b.value().transpose(0, 1)})));
}

// ---------------------------------------------------------------- loupe einsum --explain
TEST(EinsumExplain, MatmulIsOneGemmWithItsSizes) {
  using namespace einsum_detail;
  const Explanation e = explain("ij,jk->ik", {{2, 3}, {3, 4}}, 4);
  ASSERT_EQ(e.steps.size(), 1u);
  const auto& s = e.steps[0];
  EXPECT_EQ(s.kind, "gemm");
  EXPECT_EQ(s.a, 0);
  EXPECT_EQ(s.b, 1);
  EXPECT_EQ(s.result, 2);
  EXPECT_EQ((std::vector<int64_t>{s.batch, s.m, s.n, s.k}), (std::vector<int64_t>{1, 2, 4, 3}));
  EXPECT_EQ(s.result_shape, (Shape{2, 4}));
  EXPECT_EQ(subscripts(s.result_labels), "ik");
  EXPECT_EQ(e.flops, 2.0 * 2 * 4 * 3);
  EXPECT_EQ(e.bytes, 4.0 * (2 * 3 + 3 * 4 + 2 * 4));
  EXPECT_EQ(e.naive_flops, 2.0 * 2 * 3 * 4);  // 24 assignments, one multiply and one add each
  EXPECT_EQ(e.output_shape, (Shape{2, 4}));
}

TEST(EinsumExplain, PrivateSumsBatchedGemmsAndBroadcastDims) {
  using namespace einsum_detail;
  // i only in #0 (and size 1 in #1): summed first, then a batched dot over j.
  Explanation e = explain("ij,ij->j", {{10, 2}, {1, 2}}, 8);
  ASSERT_EQ(e.steps.size(), 2u);
  EXPECT_EQ(e.steps[0].kind, "sum");
  EXPECT_EQ(e.steps[0].k, 10);
  EXPECT_EQ(e.steps[1].kind, "batched dot");
  EXPECT_EQ(e.steps[1].batch, 2);
  // Attention scores: batch over b and h, m = q, n = k, k = d.
  e = explain("bhqd,bhkd->bhqk", {{2, 3, 5, 8}, {2, 3, 7, 8}}, 4);
  ASSERT_EQ(e.steps.size(), 1u);
  EXPECT_EQ((std::vector<int64_t>{e.steps[0].batch, e.steps[0].m, e.steps[0].n, e.steps[0].k}),
            (std::vector<int64_t>{6, 5, 7, 8}));
  EXPECT_EQ(e.steps[0].kind, "batched gemm");
  // A '...' dim shows as a digit.
  e = explain("...i,i->...", {{3, 4}, {4}}, 4);
  EXPECT_EQ(subscripts(e.problem.inputs[0]), "0i");
  EXPECT_EQ(subscripts(e.steps[0].result_labels), "0");
  // One operand: a single sum (or a permuted copy).
  e = explain("ijk->ki", {{2, 3, 4}}, 4);
  ASSERT_EQ(e.steps.size(), 1u);
  EXPECT_EQ(e.steps[0].kind, "sum");
  EXPECT_EQ(e.steps[0].k, 3);
  EXPECT_EQ(explain("ij->ji", {{2, 3}}, 4).steps[0].kind, "copy");
  // Bad specs throw as einsum itself does.
  EXPECT_THROW(explain("ij,jk->ik", {{2, 3}, {4, 5}}, 4), Error);
}

// Up to 4 operands the planner tries every order, so it matches the best tree found by the dynamic
// programme over subsets; beyond that it is greedy and can lose, and the explanation says by how much.
TEST(EinsumExplain, ExhaustivePlannerMatchesTheBestTreeAndGreedyCanLose) {
  using namespace einsum_detail;
  std::mt19937_64 rng(7);
  int compared = 0;
  for (int n = 0; n < 300; ++n) {
    RandomCase c = random_case(rng, true);
    std::vector<Shape> shapes;
    for (auto& t : c.ops) shapes.push_back(t.shape());
    const Explanation e = explain(c.spec, shapes, 8);
    if (shapes.size() < 3) continue;
    ASSERT_TRUE(e.best_known);
    EXPECT_EQ(e.planner, "exhaustive");
    EXPECT_NEAR(e.best_flops, e.flops, 1e-9 * e.flops) << c.spec << ": " << e.tree << " vs " << e.best_tree;
    ++compared;
  }
  EXPECT_GT(compared, 50);
  // Seven operands (found by a random search): greedy's order costs 3.7x the best one.
  const std::vector<Shape> shapes = {{2, 8, 16}, {2, 5, 3}, {5, 2}, {2, 5, 3}, {16, 3, 2}, {5, 8, 2}, {8}};
  const Explanation e = explain("bcf,gde,ab,gde,feg,acb,c->e", shapes, 4);
  EXPECT_EQ(e.planner, "greedy");
  ASSERT_TRUE(e.best_known);
  EXPECT_LT(e.best_flops * 3, e.flops);
  // (and einsum of it matches the naive definition)
  std::vector<Tensor> ops;
  for (size_t k = 0; k < shapes.size(); ++k) ops.push_back(rand64(shapes[k], 40 + k));
  EXPECT_TRUE(matches_reference("bcf,gde,ab,gde,feg,acb,c->e", ops));
  // Beyond kMaxBestOperands nothing is searched.
  std::vector<Shape> many(kMaxBestOperands + 1, Shape{2, 2});
  std::string spec;
  for (size_t k = 0; k < many.size(); ++k) spec += std::string(k ? "," : "") + "ij";
  EXPECT_FALSE(explain(spec + "->ij", many, 4).best_known);
}
