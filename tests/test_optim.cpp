// Optimizers, lr schedules and gradient clipping, each against a naive f64
// reference of its update rule written out plainly here.
#include <cmath>
#include <map>
#include <numbers>

#include <gtest/gtest.h>

#include "optim/adam.h"
#include "optim/clip.h"
#include "optim/factory.h"
#include "optim/schedule.h"
#include "optim/sgd.h"
#include "tensor/parallel.h"
#include "tests/testing.h"

namespace loupe {
namespace {

using optim::ParamGroup;
using testing::all_close;
using testing::bitwise_equal;

// The gradient fed at step s to parameter k (independent of the parameter value); cached
// because the tests ask for the same ones many times.
Tensor grad_at(const Shape& s, int step, int k, DType dt) {
  static std::map<std::pair<Shape, int>, Tensor> cache;
  auto& g = cache[{s, 1000 * step + k}];
  if (!g.defined()) g = Tensor::normal(s, 0.0, 1.0, 1000 * step + k, DType::F64);
  return g.to(dt);
}

struct Problem {
  std::vector<Shape> shapes{{1}, {17}, {5, 13}, {20000}};  // 20000: crosses the 16384-element chunk and SIMD tails
  std::vector<Var> params;
  std::vector<std::vector<double>> ref;  // f64 reference parameter values
  explicit Problem(DType dt) {
    for (size_t k = 0; k < shapes.size(); ++k) {
      Tensor init = Tensor::uniform(shapes[k], -1, 1, 77 + k, DType::F64);
      params.emplace_back(init.to(dt), true);
      ref.push_back(init.to_vector());
    }
  }
  // Two groups: params 0,2 with (lr×1, wd) and 1,3 with (lr×0.5, no decay).
  std::vector<ParamGroup> groups(double wd) const {
    ParamGroup a{{}, 1.0, wd}, b{{}, 0.5, 0.0};
    for (size_t k = 0; k < params.size(); ++k)
      (k % 2 == 0 ? a : b).params.push_back({std::string("p").append(std::to_string(k)), params[k]});
    return {a, b};
  }
  double lr_scale(size_t k) const { return k % 2 == 0 ? 1.0 : 0.5; }
  double wd(size_t k, double wd) const { return k % 2 == 0 ? wd : 0.0; }
  void set_grads(int step) {
    for (size_t k = 0; k < params.size(); ++k) params[k].mutable_grad() = grad_at(shapes[k], step, int(k), params[k].dtype());
  }
  void expect_close(double rtol, double atol) const {
    for (size_t k = 0; k < params.size(); ++k)
      EXPECT_TRUE(all_close(params[k].value().to(DType::F64), Tensor::from_vector(ref[k], shapes[k], DType::F64), rtol, atol))
          << "param " << k;
  }
};

// ---- naive references, one element at a time, in f64 ----
void sgd_ref(Problem& pr, int steps, double lr, double wd, double mu, bool nesterov, double scale) {
  for (size_t k = 0; k < pr.params.size(); ++k) {
    std::vector<double> buf(pr.ref[k].size(), 0.0);
    for (int s = 1; s <= steps; ++s) {
      const auto g = grad_at(pr.shapes[k], s, int(k), DType::F64).to_vector();
      for (size_t i = 0; i < g.size(); ++i) {
        double& p = pr.ref[k][i];
        double d = scale * g[i] + pr.wd(k, wd) * p;
        if (mu != 0) {
          buf[i] = mu * buf[i] + d;
          d = nesterov ? d + mu * buf[i] : buf[i];
        }
        p -= lr * pr.lr_scale(k) * d;
      }
    }
  }
}

void adam_ref(Problem& pr, int steps, double lr, double wd, double b1, double b2, double eps, bool decoupled,
              double scale) {
  for (size_t k = 0; k < pr.params.size(); ++k) {
    std::vector<double> m(pr.ref[k].size(), 0.0), v(pr.ref[k].size(), 0.0);
    const double lrk = lr * pr.lr_scale(k), wdk = pr.wd(k, wd);
    for (int t = 1; t <= steps; ++t) {
      const auto g = grad_at(pr.shapes[k], t, int(k), DType::F64).to_vector();
      for (size_t i = 0; i < g.size(); ++i) {
        double& p = pr.ref[k][i];
        double gi = scale * g[i];
        if (decoupled) p *= 1 - lrk * wdk;
        else gi += wdk * p;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
        p -= lrk * mhat / (std::sqrt(vhat) + eps);
      }
    }
  }
}

void run(optim::Optimizer& opt, Problem& pr, int steps, double lr, double scale) {
  opt.set_lr(lr);
  for (int s = 1; s <= steps; ++s) {
    pr.set_grads(s);
    opt.step(scale);
    opt.zero_grad();
  }
}

struct SgdCase {
  double mu;
  bool nesterov;
  double wd;
};

TEST(Optim, SGDMatchesReference) {
  for (auto c : {SgdCase{0, false, 0}, SgdCase{0, false, 0.1}, SgdCase{0.9, false, 0.01}, SgdCase{0.9, true, 0.01}}) {
    for (DType dt : {DType::F64, DType::F32}) {
      Problem pr(dt);
      optim::SGD opt(pr.groups(c.wd), {c.mu, c.nesterov});
      run(opt, pr, 5, 0.05, 0.7);
      sgd_ref(pr, 5, 0.05, c.wd, c.mu, c.nesterov, 0.7);
      SCOPED_TRACE(::testing::Message() << "mu " << c.mu << " nesterov " << c.nesterov << " " << dtype_name(dt));
      if (dt == DType::F64) pr.expect_close(1e-12, 1e-13);
      else pr.expect_close(1e-5, 2e-6);
    }
  }
}

TEST(Optim, AdamAndAdamWMatchReference) {
  for (bool decoupled : {false, true}) {
    for (DType dt : {DType::F64, DType::F32}) {
      Problem pr(dt);
      optim::AdamOptions o{0.9, 0.99, 1e-8, decoupled};
      optim::Adam opt(pr.groups(0.1), o);
      run(opt, pr, 6, 1e-2, 0.5);
      adam_ref(pr, 6, 1e-2, 0.1, 0.9, 0.99, 1e-8, decoupled, 0.5);
      SCOPED_TRACE(::testing::Message() << (decoupled ? "AdamW " : "Adam ") << dtype_name(dt));
      if (dt == DType::F64) pr.expect_close(1e-11, 1e-12);
      else pr.expect_close(1e-5, 2e-6);
    }
  }
}

TEST(Optim, AdamWClassIsDecoupled) {
  Problem a(DType::F64), b(DType::F64);
  optim::AdamW w(a.groups(0.5), {0.9, 0.999, 1e-8, false});
  optim::Adam l2(b.groups(0.5));
  run(w, a, 2, 0.1, 1.0);
  run(l2, b, 2, 0.1, 1.0);
  adam_ref(a, 2, 0.1, 0.5, 0.9, 0.999, 1e-8, true, 1.0);
  a.expect_close(1e-11, 1e-12);
  EXPECT_FALSE(all_close(a.params[0].value(), b.params[0].value(), 1e-6, 1e-9));  // L2 Adam differs
}

TEST(Optim, ParameterWithoutGradIsLeftAlone) {
  Var p(Tensor::ones({3}), true), q(Tensor::ones({3}), true);
  optim::Adam opt({ParamGroup{{{"p", p}, {"q", q}}, 1.0, 0.0}});
  p.mutable_grad() = Tensor::ones({3});
  opt.step();
  EXPECT_TRUE(bitwise_equal(q.value(), Tensor::ones({3})));
  EXPECT_FALSE(bitwise_equal(p.value(), Tensor::ones({3})));
  EXPECT_EQ(opt.step_count(), 1);
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}

TEST(Optim, StateDictResumeIsBitwise) {
  Problem a(DType::F32), b(DType::F32);
  optim::AdamW full(a.groups(0.1), {0.9, 0.99, 1e-8, true});
  run(full, a, 5, 3e-3, 1.0);

  optim::AdamW first(b.groups(0.1), {0.9, 0.99, 1e-8, true});
  run(first, b, 3, 3e-3, 1.0);
  std::map<std::string, Tensor> saved;
  for (auto& [k, v] : first.state_dict()) saved[k] = v.clone();
  EXPECT_EQ(saved.size(), 2 * b.params.size() + 1);
  EXPECT_TRUE(saved.count("p3.exp_avg_sq"));
  optim::AdamW second(b.groups(0.1), {0.9, 0.99, 1e-8, true});
  second.load_state_dict(saved);
  EXPECT_EQ(second.step_count(), 3);
  second.set_lr(3e-3);
  for (int s = 4; s <= 5; ++s) {
    b.set_grads(s);
    second.step();
    second.zero_grad();
  }
  for (size_t k = 0; k < a.params.size(); ++k) EXPECT_TRUE(bitwise_equal(a.params[k].value(), b.params[k].value()));
}

TEST(Optim, LoadStateDictErrorsNameTheKey) {
  Problem pr(DType::F32);
  optim::Adam opt(pr.groups(0));
  auto sd = opt.state_dict();
  auto missing = sd;
  missing.erase("p1.exp_avg");
  try {
    opt.load_state_dict(missing);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("p1.exp_avg"), std::string::npos) << e.what();
  }
  auto wrong = sd;
  wrong["p2.exp_avg"] = Tensor::zeros({13, 5});
  try {
    opt.load_state_dict(wrong);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("p2.exp_avg"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[13, 5]"), std::string::npos) << e.what();
  }
  auto extra = sd;
  extra["bogus"] = Tensor::zeros({1});
  EXPECT_THROW(opt.load_state_dict(extra), Error);
}

TEST(Optim, ConstructionErrors) {
  Var p(Tensor::ones({2}), true);
  EXPECT_THROW(optim::SGD({ParamGroup{{{"a", p}, {"a", p}}, 1.0, 0.0}}), Error);       // duplicate name
  EXPECT_THROW(optim::Adam({ParamGroup{{{"a", p}}, 1.0, 0.0}}, {1.0, 0.9, 1e-8}), Error);  // beta1 = 1
  EXPECT_THROW(optim::SGD({ParamGroup{{{"a", p}}, 1.0, 0.0}}, {0.0, true}), Error);     // nesterov without momentum
  Var ints(Tensor::from_ints({1, 2}, {2}), false);
  EXPECT_THROW(optim::SGD({ParamGroup{{{"i", ints}}, 1.0, 0.0}}), Error);
}

TEST(Optim, OneVsTwoThreadsBitwise) {
  std::vector<Tensor> out;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Var p(Tensor::uniform({50003}, -1, 1, 5), true);
    optim::AdamW opt({ParamGroup{{{"p", p}}, 1.0, 0.1}}, {0.9, 0.99, 1e-8, true});
    opt.set_lr(1e-2);
    for (int s = 1; s <= 3; ++s) {
      p.mutable_grad() = grad_at({50003}, s, 0, DType::F32);
      const double norm = optim::clip_grad_norm_({p}, 10.0);
      out.push_back(Tensor::scalar(norm, DType::F64));
      opt.step();
    }
    out.push_back(p.value());
  }
  set_num_threads(2);
  for (size_t i = 0; i < out.size() / 2; ++i) EXPECT_TRUE(bitwise_equal(out[i], out[i + out.size() / 2])) << i;
}

TEST(Optim, MakeOptimizerGroupsAsNanoGPT) {
  Var w(Tensor::ones({2, 2}), true), b(Tensor::ones({2}), true);
  optim::OptimizerConfig c;
  c.weight_decay = 0.1;
  c.beta2 = 0.95;
  auto opt = optim::make_optimizer(c, {{"w", w}, {"b", b}}, {"w"});
  ASSERT_EQ(opt->entries().size(), 2u);
  EXPECT_EQ(opt->entries()[0].name, "w");
  EXPECT_EQ(opt->entries()[0].weight_decay, 0.1);
  EXPECT_EQ(opt->entries()[1].weight_decay, 0.0);
  EXPECT_EQ(dynamic_cast<optim::Adam&>(*opt).options().beta2, 0.95);
  EXPECT_TRUE(dynamic_cast<optim::Adam&>(*opt).options().decoupled_weight_decay);
  c.optimizer = optim::OptimizerConfig::Kind::SGD;
  c.momentum = 0.9;
  auto sgd = optim::make_optimizer(c, {{"w", w}}, {"w"});
  EXPECT_NE(dynamic_cast<optim::SGD*>(sgd.get()), nullptr);
  EXPECT_EQ(sgd->entries()[0].weight_decay, 0.1);
}

// ---- schedules ----
TEST(Schedule, CosineAtKeyPoints) {
  optim::LrSchedule s;
  s.kind = optim::LrSchedule::Kind::Cosine;
  s.lr = 1e-3;
  s.min_lr = 1e-4;
  s.warmup_iters = 100;
  s.decay_iters = 2000;
  EXPECT_DOUBLE_EQ(s(0), 1e-3 * 1 / 101);
  EXPECT_DOUBLE_EQ(s(49), 1e-3 * 50 / 101);
  EXPECT_DOUBLE_EQ(s(100), 1e-3);                         // r = 0: peak
  EXPECT_NEAR(s(1050), 1e-4 + 0.5 * (1e-3 - 1e-4), 1e-15);  // r = ½: halfway
  EXPECT_NEAR(s(2000), 1e-4, 1e-15);                       // r = 1: floor
  EXPECT_DOUBLE_EQ(s(5000), 1e-4);
  const double r = (500.0 - 100) / 1900;
  EXPECT_NEAR(s(500), 1e-4 + 0.5 * (1 + std::cos(std::numbers::pi * r)) * 9e-4, 1e-15);
  for (int i = 101; i < 2000; ++i) EXPECT_LE(s(i), s(i - 1));
}

TEST(Schedule, ConstantAndInvSqrt) {
  optim::LrSchedule c;
  c.kind = optim::LrSchedule::Kind::Constant;
  c.lr = 3e-4;
  c.warmup_iters = 0;
  EXPECT_EQ(c(0), 3e-4);
  EXPECT_EQ(c(12345), 3e-4);
  c.warmup_iters = 9;
  EXPECT_DOUBLE_EQ(c(4), 3e-4 * 5 / 10);
  optim::LrSchedule s;
  s.kind = optim::LrSchedule::Kind::InvSqrt;
  EXPECT_EQ(s(0), 1e-3);   // 1e-2/√1 capped
  EXPECT_EQ(s(99), 1e-3);  // 1e-2/√100 = 1e-3
  EXPECT_DOUBLE_EQ(s(399), 1e-2 / 20);
  s.inv_sqrt_cap = 1.0;
  s.inv_sqrt_scale = 2.0;
  EXPECT_DOUBLE_EQ(s(3), 1.0);
  EXPECT_DOUBLE_EQ(s(15), 0.5);
}

// ---- clipping ----
TEST(Clip, GlobalNormMatchesReferenceAndScales) {
  std::vector<Var> ps;
  double ref = 0;
  for (int k = 0; k < 3; ++k) {
    Var p(Tensor::zeros({17 + 9000 * k}), true);
    p.mutable_grad() = Tensor::normal({17 + 9000 * k}, 0, 1, 40 + k);
    for (double g : p.grad().to_vector()) ref += g * g;
    ps.push_back(p);
  }
  ps.push_back(Var(Tensor::zeros({4}), true));  // no grad: ignored
  ref = std::sqrt(ref);
  EXPECT_NEAR(optim::grad_global_norm(ps), ref, 1e-9 * ref);
  const auto before = ps[1].grad().to_vector();
  const double norm = optim::clip_grad_norm_(ps, 1.0);
  EXPECT_NEAR(norm, ref, 1e-9 * ref);
  EXPECT_NEAR(optim::grad_global_norm(ps), 1.0, 1e-5);
  const auto after = ps[1].grad().to_vector();
  EXPECT_NEAR(after[5], before[5] * 1.0 / (ref + 1e-6), 1e-6);
  // Below the threshold nothing changes.
  const Tensor g0 = ps[0].grad().clone();
  optim::clip_grad_norm_(ps, 100.0);
  EXPECT_TRUE(bitwise_equal(ps[0].grad(), g0));
  EXPECT_EQ(optim::clip_coefficient(4.0, 2.0), 2.0 / (4.0 + 1e-6));
  EXPECT_THROW(optim::clip_coefficient(1.0, 0.0), Error);
}

}  // namespace
}  // namespace loupe
