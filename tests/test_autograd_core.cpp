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
}  // namespace

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
