// Wiola (models/wiola/): every switch off is exactly the LLaMA baseline; each component
// against a plain reference and gradchecked in f64; ATM causal and merging as specified;
// KV-cache generation with everything on equals recomputation; save/load; overfitting.
#include <cmath>
#include <set>

#include "autograd/nn_ops.h"
#include "autograd/ops.h"
#include "models/wiola.h"
#include "nn/safetensors.h"
#include "optim/adam.h"
#include "tests/model_testing.h"
#include "tests/testing.h"

using namespace loupe;
using loupe::testing::all_close;
using loupe::testing::bitwise_equal;
using loupe::testing::random_ids;
using loupe::testing::gradcheck_ok;
using loupe::testing::rand64;

namespace {

nlohmann::json tiny_json(bool on, const std::string& dtype = "f64") {
  return {{"type", "wiola"}, {"vocab_size", 13}, {"block_size", 24}, {"n_layer", 3},   {"n_head", 2},
          {"n_embd", 16},    {"dtype", dtype},   {"offset_norm", on}, {"dsff", on},    {"srpe", on},
          {"gcla", on},      {"atm", on},        {"srpe_segment", 4}};
}

// The two readings of the components: the released config's (the defaults) and loupe's earlier
// one (configs/wiola-baby.json). Model-level promises are checked for both.
struct Reading {
  const char* name;
  nlohmann::json keys;
};
const std::vector<Reading>& readings() {
  static const std::vector<Reading> r{
      {"release", nlohmann::json::object()},
      {"loupe", {{"dsff_widths", "balanced"}, {"srpe_radial_amplitude", 0.0}, {"gcla_mode", "same_position"},
                 {"gcla_gate_init", -4.0}, {"atm_threshold", 0.9}, {"norm_eps", 1e-5}}},
      {"release-greedy", {{"atm_mode", "greedy_unmerge"}}}};
  return r;
}
nlohmann::json tiny_reading(const Reading& r, const std::string& dtype = "f64") {
  nlohmann::json j = tiny_json(true, dtype);
  for (auto& [k, v] : r.keys.items()) j[k] = v;
  return j;
}

std::shared_ptr<models::WiolaModel> make_wiola(const nlohmann::json& j) {
  return std::make_shared<models::WiolaModel>(models::WiolaConfig::from_json(j));
}

// Σ_n softmax(logit)_n · val_n in plain loops (the references' attention step).
std::vector<double> softmax_mix(const std::vector<double>& logit, const std::vector<std::vector<double>>& val) {
  double mx = -1e300, z = 0;
  for (double l : logit) mx = std::max(mx, l);
  for (double l : logit) z += std::exp(l - mx);
  std::vector<double> out(val.empty() ? 0 : val[0].size(), 0.0);
  for (size_t n = 0; n < logit.size(); ++n)
    for (size_t e = 0; e < out.size(); ++e) out[e] += std::exp(logit[n] - mx) / z * val[n][e];
  return out;
}

// (W x[b, t])[row] in plain loops: a projection's one output of the GCLA references.
double row_dot(const Tensor& W, const Tensor& x, int64_t b, int64_t t, int64_t row) {
  double s = 0;
  for (int64_t e = 0; e < x.size(2); ++e) s += W.at({row, e}) * x.at({b, t, e});
  return s;
}

// Keys whose odd positions copy the even ones (plus a little noise) in some pairs: those
// pairs have cosine ≈ 1, the others ≈ random, far from τ = 0.9 either way.
Tensor keys_with_duplicates(int64_t B, int64_t H, int64_t T, int64_t D, uint64_t seed) {
  Tensor k = rand64({B, H, T, D}, seed);
  Tensor noise = rand64({B, H, T, D}, seed + 1, -0.02, 0.02);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t j = 0; 2 * j + 1 < T; ++j)
        if ((j + h + b) % 3 != 1)
          for (int64_t e = 0; e < D; ++e) k.set({b, h, 2 * j + 1, e}, k.at({b, h, 2 * j, e}) + noise.at({b, h, 2 * j, e}));
  return k;
}

// ATM written plainly: query t sees key j ≤ t unless j's pair (2m, 2m+1) is merged and t ≥ 2m+1,
// in which case it sees the pair's mean key/value once, with log 2 added to the logit.
Tensor naive_atm(const Tensor& q, const Tensor& k, const Tensor& v, int64_t q_offset, double tau) {
  const int64_t B = q.size(0), H = q.size(1), Tq = q.size(2), D = q.size(3), Tk = k.size(2);
  Tensor out = Tensor::zeros({B, H, Tq, D}, DType::F64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto merged = [&](int64_t m) {
        if (2 * m + 1 >= Tk) return false;
        double ab = 0, aa = 0, bb = 0;
        for (int64_t e = 0; e < D; ++e) {
          const double x = k.at({b, h, 2 * m, e}), y = k.at({b, h, 2 * m + 1, e});
          ab += x * y;
          aa += x * x;
          bb += y * y;
        }
        return ab / std::sqrt(aa * bb) >= tau;
      };
      for (int64_t i = 0; i < Tq; ++i) {
        const int64_t t = q_offset + i;
        std::vector<double> logit;
        std::vector<std::vector<double>> val;
        for (int64_t j = 0; j <= t; ++j) {
          const int64_t m = j / 2;
          std::vector<double> kk(static_cast<size_t>(D)), vv(static_cast<size_t>(D));
          double bias = 0;
          if (merged(m) && t >= 2 * m + 1) {
            if (j % 2 == 1) continue;  // the pair's one entry is added at j = 2m
            for (int64_t e = 0; e < D; ++e)
              kk[size_t(e)] = 0.5 * (k.at({b, h, 2 * m, e}) + k.at({b, h, 2 * m + 1, e})),
              vv[size_t(e)] = 0.5 * (v.at({b, h, 2 * m, e}) + v.at({b, h, 2 * m + 1, e}));
            bias = std::log(2.0);
          } else {
            for (int64_t e = 0; e < D; ++e) kk[size_t(e)] = k.at({b, h, j, e}), vv[size_t(e)] = v.at({b, h, j, e});
          }
          double s = 0;
          for (int64_t e = 0; e < D; ++e) s += q.at({b, h, i, e}) * kk[size_t(e)];
          logit.push_back(s / std::sqrt(double(D)) + bias);
          val.push_back(vv);
        }
        const std::vector<double> mix = softmax_mix(logit, val);
        for (int64_t e = 0; e < D; ++e) out.set({b, h, i, e}, mix[size_t(e)]);
      }
    }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- all off == LLaMA
TEST(Wiola, AllSwitchesOffIsExactlyTheLlamaBaseline) {
  nlohmann::json j = tiny_json(false, "f32");
  j["norm_eps"] = 1e-5;  // llama's (Wiola's default is the released 1e-6)
  nlohmann::json lj = j;
  for (const char* k : {"offset_norm", "dsff", "srpe", "gcla", "atm", "srpe_segment"}) lj.erase(k);
  lj["type"] = "llama";
  auto llama = models::build_model(lj);
  auto wiola = make_wiola(j);
  // Same names and, with the same seed, the same initial weights.
  auto sl = llama->state_dict(), sw = wiola->state_dict();
  ASSERT_EQ(sl.size(), sw.size());
  for (auto& [name, t] : sl) {
    ASSERT_TRUE(sw.count(name)) << name;
    EXPECT_TRUE(bitwise_equal(t, sw.at(name))) << name;
  }
  // Load one set of (perturbed) weights into both: identical logits, and identical cached decoding.
  std::map<std::string, Tensor> sd;
  uint64_t s = 900;
  for (auto& [name, t] : sl) sd[name] = add(t, Tensor::normal(t.shape(), 0.0, 0.05, s++, t.dtype()));
  llama->load_state_dict(sd);
  wiola->load_state_dict(sd);
  Tensor ids = random_ids(2, 11, 13, 901);
  EXPECT_TRUE(bitwise_equal(llama->forward(ids).value(), wiola->forward(ids).value()));
  auto cl = llama->make_cache(2, 11), cw = wiola->make_cache(2, 11);
  EXPECT_TRUE(bitwise_equal(llama->forward_cached(ids.narrow(1, 0, 4), *cl).value(),
                            wiola->forward_cached(ids.narrow(1, 0, 4), *cw).value()));
}

TEST(Wiola, EachSwitchAddsItsParameters) {
  auto names = [](const nlohmann::json& j) {
    std::set<std::string> n;
    for (auto& [k, v] : make_wiola(j)->state_dict()) n.insert(k);
    return n;
  };
  const auto base = names(tiny_json(false));
  auto with = [&](const char* key) {
    nlohmann::json j = tiny_json(false);
    j[key] = true;
    std::set<std::string> extra;
    for (auto& n : names(j))
      if (!base.count(n)) extra.insert(n);
    return extra;
  };
  EXPECT_TRUE(with("offset_norm").count("layers.0.attention_norm.bias"));
  EXPECT_TRUE(with("offset_norm").count("norm.bias"));
  EXPECT_TRUE(with("dsff").count("layers.2.feed_forward.gelu_up.weight"));
  EXPECT_TRUE(with("dsff").count("layers.2.feed_forward.gate"));
  EXPECT_EQ(with("srpe"), (std::set<std::string>{"layers.0.attention.srpe_alpha", "layers.1.attention.srpe_alpha",
                                                 "layers.2.attention.srpe_alpha"}));
  EXPECT_FALSE(with("gcla").count("layers.0.gcla.gate"));  // layer 1 (1-indexed) has no two layers before it
  EXPECT_TRUE(with("gcla").count("layers.1.gcla.compress2.weight"));
  EXPECT_TRUE(with("atm").empty());  // the merge is parameter-free
  EXPECT_FALSE(with("dsff").count("layers.2.feed_forward.w3.weight"));  // release: two GELU streams
  // DSFF release widths: GELU streams of d and 4d (10d² + d per layer). Balanced: 2d GELU and
  // 4d/3 SwiGLU, about 8d² like a 4x MLP. Against SwiGLU hidden 64 (3·d·64).
  auto m = make_wiola(tiny_json(false));
  nlohmann::json jd = tiny_json(false);
  jd["dsff"] = true;
  const int64_t d = 16;
  EXPECT_EQ(make_wiola(jd)->num_parameters() - m->num_parameters(), 3 * (2 * d * d + 2 * d * 4 * d + d) - 3 * (3 * d * 64));
  jd["dsff_widths"] = "balanced";
  EXPECT_EQ(make_wiola(jd)->num_parameters() - m->num_parameters(),
            3 * (2 * d * 2 * d + 3 * d * 24 + d) - 3 * (3 * d * 64));  // hb = 4d/3 → 24
  EXPECT_TRUE(names(jd).count("layers.2.feed_forward.w3.weight"));
  // The analytic count (used before building) agrees for every reading.
  for (const auto& r : readings()) {
    auto c = models::WiolaConfig::from_json(tiny_reading(r));
    EXPECT_EQ(int64_t(c.count_parameters()), make_wiola(tiny_reading(r))->num_parameters()) << r.name;
  }
}

// ---------------------------------------------------------------- components
TEST(Wiola, OffsetNormIsRmsNormPlusBeta) {
  Tensor x = rand64({3, 5}, 1), g = rand64({5}, 2), beta = rand64({5}, 3);
  Tensor y = models::wiola_rms_norm(Var(x), Var(g), Var(beta), 1e-5).value();
  for (int64_t r = 0; r < 3; ++r) {
    double ms = 0;
    for (int64_t c = 0; c < 5; ++c) ms += x.at({r, c}) * x.at({r, c}) / 5;
    for (int64_t c = 0; c < 5; ++c)
      EXPECT_NEAR(y.at({r, c}), g.at({c}) * x.at({r, c}) / std::sqrt(ms + 1e-5) + beta.at({c}), 1e-12);
  }
  EXPECT_TRUE(gradcheck_ok([](const std::vector<Var>& v) { return models::wiola_rms_norm(v[0], v[1], v[2], 1e-5); },
                           {x, g, beta}));
}

TEST(Wiola, DualStreamFeedForward) {
  const int64_t d = 6, ha = 5, hb = 4;
  std::vector<Tensor> in{rand64({2, 3, d}, 10), rand64({ha, d}, 11), rand64({d, ha}, 12), rand64({hb, d}, 13),
                         rand64({d, hb}, 14),   rand64({hb, d}, 15), rand64({d}, 16)};
  auto f = [](const std::vector<Var>& v) { return models::dual_stream_ff(v[0], v[1], v[2], v[3], v[4], v[5], v[6]); };
  Tensor y = f({Var(in[0]), Var(in[1]), Var(in[2]), Var(in[3]), Var(in[4]), Var(in[5]), Var(in[6])}).value();
  // Plain loops: σ(γ) A + (1 − σ(γ)) B.
  auto gelu_ = [](double z) { return 0.5 * z * (1 + std::erf(z / std::sqrt(2.0))); };
  auto silu_ = [](double z) { return z / (1 + std::exp(-z)); };
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t)
      for (int64_t o = 0; o < d; ++o) {
        double A = 0, Bs = 0;
        for (int64_t hh = 0; hh < ha; ++hh) {
          double z = 0;
          for (int64_t e = 0; e < d; ++e) z += in[1].at({hh, e}) * in[0].at({b, t, e});
          A += in[2].at({o, hh}) * gelu_(z);
        }
        for (int64_t hh = 0; hh < hb; ++hh) {
          double z1 = 0, z3 = 0;
          for (int64_t e = 0; e < d; ++e) z1 += in[3].at({hh, e}) * in[0].at({b, t, e}), z3 += in[5].at({hh, e}) * in[0].at({b, t, e});
          Bs += in[4].at({o, hh}) * silu_(z1) * z3;
        }
        const double s = 1 / (1 + std::exp(-in[6].at({o})));
        EXPECT_NEAR(y.at({b, t, o}), s * A + (1 - s) * Bs, 1e-12);
      }
  EXPECT_TRUE(gradcheck_ok(f, in));
  // Release widths: no w3, the second stream is W2b GELU(W1b u).
  auto g = [](const std::vector<Var>& v) { return models::dual_stream_ff(v[0], v[1], v[2], v[3], v[4], Var(), v[5]); };
  std::vector<Tensor> in2{in[0], in[1], in[2], in[3], in[4], in[6]};
  Tensor y2 = g({Var(in2[0]), Var(in2[1]), Var(in2[2]), Var(in2[3]), Var(in2[4]), Var(in2[5])}).value();
  for (int64_t t = 0; t < 3; ++t)
    for (int64_t o = 0; o < d; ++o) {
      double A = 0, Bs = 0;
      for (int64_t hh = 0; hh < ha; ++hh) {
        double z = 0;
        for (int64_t e = 0; e < d; ++e) z += in[1].at({hh, e}) * in[0].at({1, t, e});
        A += in[2].at({o, hh}) * gelu_(z);
      }
      for (int64_t hh = 0; hh < hb; ++hh) {
        double z = 0;
        for (int64_t e = 0; e < d; ++e) z += in[3].at({hh, e}) * in[0].at({1, t, e});
        Bs += in[4].at({o, hh}) * gelu_(z);
      }
      const double s = 1 / (1 + std::exp(-in[6].at({o})));
      EXPECT_NEAR(y2.at({1, t, o}), s * A + (1 - s) * Bs, 1e-12);
    }
  EXPECT_TRUE(gradcheck_ok(g, in2));
}

TEST(Wiola, GatedCrossLayerAttention) {
  const int64_t d = 8, r = 2;
  std::vector<Tensor> in{rand64({2, 3, d}, 20), rand64({2, 3, d}, 21), rand64({2, 3, d}, 22), rand64({r, d}, 23),
                         rand64({r, d}, 24),    rand64({r, d}, 25),    rand64({d, r}, 26),    rand64({d}, 27)};
  auto f = [](const std::vector<Var>& v) {
    return models::gated_cross_layer(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
  };
  Tensor y = f({Var(in[0]), Var(in[1]), Var(in[2]), Var(in[3]), Var(in[4]), Var(in[5]), Var(in[6]), Var(in[7])}).value();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 0; t < 3; ++t) {
      std::vector<double> q(static_cast<size_t>(r)), s1(static_cast<size_t>(r)), s2(static_cast<size_t>(r));
      for (int64_t i = 0; i < r; ++i)
        q[size_t(i)] = row_dot(in[3], in[0], b, t, i), s1[size_t(i)] = row_dot(in[4], in[1], b, t, i),
        s2[size_t(i)] = row_dot(in[5], in[2], b, t, i);
      double l1 = 0, l2 = 0;
      for (int64_t i = 0; i < r; ++i) l1 += q[size_t(i)] * s1[size_t(i)], l2 += q[size_t(i)] * s2[size_t(i)];
      l1 /= std::sqrt(double(r));
      l2 /= std::sqrt(double(r));
      const double w1 = 1 / (1 + std::exp(l2 - l1)), w2 = 1 - w1;
      for (int64_t o = 0; o < d; ++o) {
        double acc = 0;
        for (int64_t i = 0; i < r; ++i) acc += in[6].at({o, i}) * (w1 * s1[size_t(i)] + w2 * s2[size_t(i)]);
        EXPECT_NEAR(y.at({b, t, o}), acc / (1 + std::exp(-in[7].at({o}))), 1e-12);
      }
    }
  EXPECT_TRUE(gradcheck_ok(f, in));
}

// The release reading: query t attends over the summaries of both layers at every position j ≤ t.
TEST(Wiola, CausalCacheCrossLayerAttention) {
  const int64_t B = 2, T = 5, d = 6, r = 3;
  std::vector<Tensor> in{rand64({B, T, d}, 120), rand64({B, T, d}, 121), rand64({B, T, d}, 122), rand64({r, d}, 123),
                         rand64({r, d}, 124),    rand64({r, d}, 125),    rand64({d, r}, 126),    rand64({d}, 127)};
  auto f = [](const std::vector<Var>& v) {
    return models::gated_cross_layer_causal(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
  };
  Tensor y = f({Var(in[0]), Var(in[1]), Var(in[2]), Var(in[3]), Var(in[4]), Var(in[5]), Var(in[6]), Var(in[7])}).value();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> logit;
      std::vector<std::vector<double>> val;
      for (int64_t j = 0; j <= t; ++j)
        for (int k = 0; k < 2; ++k) {
          std::vector<double> sv;
          double l = 0;
          for (int64_t i = 0; i < r; ++i) {
            sv.push_back(row_dot(in[4 + k], in[1 + k], b, j, i));
            l += row_dot(in[3], in[0], b, t, i) * sv.back();
          }
          logit.push_back(l / std::sqrt(double(r)));
          val.push_back(sv);
        }
      const std::vector<double> mix = softmax_mix(logit, val);
      for (int64_t o = 0; o < d; ++o) {
        double acc = 0;
        for (int64_t i = 0; i < r; ++i) acc += in[6].at({o, i}) * mix[size_t(i)];
        EXPECT_NEAR(y.at({b, t, o}), acc / (1 + std::exp(-in[7].at({o}))), 1e-12) << b << " " << t << " " << o;
      }
    }
  EXPECT_TRUE(gradcheck_ok(f, in));
  // A decode step: the last 2 queries over all 5 positions' summaries give the last 2 rows.
  const Var s1 = nn::linear(Var(in[1]), Var(in[4])), s2 = nn::linear(Var(in[2]), Var(in[5]));
  const Var q = nn::linear(Var(in[0].narrow(1, 3, 2).contiguous()), Var(in[3]));
  EXPECT_TRUE(all_close(models::gcla_causal_attend(q, s1, s2, Var(in[6]), Var(in[7])).value(),
                        y.narrow(1, 3, 2).contiguous(), 1e-12, 1e-12));
}

TEST(Wiola, SrpeRadialTerm) {
  const int64_t B = 1, T = 7, H = 2, D = 8;
  models::SrpeBands bands{2, 1, 1};
  Tensor x = rand64({B, T, H, D}, 130), alpha = rand64({H}, 131);
  const int64_t pos0 = 40, S = 8, P = 64;
  const models::SrpeRadial radial{0.1, 0.05};
  Tensor plain = models::srpe_rotate(Var(x), pos0, Var(alpha), bands, S, P, 1e4).value();
  Tensor y = models::srpe_rotate(Var(x), pos0, Var(alpha), bands, S, P, 1e4, radial).value();
  for (int64_t t = 0; t < T; ++t) {
    const double rp = 1 + 0.1 * std::sin(0.05 * double(pos0 + t));
    for (int64_t h = 0; h < H; ++h)
      for (int64_t e = 0; e < D; ++e) EXPECT_NEAR(y.at({0, t, h, e}), rp * plain.at({0, t, h, e}), 1e-12);
  }
  EXPECT_TRUE(bitwise_equal(models::srpe_rotate(Var(x), pos0, Var(alpha), bands, S, P, 1e4, {0.0, 0.05}).value(), plain));
  EXPECT_TRUE(gradcheck_ok(
      [&](const std::vector<Var>& v) { return models::srpe_rotate(v[0], pos0, v[1], bands, S, P, 1e4, radial); },
      {rand64({1, 4, 2, 8}, 132), alpha}));
}

TEST(Wiola, SrpeBandsAndRopeLimit) {
  const int64_t B = 2, T = 9, H = 3, D = 8;  // 4 pairs: 2 relative, 1 hierarchical, 1 helix
  models::WiolaConfig c = models::WiolaConfig::from_json(tiny_json(true));
  models::SrpeBands bands = models::SrpeBands::of(c, D);
  EXPECT_EQ(bands.n_rel, 2);
  EXPECT_EQ(bands.n_hier, 1);
  EXPECT_EQ(bands.n_helix, 1);
  Tensor x = rand64({B, T, H, D}, 30), alpha = rand64({H}, 31);
  const int64_t pos0 = 5, S = 4, P = 24;
  Tensor y = models::srpe_rotate(Var(x), pos0, Var(alpha), bands, S, P, 10000.0).value();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < D / 2; ++i) {
          const double p = double(pos0 + t), th = std::pow(10000.0, -2.0 * double(i) / double(D));
          const double ang = i < 2 ? p * th : i < 3 ? double((pos0 + t) / S) * th
                                                    : p * th * (1 + alpha.at({h}) * std::sqrt(p) / std::sqrt(double(P)));
          const double x0 = x.at({b, t, h, 2 * i}), x1 = x.at({b, t, h, 2 * i + 1});
          EXPECT_NEAR(y.at({b, t, h, 2 * i}), x0 * std::cos(ang) - x1 * std::sin(ang), 1e-12);
          EXPECT_NEAR(y.at({b, t, h, 2 * i + 1}), x0 * std::sin(ang) + x1 * std::cos(ang), 1e-12);
        }
  // With no hierarchical band and α = 0 it is RoPE.
  models::SrpeBands rel_helix{2, 0, 2};
  EXPECT_TRUE(all_close(models::srpe_rotate(Var(x), pos0, Var(Tensor::zeros({H}, DType::F64)), rel_helix, S, P, 1e4).value(),
                        rope(Var(x), pos0, 1e4).value(), 1e-12, 1e-12));
  EXPECT_TRUE(gradcheck_ok(
      [&](const std::vector<Var>& v) { return models::srpe_rotate(v[0], pos0, v[1], bands, S, P, 10000.0); },
      {rand64({1, 4, 3, 8}, 32), alpha}));
}

TEST(Wiola, AtmMatchesNaiveMergedSoftmax) {
  const int64_t B = 2, H = 2, T = 9, D = 4;
  Tensor q = rand64({B, H, T, D}, 40), k = keys_with_duplicates(B, H, T, D, 41), v = rand64({B, H, T, D}, 43);
  models::AtmStats st;
  Tensor y = models::atm_attention(Var(q), Var(k), Var(v), 0, 0.9, &st).value();
  EXPECT_TRUE(all_close(y, naive_atm(q, k, v, 0, 0.9), 1e-12, 1e-12));
  EXPECT_GT(st.merged, 0);
  EXPECT_LT(st.merged, st.pairs);
  EXPECT_EQ(st.pairs, B * H * (T / 2));
  EXPECT_GT(st.cost_saved(), 0.0);
  // Queries at an offset (a decode step) see the same merged entries.
  Tensor y2 = models::atm_attention(Var(q.narrow(2, 6, 3).contiguous()), Var(k), Var(v), 6, 0.9).value();
  EXPECT_TRUE(all_close(y2, y.narrow(2, 6, 3).contiguous(), 1e-12, 1e-12));
  // τ > 1: nothing merges and it is plain causal attention.
  models::AtmStats none;
  Tensor y3 = models::atm_attention(Var(q), Var(k), Var(v), 0, 1.5, &none).value();
  EXPECT_EQ(none.merged, 0);
  EXPECT_TRUE(all_close(y3, causal_attention(Var(q), Var(k), Var(v)).value(), 1e-12, 1e-12));
  // Gradcheck (the decisions sit far from τ, so finite differences do not flip them).
  EXPECT_TRUE(gradcheck_ok([](const std::vector<Var>& x) { return models::atm_attention(x[0], x[1], x[2], 0, 0.9); },
                           {q, k, v}));
}

TEST(Wiola, AtmIsCausal) {
  const int64_t B = 1, H = 2, T = 10, D = 4;
  Tensor q = rand64({B, H, T, D}, 50), k = keys_with_duplicates(B, H, T, D, 51), v = rand64({B, H, T, D}, 53);
  Tensor y0 = models::atm_attention(Var(q), Var(k), Var(v), 0, 0.9).value();
  for (int64_t t = 0; t + 1 < T; ++t) {
    // Change position t+1 (its query, key and value): outputs 0..t must not move.
    Tensor q1 = q.clone(), k1 = k.clone(), v1 = v.clone();
    for (int64_t h = 0; h < H; ++h)
      for (int64_t e = 0; e < D; ++e) {
        k1.set({0, h, t + 1, e}, k.at({0, h, t, e}));  // an exact copy of k_t: merges (t, t+1) if t is even
        v1.set({0, h, t + 1, e}, 7.0), q1.set({0, h, t + 1, e}, -3.0);
      }
    Tensor y1 = models::atm_attention(Var(q1), Var(k1), Var(v1), 0, 0.9).value();
    EXPECT_TRUE(bitwise_equal(y1.narrow(2, 0, t + 1).contiguous(), y0.narrow(2, 0, t + 1).contiguous())) << t;
    EXPECT_FALSE(all_close(y1.narrow(2, t + 1, 1).contiguous(), y0.narrow(2, t + 1, 1).contiguous())) << t;
  }
}

// ---------------------------------------------------------------- ATM greedy merge + unmerge
TEST(Wiola, GreedyMergePlanScansLeftToRight) {
  // Rows: a a a b b c a a  (equal rows have cosine 1, different ones 0).
  const int64_t d = 3;
  const std::vector<int> kind{0, 0, 0, 1, 1, 2, 0, 0};
  Tensor u = Tensor::zeros({1, int64_t(kind.size()), d}, DType::F64);
  for (size_t t = 0; t < kind.size(); ++t) u.set({0, int64_t(t), kind[t]}, 1.0 + 0.1 * double(t));
  const auto first = models::greedy_merge_plan(u, 0.92);
  // (0,1) merge; 2 is left (its partner 1 is taken) and 2-3 differ; (3,4) merge; 5 alone; (6,7) merge.
  EXPECT_EQ(first, (std::vector<char>{1, 0, 0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(models::greedy_merge_plan(u, 1.5), std::vector<char>(kind.size(), 0));
}

TEST(Wiola, AttentionHidingKeys) {
  const int64_t B = 2, H = 2, T = 6, D = 4;
  Tensor q = rand64({B, H, T, D}, 140), k = rand64({B, H, T, D}, 141), v = rand64({B, H, T, D}, 142);
  const std::vector<char> none(size_t(B * T), 0), some{0, 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1};
  EXPECT_TRUE(all_close(models::attention_hiding_keys(Var(q), Var(k), Var(v), none).value(),
                        causal_attention(Var(q), Var(k), Var(v)).value(), 1e-12, 1e-12));
  Tensor y = models::attention_hiding_keys(Var(q), Var(k), Var(v), some).value();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> w;
        std::vector<int64_t> js;
        for (int64_t j = 0; j <= i; ++j) {
          if (some[size_t(b * T + j)]) continue;
          double s = 0;
          for (int64_t e = 0; e < D; ++e) s += q.at({b, h, i, e}) * k.at({b, h, j, e});
          w.push_back(std::exp(s / 2)), js.push_back(j);
        }
        double z = 0;
        for (double x : w) z += x;
        for (int64_t e = 0; e < D; ++e) {
          double acc = 0;
          for (size_t n = 0; n < w.size(); ++n) acc += w[n] / z * v.at({b, h, js[n], e});
          EXPECT_NEAR(y.at({b, h, i, e}), acc, 1e-12);
        }
      }
  EXPECT_TRUE(gradcheck_ok(
      [&](const std::vector<Var>& x) { return models::attention_hiding_keys(x[0], x[1], x[2], some); }, {q, k, v}));
}

// The released ATM merges queries too, so in training the output at t reads token t+1: the leak
// the spec predicts. The causal default does not. Eval runs unmerged, so it is causal there.
TEST(Wiola, GreedyUnmergeLeaksTheFutureInTraining) {
  Tensor ids = random_ids(1, 12, 13, 150);
  Tensor ids2 = ids.clone();
  ids2.set({0, 5}, double((int64_t(ids.at({0, 5})) + 5) % 13));  // change token 5
  auto row = [](const Tensor& y, int64_t t) { return y.narrow(1, t, 1).contiguous(); };
  for (const char* mode : {"causal", "greedy_unmerge"}) {
    nlohmann::json j = tiny_json(true);
    j["atm_mode"] = mode;
    j["atm_threshold"] = -1.0;  // every pair merges: (0,1), (2,3), (4,5), ...
    auto m = make_wiola(j);
    m->train(true);
    const Tensor y0 = m->forward(ids).value(), y1 = m->forward(ids2).value();
    const bool greedy = std::string(mode) == "greedy_unmerge";
    EXPECT_EQ(!bitwise_equal(row(y0, 4), row(y1, 4)), greedy) << mode << ": output 4 after changing token 5";
    EXPECT_TRUE(bitwise_equal(y0.narrow(1, 0, 4).contiguous(), y1.narrow(1, 0, 4).contiguous())) << mode;
    if (greedy) {
      EXPECT_EQ(m->atm_stats()[1].merge_rate(), 1.0);
      EXPECT_GT(m->atm_stats()[1].cost_saved(), 0.6);  // 6 of 12 entries: 21 of 78 products
      m->train(false);  // eval: no merging, causal
      const Tensor e0 = m->forward(ids).value(), e1 = m->forward(ids2).value();
      EXPECT_TRUE(bitwise_equal(e0.narrow(1, 0, 5).contiguous(), e1.narrow(1, 0, 5).contiguous()));
    }
  }
}

// Unmerge restoration: a merged pair's attention output is the same at both positions, and with
// nothing merged (τ > 1) training equals the plain model.
TEST(Wiola, GreedyUnmergeRestoresBothPositions) {
  nlohmann::json j = tiny_json(true);
  j["atm_mode"] = "greedy_unmerge";
  j["atm_threshold"] = 2.0;
  j["n_layer"] = 1, j["atm_first"] = 0, j["atm_last"] = 0, j["gcla"] = false, j["dsff"] = false;
  auto never = make_wiola(j);
  nlohmann::json jc = j;
  jc["atm"] = false;
  auto plain = make_wiola(jc);
  Tensor ids = random_ids(2, 10, 13, 160);
  EXPECT_TRUE(all_close(never->forward(ids).value(), plain->forward(ids).value(), 1e-12, 1e-12));
  // Everything merges: the whole block's output differs between t and t+1 only through the
  // residual and the feed-forward; the attention part must be equal. Probe with zero embeddings of
  // the second copies' tokens replaced by the first's (then only the merged attention is left).
  j["atm_threshold"] = -1.0;
  auto always = make_wiola(j);
  Tensor same = ids.clone();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t t = 1; t < 10; t += 2) same.set({b, t}, ids.at({b, t - 1}));
  Tensor y = always->forward(same).value();
  for (int64_t t = 0; t + 1 < 10; t += 2)  // identical inputs in a pair and one shared attention output
    EXPECT_TRUE(bitwise_equal(y.narrow(1, t, 1).contiguous(), y.narrow(1, t + 1, 1).contiguous())) << t;
  // Without the merge the two positions of a pair differ (they see different keys: 2 sees 0-2, 3 sees 0-3).
  Tensor yp = plain->forward(same).value();
  EXPECT_FALSE(all_close(yp.narrow(1, 2, 1).contiguous(), yp.narrow(1, 3, 1).contiguous()));
}

// ---------------------------------------------------------------- the model
TEST(Wiola, ModelIsCausalWithEverythingOn) {
  for (const auto& r : readings()) {
    auto m = make_wiola(tiny_reading(r, "f32"));
    m->train(false);  // (greedy_unmerge leaks in training: tested above)
    Tensor ids = random_ids(2, 12, 13, 60);
    Tensor y0 = m->forward(ids).value();
    for (int64_t t : {0, 3, 7, 10}) {
      Tensor ids2 = ids.clone();
      for (int64_t b = 0; b < 2; ++b) ids2.set({b, t + 1}, double((int64_t(ids.at({b, t + 1})) + 5) % 13));
      Tensor y1 = m->forward(ids2).value();
      EXPECT_TRUE(bitwise_equal(y1.narrow(1, 0, t + 1).contiguous(), y0.narrow(1, 0, t + 1).contiguous()))
          << r.name << " " << t;
    }
  }
}

TEST(Wiola, KvCacheGenerationEqualsRecomputationWithEverythingOn) {
  for (const auto& r : readings()) {
  SCOPED_TRACE(r.name);
  nlohmann::json j = tiny_reading(r);
  j["atm_threshold"] = 0.0;  // merge often, so the cached path meets merged pairs
  auto m = make_wiola(j);
  m->train(false);
  for (auto& [name, p] : m->named_parameters())  // move gates, offsets and α off their initial values
    if (p.dim() == 1) p.mutable_value().copy_(rand64(p.shape(), 70 + name.size(), -0.5, 0.5));
  Tensor ids = random_ids(2, 13, 13, 71);
  Tensor full = m->forward(ids).value();
  auto stats = m->atm_stats();
  ASSERT_EQ(stats.size(), 3u);
  EXPECT_EQ(stats[0].pairs, 0);  // ATM only in the middle layer of three
  const bool merges = r.keys.value("atm_mode", "causal") == "causal";  // greedy: training only
  EXPECT_EQ(stats[1].pairs > 0, merges);
  EXPECT_EQ(stats[1].merge_rate() > 0.0, merges);
  auto cache = m->make_cache(2, 13);
  std::vector<Tensor> parts{m->forward_cached(ids.narrow(1, 0, 3), *cache).value()};
  for (int64_t t = 3; t < 13; ++t) parts.push_back(m->forward_cached(ids.narrow(1, t, 1), *cache).value());
  EXPECT_EQ(cache->length(), 13);
  Tensor joined = Tensor::empty(full.shape(), DType::F64);
  int64_t t = 0;
  for (auto& p : parts) joined.narrow(1, t, p.size(1)).copy_(p), t += p.size(1);
  EXPECT_TRUE(all_close(joined, full, 1e-10, 1e-12));
  }
}

TEST(Wiola, MergeRateFollowsThreshold) {
  Tensor ids = random_ids(1, 16, 13, 80);
  for (double tau : {-1.0, 2.0}) {
    nlohmann::json j = tiny_json(true);
    j["atm_threshold"] = tau;
    auto m = make_wiola(j);
    m->forward(ids);
    const auto s = m->atm_stats()[1];
    EXPECT_EQ(s.merge_rate(), tau < 0 ? 1.0 : 0.0);
    EXPECT_EQ(s.cost_saved() > 0, tau < 0);
    // What `loupe train` prints: the rate over all ATM layers (layer 0 has no ATM here).
    const auto stats = m->step_stats();
    ASSERT_EQ(stats.size(), 2u);
    EXPECT_EQ(stats[0].first, "atm_merge_rate");
    EXPECT_EQ(stats[0].second, tau < 0 ? 1.0 : 0.0);
  }
  nlohmann::json off = tiny_json(true);
  off["atm"] = false;
  EXPECT_TRUE(make_wiola(off)->step_stats().empty());
}

TEST(Wiola, SaveLoadRoundTrip) {
  auto a = make_wiola(tiny_json(true, "f32"));
  const std::string path = ::testing::TempDir() + "wiola_roundtrip.safetensors";
  nn::save_safetensors(path, a->state_dict());
  nlohmann::json j = tiny_json(true, "f32");
  j["seed"] = 7;
  auto b = make_wiola(j);
  Tensor ids = random_ids(2, 8, 13, 81);
  EXPECT_FALSE(bitwise_equal(a->forward(ids).value(), b->forward(ids).value()));
  b->load_state_dict(nn::load_safetensors(path));
  EXPECT_TRUE(bitwise_equal(a->forward(ids).value(), b->forward(ids).value()));
  auto again = models::build_model(a->config());  // the saved config rebuilds the same architecture
  again->load_state_dict(nn::load_safetensors(path));
  EXPECT_TRUE(bitwise_equal(a->forward(ids).value(), again->forward(ids).value()));
}

TEST(Wiola, OverfitsOneBatchWithEverythingOn) {
  auto m = make_wiola(tiny_json(true, "f32"));
  Tensor ids = random_ids(2, 16, 13, 90), targets = random_ids(2, 16, 13, 91);
  optim::Adam opt({optim::ParamGroup{m->named_parameters()}});
  opt.set_lr(2e-2);
  double first = 0, last = 0;
  for (int it = 0; it < 30; ++it) {
    opt.zero_grad();
    Var loss = cross_entropy(reshape(m->forward(ids), {-1, 13}), targets.reshape({-1}));
    loss.backward();
    opt.step();
    if (it == 0) first = loss.item();
    last = loss.item();
  }
  EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(Wiola, ConfigErrors) {
  nlohmann::json j = tiny_json(true);
  j["srpe_relative"] = 0.9;  // + 0.25 > 1
  EXPECT_THROW(make_wiola(j), Error);
  j = tiny_json(true);
  j["gcla_typo"] = 1;
  try {
    make_wiola(j);
    FAIL() << "no throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gcla_typo"), std::string::npos);
  }
  EXPECT_NO_THROW(models::build_model(tiny_json(true)));
}
