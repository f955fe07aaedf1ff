// Tensor core: creation, views share storage, contiguous/clone/cast, RNG, errors.
#include <memory>

#include "tests/testing.h"
#include "tensor/allocator.h"
#include "tensor/ops.h"
#include "tensor/kernels/dropout.h"
#include "tensor/rng.h"

using namespace loupe;
using loupe::testing::all_close;

TEST(TensorCore, CreationAndMetadata) {
  Tensor z = Tensor::zeros({2, 3});
  EXPECT_EQ(z.numel(), 6);
  EXPECT_EQ(z.strides(), (Shape{3, 1}));
  EXPECT_TRUE(z.is_contiguous());
  for (double v : z.to_vector()) EXPECT_EQ(v, 0.0);
  Tensor f = Tensor::full({4}, 2.5, DType::F64);
  EXPECT_EQ(f.dtype(), DType::F64);
  for (double v : f.to_vector()) EXPECT_EQ(v, 2.5);
  Tensor a = Tensor::arange(5);
  EXPECT_EQ(a.to_vector(), (std::vector<double>{0, 1, 2, 3, 4}));
  EXPECT_EQ(Tensor::scalar(3.0).dim(), 0);
  EXPECT_EQ(Tensor::scalar(3.0).item(), 3.0);
}

TEST(TensorCore, ViewsShareStorage) {
  Tensor t = Tensor::arange(24).view({2, 3, 4});
  Tensor p = t.permute({2, 0, 1});
  EXPECT_TRUE(p.shares_storage(t));
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_FALSE(p.is_contiguous());
  EXPECT_EQ(p.at({3, 1, 2}), t.at({1, 2, 3}));
  Tensor tr = t.transpose(0, 2);
  EXPECT_EQ(tr.at({1, 2, 0}), t.at({0, 2, 1}));
  Tensor n = t.narrow(2, 1, 2);
  EXPECT_EQ(n.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(n.at({1, 1, 0}), t.at({1, 1, 1}));
  Tensor s = t.slice(1, 0, 3, 2);
  EXPECT_EQ(s.shape(), (Shape{2, 2, 4}));
  EXPECT_EQ(s.at({1, 1, 3}), t.at({1, 2, 3}));
  Tensor sel = t.select(1, 2);
  EXPECT_EQ(sel.shape(), (Shape{2, 4}));
  EXPECT_EQ(sel.at({1, 3}), 23.0);
  // Writing through a view is seen by the base.
  n.set({0, 0, 0}, 100.0);
  EXPECT_EQ(t.at({0, 0, 1}), 100.0);
}

TEST(TensorCore, ExpandSqueezeUnsqueeze) {
  Tensor t = Tensor::arange(3).view({3, 1});
  Tensor e = t.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Shape{0, 1, 0}));
  EXPECT_EQ(e.at({1, 2, 3}), 2.0);
  EXPECT_EQ(t.squeeze(1).shape(), (Shape{3}));
  EXPECT_EQ(t.unsqueeze(0).shape(), (Shape{1, 3, 1}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{3, 1, 1}));
  EXPECT_THROW(t.squeeze(0), Error);
  EXPECT_THROW(t.expand({2, 4, 1}), Error);
}

TEST(TensorCore, ReshapeViewsWhenPossibleCopiesOtherwise) {
  Tensor t = Tensor::arange(24).view({2, 3, 4});
  Tensor r = t.reshape({6, -1});
  EXPECT_TRUE(r.shares_storage(t));
  EXPECT_EQ(r.shape(), (Shape{6, 4}));
  Tensor p = t.permute({1, 0, 2});  // [3, 2, 4]: last dim still contiguous
  Tensor pv = p.view({3, 2, 2, 2});
  EXPECT_TRUE(pv.shares_storage(t));
  EXPECT_EQ(pv.at({2, 1, 1, 0}), p.at({2, 1, 2}));
  EXPECT_THROW(p.view({6, 4}), Error);  // merging dims 0,1 of the permuted tensor needs a copy
  Tensor pr = p.reshape({6, 4});
  EXPECT_FALSE(pr.shares_storage(t));
  EXPECT_EQ(pr.at({5, 3}), p.at({2, 1, 3}));
  EXPECT_THROW(t.reshape({5, 5}), Error);
}

TEST(TensorCore, ContiguousCloneCast) {
  Tensor t = Tensor::arange(6, DType::F64).view({2, 3}).transpose(0, 1);
  Tensor c = t.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
  Tensor f = c.to(DType::F32);
  EXPECT_EQ(f.dtype(), DType::F32);
  EXPECT_EQ(f.to_vector(), c.to_vector());
  Tensor k = c.clone();
  k.set({0, 0}, 9);
  EXPECT_EQ(c.at({0, 0}), 0.0);
}

// Every element of dst, read through its own strides, equals src's (after broadcasting).
static ::testing::AssertionResult copied(const Tensor& dst, const Tensor& src) {
  const Tensor s = src.expand(dst.shape());
  std::vector<int64_t> idx(size_t(dst.dim()), 0);
  for (int64_t n = 0; n < dst.numel(); ++n) {
    if (dst.at(idx) != double(float(s.at(idx))) && dst.at(idx) != s.at(idx))
      return ::testing::AssertionFailure() << "element " << n << ": " << dst.at(idx) << " vs " << s.at(idx);
    for (int64_t d = dst.dim() - 1; d >= 0 && ++idx[size_t(d)] == dst.size(d); --d) idx[size_t(d)] = 0;
  }
  return ::testing::AssertionSuccess();
}

TEST(TensorCore, StridedCopiesMatchElementwise) {
  // Transposed, sliced, broadcast and cast sources into contiguous and strided
  // destinations, with shapes small and large enough to be split across threads.
  const Tensor big = loupe::testing::rand64({7, 33, 5, 130}, 3);
  struct Case {
    Tensor dst, src;
  };
  const std::vector<Case> cases = {
      {Tensor::empty({130, 5, 33, 7}, DType::F64), big.permute({3, 2, 1, 0})},
      {Tensor::empty({7, 33, 5, 130}, DType::F32), big},
      {Tensor::empty({7, 11, 5, 43}, DType::F64), big.slice(1, 1, 33, 3).slice(3, 2, 130, 3)},
      {Tensor::empty({33, 7, 130}, DType::F64), big.select(2, 4).transpose(0, 1)},
      {Tensor::empty({4, 33, 5, 130}, DType::F64), big.narrow(0, 2, 1)},
      {Tensor::empty({9, 70, 40}, DType::F64).slice(2, 0, 40, 2), loupe::testing::rand64({70, 1}, 4)},
      {Tensor::empty({2, 3, 300, 200}, DType::F64).transpose(2, 3), loupe::testing::rand64({3, 200, 300}, 5)},
      {Tensor::empty({1, 1}, DType::F64), loupe::testing::rand64({1}, 6)},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(i);
    Tensor dst = cases[i].dst;
    dst.copy_(cases[i].src);
    EXPECT_TRUE(copied(dst, cases[i].src));
  }
}

TEST(TensorCore, LargeBlocksAreReusedNotReturned) {
  const size_t before = storage_cached_bytes();
  const void* first = nullptr;
  {
    Tensor a = Tensor::empty({3 << 18}, DType::F32);  // 3 MiB
    first = a.raw_data();
  }
#if defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(storage_cached_bytes(), before);  // no cache: ASan must see every free
#else
  EXPECT_EQ(storage_cached_bytes(), before + (size_t(3) << 20));
  Tensor b = Tensor::zeros({3 << 18}, DType::F32);  // the same size gets the same block back, zeroed
  EXPECT_EQ(b.raw_data(), first);
  EXPECT_EQ(storage_cached_bytes(), before);
  EXPECT_EQ(sum(b).item(), 0.0);
#endif
  (void)first;
}

TEST(TensorCore, CounterRngIsKeyedAndDistributed) {
  Tensor a = Tensor::normal({10000}, 0, 1, 7, DType::F64), b = Tensor::normal({10000}, 0, 1, 7, DType::F64);
  EXPECT_TRUE(all_close(a, b, 0, 0));
  Tensor c = Tensor::normal({10000}, 0, 1, 8, DType::F64);
  EXPECT_FALSE(all_close(a, c, 0, 0));
  double m = 0, v = 0;
  for (double x : a.to_vector()) m += x, v += x * x;
  m /= 10000;
  v = v / 10000 - m * m;
  EXPECT_NEAR(m, 0.0, 0.05);
  EXPECT_NEAR(v, 1.0, 0.05);
  Tensor u = Tensor::uniform({10000}, 2, 3, 1, DType::F64);
  for (double x : u.to_vector()) ASSERT_TRUE(x >= 2 && x < 3);
  // Element i does not depend on the tensor's size: a prefix of a larger draw.
  EXPECT_EQ(Tensor::uniform({5}, 0, 1, 3).to_vector(), Tensor::uniform({50}, 0, 1, 3).narrow(0, 0, 5).to_vector());
  // Known-answer: Philox4x32-10 with zero key and counter (Random123 test vector).
  auto r = philox4x32(0, 0, 0);
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

// Blocks made a vector at a time (16 with AVX-512, 8 with AVX2) are the scalar Philox blocks,
// word for word: odd counts, a first block whose low 32 bits wrap inside a vector's group, keys
// and streams with high bits set.
TEST(TensorCore, PhiloxBlocksMatchTheScalarGenerator) {
  const uint64_t seeds[] = {0, 1337, 0xFEDCBA9876543210ull}, streams[] = {0, 7, 0x0123456789ABCDEFull};
  const uint64_t firsts[] = {0, 5, 0xFFFFFFF8ull, 0x1234567800000003ull};
  for (uint64_t seed : seeds)
    for (uint64_t stream : streams)
      for (uint64_t first : firsts)
        for (int64_t n : {1, 7, 8, 9, 15, 16, 37, 64}) {
          std::vector<uint32_t> out(size_t(4 * n));
          philox4x32_blocks(seed, stream, first, n, out.data());
          for (int64_t b = 0; b < n; ++b) {
            const auto r = philox4x32(seed, stream, first + uint64_t(b));
            for (int k = 0; k < 4; ++k)
              ASSERT_EQ(out[size_t(4 * b + k)], r[size_t(k)]) << "seed " << seed << " stream " << stream << " first " << first
                                                              << " block " << b << " word " << k;
          }
        }
}

// DropoutMask's runs (flags, and the select that applies them, in place or not) give element by
// element what keep(i) gives: starts inside a Philox block, runs across its 1024-index pieces,
// p near 0, near 1 and 1 (every element dropped), f32 and f64.
template <typename T>
void check_dropout_runs(double p) {
  const kernels::DropoutMask mask(99, 7, p);
  kernels::DropoutMask scalar(99, 7, p);
  const T scale = T(1.5);
  for (uint64_t i0 : {uint64_t(0), uint64_t(1), uint64_t(3), uint64_t(1021), uint64_t(0xFFFFFFFDull)})
    for (int64_t n : {int64_t(1), int64_t(5), int64_t(64), int64_t(1023), int64_t(2051)}) {
      const size_t len = static_cast<size_t>(n);
      std::vector<T> in(len), out(len), inplace(len);
      for (int64_t j = 0; j < n; ++j) in[size_t(j)] = inplace[size_t(j)] = T(j % 7) - T(3.25);
      std::unique_ptr<bool[]> flags(new bool[len]);
      mask.keep_run(i0, n, flags.get());
      mask.apply(i0, n, in.data(), out.data(), scale);
      mask.apply(i0, n, inplace.data(), inplace.data(), scale);
      for (int64_t j = 0; j < n; ++j) {
        const bool keep = scalar.keep(i0 + uint64_t(j));
        const T want = keep ? in[size_t(j)] * scale : T(0);
        ASSERT_EQ(flags[size_t(j)], keep) << "p " << p << " i0 " << i0 << " j " << j;
        ASSERT_EQ(out[size_t(j)], want) << "p " << p << " i0 " << i0 << " j " << j;
        ASSERT_EQ(inplace[size_t(j)], want) << "in place, p " << p << " i0 " << i0 << " j " << j;
      }
    }
}

TEST(TensorCore, DropoutRunsMatchTheElementwiseMask) {
  for (double p : {1e-9, 0.2, 0.5, 0.999999, 1.0}) {
    check_dropout_runs<float>(p);
    check_dropout_runs<double>(p);
  }
}

TEST(TensorCore, ErrorsNameOpAndShapes) {
  try {
    broadcast_shapes({2, 3}, {4, 3}, "add");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("add"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos);
  }
  Tensor t = Tensor::zeros({2, 3});
  EXPECT_THROW(t.at({2, 0}), Error);
  EXPECT_THROW(t.narrow(1, 2, 2), Error);
  EXPECT_THROW(t.data<double>(), Error);
  EXPECT_THROW(t.permute({0, 0}), Error);
}

// tensor_stats (tracing, anomaly mode): the finite values' min/max/mean/rms and the NaN/Inf
// counts, against a plain loop, across chunk boundaries and with non-finite values in one chunk.
#include "tensor/stats.h"
TEST(TensorStats, MatchesAPlainLoopAndCountsNonFinite) {
  for (int64_t n : {int64_t(1), int64_t(7), int64_t(65536), int64_t(65536 * 2 + 13)}) {
    for (bool poison : {false, true}) {
      Tensor t = Tensor::uniform({n}, -3, 5, uint64_t(n), DType::F32);
      if (poison && n > 3) t.set({1}, NAN), t.set({n - 1}, INFINITY), t.set({n - 2}, -INFINITY);
      const TensorStats s = tensor_stats(t);
      double mn = INFINITY, mx = -INFINITY, sum = 0;
      int64_t finite = 0, nan = 0, inf = 0;
      for (double x : t.to_vector()) {
        if (std::isnan(x)) ++nan;
        else if (std::isinf(x)) ++inf;
        else {
          mn = std::min(mn, x);
          mx = std::max(mx, x);
          sum += x;
          ++finite;
        }
      }
      EXPECT_EQ(s.finite, finite);
      EXPECT_EQ(s.nan, nan);
      EXPECT_EQ(s.inf, inf);
      EXPECT_EQ(s.min, mn);
      EXPECT_EQ(s.max, mx);
      EXPECT_NEAR(s.mean(), sum / double(finite), 1e-9);
      EXPECT_EQ(s.all_finite(), !(poison && n > 3));
    }
  }
}

// Memory owned elsewhere (the Python package's NumPy and DLPack views): the tensor reads and
// writes it in place, views of it share it, and the owner is released with the last view.
TEST(TensorCore, ExternalMemoryIsViewedInPlaceAndReleasedWithTheLastView) {
  std::vector<double> buf = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  auto released = std::make_shared<bool>(false);
  {
    std::shared_ptr<void> owner(nullptr, [released](void*) { *released = true; });
    // Every other column of a 3x4 row-major buffer: shape [3, 2], strides [4, 2].
    Tensor t = Tensor::from_external(buf.data(), DType::F64, {3, 2}, {4, 2}, owner);
    owner.reset();
    EXPECT_EQ(t.at({2, 1}), 10.0);
    Tensor col = t.select(1, 1);
    t = Tensor();
    EXPECT_FALSE(*released);  // `col` still views the buffer
    col.set({0}, -1.0);
    EXPECT_EQ(buf[2], -1.0);
    EXPECT_TRUE(all_close(mul(col, 2.0), Tensor::from_vector({-2.0, 12.0, 20.0}, {3}, DType::F64), 0, 0));
  }
  EXPECT_TRUE(*released);
  EXPECT_THROW(Tensor::from_external(buf.data(), DType::F64, {2}, {-1}, nullptr), Error);  // negative stride
  EXPECT_THROW(Tensor::from_external(reinterpret_cast<char*>(buf.data()) + 1, DType::F64, {2}, {1}, nullptr), Error);
  EXPECT_EQ(Tensor::from_external(buf.data(), DType::F64, {0, 5}, {5, 1}, nullptr).numel(), 0);
}

// A 0-d tensor has no dim 0: asking for one is an error, not a read past its shape.
TEST(TensorCore, ZeroDimTensorsNameNoDim) {
  const Tensor s = Tensor::scalar(1.0);
  EXPECT_THROW(s.size(0), Error);
  EXPECT_THROW(s.transpose(0, 0), Error);
  EXPECT_THROW(s.select(0, 0), Error);
  EXPECT_EQ(s.unsqueeze(0).shape(), (Shape{1}));
}
