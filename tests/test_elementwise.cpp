// Elementwise Tensor ops (tensor/kernels/elementwise.cpp) against naive f64 loops:
// every unary op, broadcasting binary ops, comparisons, where, in-place ops; awkward
// sizes, strided / transposed / broadcast inputs, 1-vs-2-thread bitwise equality,
// and misuse errors.
#include <cmath>
#include <functional>

#include "tensor/ops.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;

namespace {

using F1 = std::function<double(double)>;
using F2 = std::function<double(double, double)>;

// f64 reference of a unary op: applies f to every element of x (row-major).
Tensor ref_unary(const Tensor& x, const F1& f) {
  auto v = x.to_vector();
  for (auto& e : v) e = f(e);
  return Tensor::from_vector(v, x.shape(), DType::F64);
}

// Index of `b` (possibly shorter, possibly size-1 dims) seen from output index `idx`.
std::vector<int64_t> bcast_index(const std::vector<int64_t>& idx, const Shape& s) {
  std::vector<int64_t> r(s.size());
  const size_t lead = idx.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i) r[i] = s[i] == 1 ? 0 : idx[lead + i];
  return r;
}

// f64 reference of a broadcasting binary op, element by element with at().
Tensor ref_binary(const Tensor& a, const Tensor& b, const F2& f) {
  const Shape s = broadcast_shapes(a.shape(), b.shape(), "ref");
  Tensor out = Tensor::empty(s, DType::F64);
  std::vector<int64_t> idx(s.size(), 0);
  for (int64_t i = 0; i < out.numel(); ++i) {
    int64_t rem = i;
    for (int64_t d = int64_t(s.size()) - 1; d >= 0; --d) idx[size_t(d)] = rem % s[size_t(d)], rem /= s[size_t(d)];
    out.data<double>()[i] = f(a.at(bcast_index(idx, a.shape())), b.at(bcast_index(idx, b.shape())));
  }
  return out;
}

double ref_gelu(double x) { return 0.5 * x * std::erfc(-x / std::sqrt(2.0)); }
double ref_gelu_tanh(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}
double ref_sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

struct UnaryCase {
  const char* name;
  Tensor (*op)(const Tensor&);
  F1 ref;
  double lo, hi;
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"neg", neg, [](double x) { return -x; }, -3, 3},
      {"exp", exp, [](double x) { return std::exp(x); }, -10, 10},
      {"log", log, [](double x) { return std::log(x); }, 1e-3, 100},
      {"sqrt", sqrt, [](double x) { return std::sqrt(x); }, 0, 100},
      {"rsqrt", rsqrt, [](double x) { return 1 / std::sqrt(x); }, 1e-3, 100},
      {"tanh", tanh, [](double x) { return std::tanh(x); }, -5, 5},
      {"sigmoid", sigmoid, ref_sigmoid, -20, 20},
      {"relu", relu, [](double x) { return x > 0 ? x : 0; }, -3, 3},
      {"gelu", gelu, ref_gelu, -6, 6},
      {"gelu_tanh", gelu_tanh, ref_gelu_tanh, -6, 6},
      {"silu", silu, [](double x) { return x * ref_sigmoid(x); }, -20, 20},
      {"sin", sin, [](double x) { return std::sin(x); }, -10, 10},
      {"cos", cos, [](double x) { return std::cos(x); }, -10, 10},
      {"abs", abs, [](double x) { return std::fabs(x); }, -3, 3},
  };
  return cases;
}

const std::vector<int64_t> kSizes = {1, 3, 7, 17, 31, 65, 127, 1000};

}  // namespace

TEST(Elementwise, UnaryMatchesReferenceF32AndF64) {
  for (const auto& c : unary_cases()) {
    for (DType dt : {DType::F32, DType::F64}) {
      // f64 bound: xsimd's f64 erfc is good to ~4e-12 relative near x = 2.
      const double rtol = dt == DType::F32 ? 2e-6 : 1e-11, atol = dt == DType::F32 ? 1e-6 : 1e-14;
      for (int64_t n : kSizes) {
        SCOPED_TRACE(std::string(c.name) + " " + dtype_name(dt) + " n=" + std::to_string(n));
        const Tensor x = Tensor::uniform({n}, c.lo, c.hi, uint64_t(n), dt);
        const Tensor y = c.op(x);
        EXPECT_EQ(y.dtype(), dt);
        EXPECT_TRUE(all_close(y, ref_unary(x, c.ref), rtol, atol));
      }
    }
  }
}

TEST(Elementwise, UnaryOnStridedInputs) {
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor base = Tensor::uniform({17, 31}, c.lo, c.hi, 5, DType::F64);
    const Tensor t = base.transpose(0, 1);          // strides (1, 31)
    const Tensor s = base.slice(1, 1, 31, 3);       // every third column
    const Tensor e = base.select(0, 2).expand({5, 31});  // stride-0 rows
    for (const Tensor& x : {t, s, e}) {
      ASSERT_FALSE(x.is_contiguous());
      const Tensor y = c.op(x);
      EXPECT_TRUE(y.is_contiguous());
      EXPECT_TRUE(all_close(y, ref_unary(x, c.ref), 1e-11, 1e-14));
    }
  }
}

TEST(Elementwise, SigmoidSiluStableAtExtremes) {
  const Tensor x = Tensor::from_vector({-1000.0, -100.0, 100.0, 1000.0}, {4}, DType::F32);
  EXPECT_TRUE(all_close(sigmoid(x), ref_unary(x, ref_sigmoid), 1e-6, 1e-30));
  const auto s = silu(x).to_vector();
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(s[3], 1000.0);
  for (double v : s) EXPECT_FALSE(std::isnan(v));
}

TEST(Elementwise, PowExponents) {
  const Tensor xs = Tensor::from_vector({-2.0, -0.5, 0.0, 0.5, 3.0}, {5}, DType::F64);
  const Tensor xp = Tensor::from_vector({0.1, 0.5, 1.0, 2.0, 7.0}, {5}, DType::F64);
  for (double p : {0.0, 1.0, 2.0, 3.0, 4.0, -1.0, -2.0, 5.0}) {  // integer p: defined for negative x
    SCOPED_TRACE(p);
    EXPECT_TRUE(all_close(pow(xs, p), ref_unary(xs, [p](double x) { return std::pow(x, p); }), 1e-13, 1e-14));
  }
  for (double p : {0.5, -0.5, 1.5, 2.5, -1.7, 0.3}) {
    SCOPED_TRACE(p);
    EXPECT_TRUE(all_close(pow(xp, p), ref_unary(xp, [p](double x) { return std::pow(x, p); }), 1e-13, 1e-14));
  }
  EXPECT_TRUE(std::isnan(pow(xs, 0.5).at({0})));  // negative base, fractional power
  EXPECT_EQ(pow(xs, -1.5).at({2}), INFINITY);     // 0^-p
  EXPECT_EQ(pow(xs, 0.0).at({2}), 1.0);           // 0^0 = 1
}

TEST(Elementwise, BinaryBroadcastingMatchesReference) {
  struct Op {
    const char* name;
    Tensor (*f)(const Tensor&, const Tensor&);
    F2 ref;
  };
  const std::vector<Op> ops = {
      {"add", add, [](double a, double b) { return a + b; }},
      {"sub", sub, [](double a, double b) { return a - b; }},
      {"mul", mul, [](double a, double b) { return a * b; }},
      {"div", div, [](double a, double b) { return a / b; }},
      {"maximum", maximum, [](double a, double b) { return std::max(a, b); }},
      {"minimum", minimum, [](double a, double b) { return std::min(a, b); }},
  };
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 7, 17}, {17}},        // [B,T,C] + [C]
      {{2, 7, 17}, {2, 7, 1}},   // [B,T,C] * [B,T,1]
      {{3, 1}, {1, 65}},         // outer product
      {{31}, {}},                // 0-d scalar
      {{}, {5, 3}},
      {{1}, {1}},
      {{4, 1, 3}, {5, 1}},       // both broadcast, different ranks
      {{65, 33}, {65, 33}},      // same shape, odd sizes
  };
  for (const auto& op : ops)
    for (DType dt : {DType::F32, DType::F64})
      for (const auto& [sa, sb] : shapes) {
        SCOPED_TRACE(std::string(op.name) + " " + shape_str(sa) + " " + shape_str(sb) + " " + dtype_name(dt));
        const Tensor a = Tensor::uniform(sa, -2, 2, 1, dt), b = Tensor::uniform(sb, 0.5, 2, 2, dt);
        const Tensor out = op.f(a, b);
        EXPECT_EQ(out.shape(), broadcast_shapes(sa, sb, "test"));
        // Both the kernel and the reference round once from the exact f64 result.
        EXPECT_TRUE(all_close(out, ref_binary(a, b, op.ref), dt == DType::F32 ? 1e-7 : 1e-15, 0));
      }
}

TEST(Elementwise, BinaryOnStridedInputs) {
  const Tensor a = Tensor::uniform({17, 9}, -1, 1, 3, DType::F64).transpose(0, 1);  // [9, 17], strides (1, 9)
  const Tensor b = Tensor::uniform({9, 40}, -1, 1, 4, DType::F64).slice(1, 3, 37, 2);  // [9, 17], column step 2
  const Tensor c = Tensor::uniform({17}, -1, 1, 5, DType::F64).unsqueeze(0).expand({9, 17});
  EXPECT_TRUE(all_close(mul(a, b), ref_binary(a, b, [](double x, double y) { return x * y; }), 0, 0));
  EXPECT_TRUE(all_close(sub(b, c), ref_binary(b, c, [](double x, double y) { return x - y; }), 0, 0));
  EXPECT_TRUE(all_close(add(a, c), ref_binary(a, c, [](double x, double y) { return x + y; }), 0, 0));
  // A broadcast column of a transposed tensor: [9,17] * [9,1]
  const Tensor col = a.narrow(1, 4, 1);
  EXPECT_TRUE(all_close(div(b, col), ref_binary(b, col, [](double x, double y) { return x / y; }), 0, 0));
}

TEST(Elementwise, ScalarOps) {
  const Tensor x = Tensor::uniform({7, 3}, -1, 1, 8, DType::F64).transpose(0, 1);
  EXPECT_TRUE(all_close(add(x, 2.5), ref_unary(x, [](double v) { return v + 2.5; }), 0, 0));
  EXPECT_TRUE(all_close(mul(x, -3.0), ref_unary(x, [](double v) { return v * -3.0; }), 0, 0));
}

TEST(Elementwise, ComparisonsAndWhere) {
  const Tensor a = Tensor::from_vector({1.0, 2.0, 3.0, 2.0, 5.0, -1.0}, {2, 3}, DType::F32);
  const Tensor b = Tensor::from_vector({2.0, 2.0, 2.0}, {3}, DType::F32);
  EXPECT_EQ(eq(a, b).to_vector(), (std::vector<double>{0, 1, 0, 1, 0, 0}));
  EXPECT_EQ(ne(a, b).to_vector(), (std::vector<double>{1, 0, 1, 0, 1, 1}));
  EXPECT_EQ(lt(a, b).to_vector(), (std::vector<double>{1, 0, 0, 0, 0, 1}));
  EXPECT_EQ(le(a, b).to_vector(), (std::vector<double>{1, 1, 0, 1, 0, 1}));
  EXPECT_EQ(gt(a, b).to_vector(), (std::vector<double>{0, 0, 1, 0, 1, 0}));
  EXPECT_EQ(ge(a, b).to_vector(), (std::vector<double>{0, 1, 1, 1, 1, 0}));
  EXPECT_EQ(gt(a, b).dtype(), DType::F32);
  // where with cond [2,1] (f32), a [2,3], b scalar; and an i64 condition.
  const Tensor cond = Tensor::from_vector({1.0, 0.0}, {2, 1}, DType::F32);
  EXPECT_EQ(where(cond, a, Tensor::scalar(9.0)).to_vector(), (std::vector<double>{1, 2, 3, 9, 9, 9}));
  const Tensor icond = Tensor::from_ints({0, 1, 0}, {3});
  EXPECT_EQ(where(icond, a, b).to_vector(), (std::vector<double>{2, 2, 2, 2, 5, 2}));
  // Larger, strided: where(x > 0, x, 0) is relu.
  const Tensor x = Tensor::uniform({33, 65}, -1, 1, 9, DType::F64).transpose(0, 1);
  EXPECT_TRUE(bitwise_equal(where(gt(x, Tensor::scalar(0.0, DType::F64)), x, Tensor::scalar(0.0, DType::F64)), relu(x)));
}

TEST(Elementwise, InPlaceAddAndMul) {
  // dst strided (a transposed view of a bigger tensor), src broadcast along rows.
  Tensor base = Tensor::uniform({17, 9}, -1, 1, 10, DType::F64);
  const Tensor before = base.clone();
  Tensor dst = base.transpose(0, 1);  // [9, 17] view
  const Tensor src = Tensor::uniform({17}, -1, 1, 11, DType::F64);
  add_(dst, src, -0.5);
  for (int64_t i = 0; i < 17; ++i)
    for (int64_t j = 0; j < 9; ++j)
      EXPECT_DOUBLE_EQ(base.at({i, j}), before.at({i, j}) - 0.5 * src.at({i}));
  Tensor d2 = base.clone();
  add_(d2, base);  // alpha 1, same shape
  EXPECT_TRUE(all_close(d2, mul(base, 2.0), 0, 0));
  mul_(dst, 3.0);  // through the view
  EXPECT_NEAR(base.at({4, 2}), 3.0 * (before.at({4, 2}) - 0.5 * src.at({4})), 1e-14);
  EXPECT_THROW(add_(d2, Tensor::zeros({5}, DType::F64)), Error);  // src does not broadcast to dst
  Tensor f32 = Tensor::zeros({3});
  EXPECT_THROW(add_(f32, Tensor::zeros({3}, DType::F64)), Error);
}

TEST(Elementwise, OneVsTwoThreadsBitwiseEqual) {
  // Large enough for many parallel chunks, with odd sizes so chunks split rows.
  const Tensor x = Tensor::uniform({129, 1031}, -3, 3, 12);
  const Tensor bias = Tensor::uniform({1031}, -1, 1, 13);
  const Tensor col = Tensor::uniform({129, 1}, 0.5, 2, 14);
  const Tensor xt = Tensor::uniform({1031, 129}, -3, 3, 15).transpose(0, 1);
  auto run = [&] {
    Tensor acc = x.clone();
    add_(acc, bias, 0.25);
    return std::vector<Tensor>{gelu(x), exp(xt), add(x, bias), mul(x, col), div(xt, col), maximum(x, xt),
                               where(gt(x, xt), x, bias), pow(x, 2.5), acc};
  };
  set_num_threads(1);
  const auto one = run();
  set_num_threads(2);
  const auto two = run();
  for (size_t i = 0; i < one.size(); ++i) EXPECT_TRUE(bitwise_equal(one[i], two[i])) << "result " << i;
  // The position of an element in a row (SIMD body vs tail) does not change its value.
  const Tensor head = x.narrow(1, 0, 7);
  EXPECT_TRUE(bitwise_equal(gelu(head), gelu(x).narrow(1, 0, 7)));
}

TEST(Elementwise, EmptyTensors) {
  const Tensor e = Tensor::zeros({0, 5});
  EXPECT_EQ(exp(e).shape(), (Shape{0, 5}));
  EXPECT_EQ(add(e, Tensor::zeros({5})).shape(), (Shape{0, 5}));
}

TEST(Elementwise, MisuseThrowsNamingOpAndShapes) {
  const Tensor a = Tensor::zeros({2, 3}), b64 = Tensor::zeros({3}, DType::F64);
  try {
    add(a, b64);
    FAIL() << "mixed dtypes must throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("add"), std::string::npos) << m;
    EXPECT_NE(m.find("f32[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("f64[3]"), std::string::npos) << m;
  }
  try {
    mul(a, Tensor::zeros({4}));
    FAIL() << "non-broadcastable shapes must throw";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("mul"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4]"), std::string::npos) << m;
  }
  EXPECT_THROW(exp(Tensor::from_ints({1, 2}, {2})), Error);
  EXPECT_THROW(where(Tensor::ones({2}), a, b64), Error);
  EXPECT_THROW(maximum(b64, a), Error);
}
