// Joining and indexing kernels (tensor/kernels/index.cpp) against naive loops
// over multi-indices: awkward sizes, strided inputs, repeated indices,
// thread-count determinism, and errors naming the bad index.
#include "autograd/ops.h"
#include "tensor/kernels/index.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;

namespace {

// Calls f(idx) for every multi-index of shape, row-major.
template <typename F>
void for_all(const Shape& shape, F f) {
  if (shape_numel(shape) == 0) return;
  std::vector<int64_t> idx(shape.size(), 0);
  while (true) {
    f(idx);
    int64_t d = int64_t(shape.size()) - 1;
    for (; d >= 0; --d) {
      if (++idx[size_t(d)] < shape[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
    if (d < 0) return;
  }
}

// Random i64 tensor with values in [0, hi).
Tensor rand_ids(const Shape& s, int64_t hi, uint64_t seed) {
  const auto u = Tensor::uniform(s, 0, double(hi), seed, DType::F64).to_vector();
  std::vector<int64_t> v;
  for (double x : u) v.push_back(std::min<int64_t>(hi - 1, int64_t(x)));
  return Tensor::from_ints(v, s);
}

template <typename F>
void expect_error(F f, const std::vector<std::string>& pieces) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    for (auto& p : pieces) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what() << " lacks " << p;
  }
}

}  // namespace

TEST(Index, ConcatMatchesReference) {
  uint64_t seed = 1;
  for (int64_t d : {0, 1, 2, -1}) {
    const int64_t dd = d < 0 ? d + 3 : d;
    std::vector<Tensor> xs;
    for (int64_t n : {1, 3, 7, 0, 17}) {
      Shape s = {3, 5, 2};
      s[size_t(dd)] = n;
      xs.push_back(Tensor::uniform(s, -1, 1, seed++, DType::F32));
    }
    xs[1] = Tensor::uniform({xs[1].shape()[2], xs[1].shape()[1], xs[1].shape()[0]}, -1, 1, seed++, DType::F32)
                .permute({2, 1, 0});  // a strided piece
    const Tensor out = concat(xs, d);
    Shape expect = {3, 5, 2};
    expect[size_t(dd)] = 1 + 3 + 7 + 0 + 17;
    ASSERT_EQ(out.shape(), expect);
    for_all(out.shape(), [&](const std::vector<int64_t>& idx) {
      std::vector<int64_t> j = idx;
      size_t k = 0;
      while (j[size_t(dd)] >= xs[k].shape()[size_t(dd)]) j[size_t(dd)] -= xs[k++].shape()[size_t(dd)];
      ASSERT_EQ(out.at(idx), xs[k].at(j));
    });
  }
  // i64 tensors join too (token ids).
  EXPECT_EQ(concat({Tensor::from_ints({1, 2}, {2}), Tensor::from_ints({3}, {1})}, 0).to_vector(),
            (std::vector<double>{1, 2, 3}));
}

TEST(Index, StackAndSplit) {
  const Tensor a = Tensor::uniform({3, 4}, -1, 1, 1, DType::F64);
  const Tensor b = Tensor::uniform({4, 3}, -1, 1, 2, DType::F64).transpose(0, 1);
  for (int64_t d : {0, 1, 2, -1}) {
    const Tensor s = stack({a, b}, d);
    const int64_t dd = d < 0 ? d + 3 : d;
    Shape expect = {3, 4};
    expect.insert(expect.begin() + dd, 2);
    ASSERT_EQ(s.shape(), expect);
    EXPECT_TRUE(all_close(s.select(dd, 0), a, 0, 0));
    EXPECT_TRUE(all_close(s.select(dd, 1), b, 0, 0));
  }
  const Tensor x = Tensor::uniform({5, 17}, -1, 1, 3, DType::F32);
  const auto parts = split(x, {3, 0, 14}, 1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shape(), (Shape{5, 3}));
  EXPECT_EQ(parts[1].shape(), (Shape{5, 0}));
  EXPECT_TRUE(parts[2].shares_storage(x));  // views, no copy
  EXPECT_EQ(parts[2].at({4, 13}), x.at({4, 16}));
  EXPECT_TRUE(all_close(concat(parts, 1), x, 0, 0));
}

TEST(Index, GatherMatchesReference) {
  uint64_t seed = 10;
  const Tensor base = Tensor::uniform({7, 6, 17}, -1, 1, seed++, DType::F32);
  for (const Tensor& x : {base, base.permute({2, 1, 0})}) {
    for (int64_t d = 0; d < 3; ++d) {
      Shape is = x.shape();
      is[size_t(d)] = 5;  // along dim: any length; other dims: no larger than x
      is[size_t((d + 1) % 3)] -= 1;
      const Tensor idx = rand_ids(is, x.shape()[size_t(d)], seed++);
      const Tensor out = gather(x, d, idx);
      ASSERT_EQ(out.shape(), is);
      for_all(is, [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j = i;
        j[size_t(d)] = int64_t(idx.at(i));
        ASSERT_EQ(out.at(i), x.at(j));
      });
    }
  }
}

TEST(Index, ScatterAddMatchesReferenceWithRepeats) {
  uint64_t seed = 20;
  for (int64_t d = 0; d < 2; ++d) {
    const Tensor x = Tensor::uniform({5, 9}, -1, 1, seed++, DType::F64);
    const Tensor src = Tensor::uniform({13, 11}, -1, 1, seed++, DType::F64).transpose(0, 1);  // [11, 13], strided
    Shape is = {4, 6};
    is[size_t(d)] = 10;  // more entries than x has along d: repeats are certain
    const Tensor idx = rand_ids(is, x.shape()[size_t(d)], seed++);
    const Tensor x_before = x.clone();
    const Tensor out = scatter_add(x, d, idx, src);
    Tensor ref = x.clone();
    for_all(is, [&](const std::vector<int64_t>& i) {
      std::vector<int64_t> j = i;
      j[size_t(d)] = int64_t(idx.at(i));
      ref.set(j, ref.at(j) + src.at(i));
    });
    EXPECT_TRUE(all_close(out, ref, 1e-14, 1e-14));
    EXPECT_TRUE(bitwise_equal(x, x_before));  // x itself untouched
  }
}

TEST(Index, IndexSelectAndBackward) {
  uint64_t seed = 30;
  const Tensor base = Tensor::uniform({6, 7, 3}, -1, 1, seed++, DType::F32);
  for (const Tensor& x : {base, base.transpose(0, 2)}) {
    for (int64_t d = 0; d < 3; ++d) {
      const Tensor idx = rand_ids({9}, x.shape()[size_t(d)], seed++);  // 9 picks: repeats
      const Tensor out = index_select(x, d, idx);
      for_all(out.shape(), [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j = i;
        j[size_t(d)] = int64_t(idx.at({i[size_t(d)]}));
        ASSERT_EQ(out.at(i), x.at(j));
      });
      // Backward: index-add the gradient slices back.
      const Tensor g = Tensor::uniform(out.shape(), -1, 1, seed++, DType::F64);
      Tensor ref = Tensor::zeros(x.shape(), DType::F64);
      for_all(g.shape(), [&](const std::vector<int64_t>& i) {
        std::vector<int64_t> j = i;
        j[size_t(d)] = int64_t(idx.at({i[size_t(d)]}));
        ref.set(j, ref.at(j) + g.at(i));
      });
      EXPECT_TRUE(all_close(index_select_backward(g, x.shape(), d, idx), ref, 1e-14, 1e-14));
    }
  }
}

TEST(Index, EmbeddingAndBackward) {
  const Tensor w = Tensor::uniform({65, 17}, -1, 1, 40, DType::F32);
  const Tensor ids = rand_ids({3, 31}, 65, 41);
  const Tensor out = embedding(w, ids);
  ASSERT_EQ(out.shape(), (Shape{3, 31, 17}));
  for_all(out.shape(), [&](const std::vector<int64_t>& i) {
    ASSERT_EQ(out.at(i), w.at({int64_t(ids.at({i[0], i[1]})), i[2]}));
  });
  // Strided weight (a transposed [D, V] table).
  const Tensor wt = Tensor::uniform({17, 65}, -1, 1, 42, DType::F64).transpose(0, 1);
  EXPECT_TRUE(all_close(embedding(wt, ids), index_select(wt, 0, ids.reshape({93})).view({3, 31, 17}), 0, 0));
  // Backward: rows scatter-added into a zero [V, D].
  const Tensor g = Tensor::uniform({3, 31, 17}, -1, 1, 43, DType::F64);
  Tensor ref = Tensor::zeros({65, 17}, DType::F64);
  for_all(g.shape(), [&](const std::vector<int64_t>& i) {
    const int64_t v = int64_t(ids.at({i[0], i[1]}));
    ref.set({v, i[2]}, ref.at({v, i[2]}) + g.at(i));
  });
  EXPECT_TRUE(all_close(embedding_backward(g, ids, 65), ref, 1e-14, 1e-14));
  EXPECT_TRUE(all_close(embedding_backward(g.permute({1, 0, 2}), ids.transpose(0, 1), 65), ref, 1e-14, 1e-14));
}

TEST(Index, OneAndTwoThreadsBitwiseEqual) {
  const Tensor w = Tensor::uniform({300, 64}, -1, 1, 50, DType::F32);
  const Tensor ids = rand_ids({32, 64}, 300, 51);
  const Tensor g = Tensor::uniform({32, 64, 64}, -1, 1, 52, DType::F32);
  const Tensor x = Tensor::uniform({200, 300}, -1, 1, 53, DType::F32);
  const Tensor gidx = rand_ids({200, 300}, 300, 54);
  const Tensor sidx = rand_ids({200, 300}, 200, 55);
  const Tensor isel = rand_ids({500}, 200, 56);
  const Tensor gsel = Tensor::uniform({500, 300}, -1, 1, 57, DType::F32);
  Tensor r1[8], r2[8];
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor* r = threads == 1 ? r1 : r2;
    r[0] = embedding(w, ids);
    r[1] = embedding_backward(g, ids, 300);
    r[2] = gather(x, 1, gidx);
    r[3] = scatter_add(x, 0, sidx, x);
    r[4] = index_select(x, 0, isel);
    r[5] = index_select_backward(gsel, x.shape(), 0, isel);
    r[6] = concat({x, x.transpose(0, 1).contiguous().transpose(0, 1)}, 1);
    r[7] = stack({x, x}, 0);
  }
  set_num_threads(2);
  for (int k = 0; k < 8; ++k) EXPECT_TRUE(bitwise_equal(r1[k], r2[k])) << "result " << k;
}

TEST(Index, Errors) {
  const Tensor x = Tensor::zeros({4, 5});
  expect_error([&] { embedding(Tensor::zeros({40, 8}), Tensor::from_ints({3, 50, 1}, {3})); },
               {"embedding", "id 50", "position 1", "vocabulary of 40"});
  expect_error([&] { embedding(Tensor::zeros({40, 8}), Tensor::from_ints({-1}, {1})); }, {"embedding", "id -1"});
  expect_error([&] { embedding(Tensor::zeros({40}), Tensor::from_ints({1}, {1})); }, {"embedding", "[40]"});
  expect_error([&] { embedding(Tensor::zeros({40, 8}), Tensor::zeros({2})); }, {"embedding", "i64"});
  expect_error([&] { gather(x, 1, Tensor::from_ints({0, 5}, {1, 2})); }, {"gather", "index 5", "size 5"});
  expect_error([&] { gather(x, 1, Tensor::from_ints({0, 1}, {2})); }, {"gather", "rank"});
  expect_error([&] { gather(x, 0, Tensor::from_ints(std::vector<int64_t>(6, 0), {1, 6})); }, {"gather", "larger"});
  expect_error([&] { index_select(x, 0, Tensor::from_ints({4}, {1})); }, {"index_select", "index 4", "size 4"});
  expect_error([&] { index_select(x, 2, Tensor::from_ints({0}, {1})); }, {"index_select", "dim 2"});
  expect_error([&] { scatter_add(x, 0, Tensor::from_ints({9}, {1, 1}), Tensor::zeros({1, 1})); },
               {"scatter_add", "index 9"});
  expect_error([&] { scatter_add(x, 0, Tensor::from_ints({0}, {1, 1}), Tensor::zeros({1, 1}, DType::F64)); },
               {"scatter_add", "dtype"});
  expect_error([&] { concat({x, Tensor::zeros({4, 2}), Tensor::zeros({3, 5})}, 1); }, {"concat", "tensor 2", "[3, 5]"});
  expect_error([&] { concat({x, Tensor::zeros({4, 5}, DType::F64)}, 0); }, {"concat", "f64"});
  expect_error([&] { concat(std::vector<Tensor>{}, 0); }, {"concat"});
  expect_error([&] { stack({x, Tensor::zeros({5, 4})}, 0); }, {"stack", "[5, 4]"});
  expect_error([&] { split(x, {2, 2}, 1); }, {"split", "sum to 4", "5"});
  expect_error([&] { split(x, {-1, 6}, 1); }, {"split", "negative"});
}
