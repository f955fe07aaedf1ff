// Autograd mechanics with ops defined right here (so this suite depends only on Var):
// reverse topological order, accumulation over a diamond, NoGrad, detach, hooks, gradcheck itself.
#include "tests/testing.h"

using namespace loupe;

namespace {
// y = a * b elementwise (same shapes), f64 only: enough to exercise the graph.
Var mul_(const Var& a, const Var& b) {
  Tensor out = Tensor::empty(a.shape(), DType::F64);
  auto va = a.value().to_vector(), vb = b.value().to_vector();
  for (size_t i = 0; i < va.size(); ++i) out.data<double>()[i] = va[i] * vb[i];
  Tensor ta = a.value(), tb = b.value();
  return make_result("test_mul", out, {a, b}, [ta, tb](const Tensor& g) {
    Tensor ga = Tensor::empty(ta.shape(), DType::F64), gb = Tensor::empty(tb.shape(), DType::F64);
    auto vg = g.to_vector(), va = ta.to_vector(), vb = tb.to_vector();
    for (size_t i = 0; i < vg.size(); ++i) ga.data<double>()[i] = vg[i] * vb[i], gb.data<double>()[i] = vg[i] * va[i];
    return std::vector<Tensor>{ga, gb};
  });
}
// Identity whose backward hands the incoming gradient on (as views do).
Var pass_(const Var& x) {
  return make_result("test_pass", x.value(), {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
}

// s = Σ a + Σ b + Σ c: a scalar root over three inputs of any shapes.
Var sum3_(const Var& a, const Var& b, const Var& c) {
  double s = 0;
  for (const Var* v : {&a, &b, &c})
    for (double e : v->value().to_vector()) s += e;
  const Shape sa = a.shape(), sb = b.shape(), sc = c.shape();
  return make_result("test_sum3", Tensor::scalar(s, DType::F64), {a, b, c}, [sa, sb, sc](const Tensor& g) {
    const double k = g.item();
    return std::vector<Tensor>{Tensor::full(sa, k, DType::F64), Tensor::full(sb, k, DType::F64),
                               Tensor::full(sc, k, DType::F64)};
  });
}

// Rows [r0, r0 + n) of x, as a part view (narrow/split do this).
Var rows_(const Var& x, int64_t r0, int64_t n) {
  return make_part_result("test_rows", x, [r0, n](const Tensor& t) { return t.narrow(0, r0, n); });
}
}  // namespace

// Part gradients land in their own region of the input's gradient, added to whatever else
// the input gets (here y is also used whole): dy = 1 (one part covers each row) + 2y.
TEST(AutogradCore, PartGradientsAddIntoTheirRegion) {
  const Tensor x0 = loupe::testing::rand64({4, 3}, 7);
  for (int order = 0; order < 2; ++order) {
    Var x(x0, true);
    Var y = mul_(x, Var(Tensor::ones({4, 3}, DType::F64)));  // a non-leaf holding x's value
    Var top = rows_(y, 0, 1), rest = rows_(y, 1, 3), sq = mul_(y, y);
    Var s = order == 0 ? sum3_(top, rest, sq) : sum3_(sq, rest, top);
    s.backward();
    const auto xv = x0.to_vector(), gv = x.grad().to_vector();
    for (size_t i = 0; i < xv.size(); ++i) EXPECT_DOUBLE_EQ(gv[i], 1.0 + 2.0 * xv[i]) << "order " << order << " element " << i;
  }
  // On a leaf directly: rows 1..2 only, the rest of the gradient is zero.
  Var x(x0, true);
  Var s = sum3_(rows_(x, 1, 2), rows_(x, 2, 1), Var(Tensor::ones({1}, DType::F64)));
  s.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 0, 0}));
  // A part of the wrong shape is named.
  Var bad = make_result("test_bad_part", x0.narrow(0, 0, 2), {Var(x0, true)},
                        [](const Tensor&) { return std::vector<Tensor>{Tensor::ones({3, 3}, DType::F64)}; });
  bad.node()->part = [](const Tensor& t) { return t.narrow(0, 0, 2); };
  EXPECT_THROW(bad.backward(Tensor::ones({2, 3}, DType::F64)), Error);
}

// The engine takes over a gradient nothing else holds (no copy), and never writes into one
// that another tensor shares: the caller's seed, or one g handed to two inputs.
TEST(AutogradCore, GradientsAreOwnedNeverAliased) {
  const Tensor seed = Tensor::full({3}, 2.0, DType::F64);
  Var x(Tensor::ones({3}, DType::F64), true);
  pass_(x).backward(seed);
  EXPECT_FALSE(x.grad().shares_storage(seed));
  pass_(x).backward(seed);  // accumulates into x's own gradient, not into the seed
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{4, 4, 4}));
  EXPECT_EQ(seed.to_vector(), (std::vector<double>{2, 2, 2}));
  // mul_'s backward makes fresh tensors: the leaf keeps that very buffer.
  const double* fresh = nullptr;
  Var a(Tensor::ones({3}, DType::F64), true);
  Var y = make_result("test_fresh", a.value(), {a}, [&fresh](const Tensor& g) {
    Tensor c = g.clone();
    fresh = c.data<double>();
    return std::vector<Tensor>{c};
  });
  y.backward(seed);
  EXPECT_EQ(a.grad().data<double>(), fresh);
  // One gradient given to two inputs (as add does), then more added to each.
  Var p(Tensor::ones({3}, DType::F64), true), q(Tensor::ones({3}, DType::F64), true);
  Var both = make_result("test_both", p.value(), {p, q}, [](const Tensor& g) { return std::vector<Tensor>{g, g}; });
  Var pp = pass_(both);
  Var s = sum3_(pp, p, q);
  s.backward();
  EXPECT_FALSE(p.grad().shares_storage(q.grad()));
  EXPECT_EQ(p.grad().to_vector(), (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(q.grad().to_vector(), (std::vector<double>{2, 2, 2}));
}


TEST(AutogradCore, DiamondAccumulates) {
  Var x(Tensor::from_vector({2.0, 3.0}, {2}, DType::F64), true);
  Var y = mul_(x, x);  // x^2
  Var z = mul_(y, x);  // x^3, x used twice
  z.backward(Tensor::ones({2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{12.0, 27.0}));  // 3x^2
  // A second backward through a fresh graph accumulates into the leaf.
  mul_(x, x).backward(Tensor::ones({2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{16.0, 33.0}));
}

TEST(AutogradCore, NoGradAndDetach) {
  Var x(Tensor::ones({3}, DType::F64), true);
  {
    NoGrad ng;
    Var y = mul_(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
  }
  Var y = mul_(x, x);
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.detach().requires_grad());
  Var c(Tensor::ones({3}, DType::F64), false);
  EXPECT_FALSE(mul_(c, c).requires_grad());
  EXPECT_THROW(mul_(c, c).backward(Tensor::ones({3}, DType::F64)), Error);
}

TEST(AutogradCore, HooksSeeForwardAndBackward) {
  std::vector<std::string> seen;
  int id = add_op_hook([&](const OpEvent& ev) { seen.push_back(std::string(ev.op) + (ev.backward ? ":bwd" : ":fwd")); });
  Var x(Tensor::ones({2}, DType::F64), true);
  mul_(x, x).backward(Tensor::ones({2}, DType::F64));
  remove_op_hook(id);
  mul_(x, x);
  EXPECT_EQ(seen, (std::vector<std::string>{"test_mul:fwd", "test_mul:bwd"}));
}

TEST(AutogradCore, GradcheckCatchesWrongGradient) {
  auto good = [](const std::vector<Var>& v) { return mul_(v[0], v[1]); };
  EXPECT_TRUE(loupe::testing::gradcheck_ok(good, {loupe::testing::rand64({5}, 1), loupe::testing::rand64({5}, 2)}));
  // A deliberately wrong backward (factor 2) must be reported, naming the worst element.
  auto bad = [](const std::vector<Var>& v) {
    Tensor t = v[0].value().clone();
    return make_result("bad_identity", t, {v[0]}, [](const Tensor& g) {
      Tensor g2 = g.clone();
      for (int64_t i = 0; i < g2.numel(); ++i) g2.data<double>()[i] *= 2;
      return std::vector<Tensor>{g2};
    });
  };
  auto r = gradcheck(bad, {loupe::testing::rand64({4}, 3)});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.report.find("FAILED"), std::string::npos);
  EXPECT_GE(r.worst_index, 0);
}

TEST(AutogradCore, GraphIsFreedAfterBackward) {
  Var x(Tensor::ones({2}, DType::F64), true);
  Var y = mul_(x, x);
  Var z = mul_(y, y);
  z.backward(Tensor::ones({2}, DType::F64));
  EXPECT_TRUE(y.is_leaf());  // intermediate node released
  EXPECT_TRUE(z.is_leaf());
}

#include <cstdio>
#include <fstream>

#include <nlohmann/json.hpp>

#include "autograd/trace.h"

TEST(AutogradCore, TraceWritesOneJsonLinePerOp) {
  const std::string path = ::testing::TempDir() + "loupe_trace_test.jsonl";
  start_trace(path);
  Var x(Tensor::from_vector({-1.0, 2.0, 3.0}, {3}, DType::F64), true);
  mul_(x, x).backward(Tensor::ones({3}, DType::F64));
  stop_trace();
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string s; std::getline(in, s);) lines.push_back(nlohmann::json::parse(s));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0]["op"], "test_mul");
  EXPECT_EQ(lines[0]["pass"], "forward");
  EXPECT_EQ(lines[0]["outputs"][0]["shape"], nlohmann::json::array({3}));
  EXPECT_DOUBLE_EQ(lines[0]["outputs"][0]["min"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(lines[0]["outputs"][0]["max"].get<double>(), 9.0);
  EXPECT_NEAR(lines[0]["outputs"][0]["mean"].get<double>(), 14.0 / 3, 1e-12);
  EXPECT_EQ(lines[1]["pass"], "backward");
  // test_mul(x, x) sends g * x to each of its two inputs: min of x = -1.
  EXPECT_DOUBLE_EQ(lines[1]["outputs"][0]["min"].get<double>(), -1.0);
  EXPECT_EQ(lines[1]["outputs"].size(), 2u);
  std::remove(path.c_str());
  EXPECT_THROW(start_trace("/nonexistent-dir/x.jsonl"), Error);
}
