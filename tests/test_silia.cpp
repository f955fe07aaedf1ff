// Silia (models/silia.cpp): the block against a plain-loop reference, gradients, training,
// state-dict round trips, KV-cache decoding against full recomputation, threads.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "autograd/ops.h"
#include "models/model.h"
#include "models/silia.h"
#include "nn/safetensors.h"
#include "tensor/parallel.h"
#include "tests/model_testing.h"
#include "tests/testing.h"

using namespace loupe;
using namespace loupe::models;
using namespace loupe::testing;
using nlohmann::json;

namespace {

// ------------------------------------------------------------------ Silia: plain-loop reference
struct NaiveSilia {
  SiliaConfig c;
  std::vector<double> norm_w, norm_b, wc, wo;  // wc [(q,k,g,v) rows, d], wo [d, dv]

  // x [B, T, d] flat; tokens at positions pos0 + t. Returns the block's mixing output [B, T, d].
  std::vector<double> mix(const std::vector<double>& x, int64_t B, int64_t T, int64_t pos0) const {
    const int64_t d = c.n_embd, H = c.n_head, dh = d / H, dv = c.value_dim(), dvh = dv / H;
    const int64_t nk = c.share_qk ? 0 : d, rows = d + nk + 2 * dv;
    std::vector<double> q(B * T * d), k(B * T * d), g(B * T * dv), v(B * T * dv), out(B * T * d, 0.0);
    for (int64_t bt = 0; bt < B * T; ++bt) {
      const double* xr = &x[bt * d];
      // Norm
      double mean = 0, ms = 0;
      for (int64_t i = 0; i < d; ++i) mean += xr[i] / d;
      std::vector<double> u(d);
      if (c.norm == "rmsnorm") {
        for (int64_t i = 0; i < d; ++i) ms += xr[i] * xr[i] / d;
        for (int64_t i = 0; i < d; ++i) u[i] = xr[i] / std::sqrt(ms + c.norm_eps) * norm_w[i];
      } else {
        for (int64_t i = 0; i < d; ++i) ms += (xr[i] - mean) * (xr[i] - mean) / d;
        for (int64_t i = 0; i < d; ++i)
          u[i] = (xr[i] - mean) / std::sqrt(ms + c.norm_eps) * norm_w[i] + (norm_b.empty() ? 0.0 : norm_b[i]);
      }
      // Projections
      std::vector<double> p(rows, 0.0);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t i = 0; i < d; ++i) p[r] += wc[r * d + i] * u[i];
      for (int64_t i = 0; i < d; ++i) q[bt * d + i] = p[i], k[bt * d + i] = c.share_qk ? p[i] : p[d + i];
      for (int64_t i = 0; i < dv; ++i) g[bt * dv + i] = p[d + nk + i], v[bt * dv + i] = p[d + nk + dv + i];
      // RoPE on each head: pair (2i, 2i+1) rotated by pos·base^(-2i/dh)
      if (c.pos == "rope") {
        const double pos = double(pos0 + bt % T);
        for (auto* arr : {&q, &k})
          for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < dh / 2; ++i) {
              const double ang = pos * std::pow(c.rope_base, -2.0 * double(i) / double(dh));
              double& a = (*arr)[bt * d + h * dh + 2 * i];
              double& b = (*arr)[bt * d + h * dh + 2 * i + 1];
              const double a0 = a, b0 = b;
              a = a0 * std::cos(ang) - b0 * std::sin(ang);
              b = a0 * std::sin(ang) + b0 * std::cos(ang);
            }
      }
    }
    // One causal softmax per head, applied to both g and v; then SiLU(g) ⊙ v and Wo.
    std::vector<double> y(B * T * dv);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < T; ++i) {
          std::vector<double> s(i + 1);
          double mx = -1e300, z = 0;
          for (int64_t j = 0; j <= i; ++j) {
            s[j] = 0;
            for (int64_t e = 0; e < dh; ++e) s[j] += q[(b * T + i) * d + h * dh + e] * k[(b * T + j) * d + h * dh + e];
            s[j] /= std::sqrt(double(dh));
            mx = std::max(mx, s[j]);
          }
          for (int64_t j = 0; j <= i; ++j) z += std::exp(s[j] - mx);
          for (int64_t e = 0; e < dvh; ++e) {
            double ga = 0, va = 0;
            for (int64_t j = 0; j <= i; ++j) {
              const double a = std::exp(s[j] - mx) / z;
              ga += a * g[(b * T + j) * dv + h * dvh + e];
              va += a * v[(b * T + j) * dv + h * dvh + e];
            }
            y[(b * T + i) * dv + h * dvh + e] = ga / (1 + std::exp(-ga)) * va;
          }
        }
    for (int64_t bt = 0; bt < B * T; ++bt)
      for (int64_t o = 0; o < d; ++o)
        for (int64_t e = 0; e < dv; ++e) out[bt * d + o] += wo[o * dv + e] * y[bt * dv + e];
    return out;
  }
};

SiliaConfig tiny_silia(const std::string& norm, const std::string& pos, bool share_qk, double value_width) {
  SiliaConfig c;
  c.vocab_size = 11;
  c.block_size = 12;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.norm = norm;
  c.pos = pos;
  c.share_qk = share_qk;
  c.value_width = value_width;
  c.bias = true;
  c.dtype = DType::F64;
  return c;
}

// Random block weights (norm weights away from 1 so they matter).
SiliaBlockWeights random_block(const SiliaConfig& c, uint64_t seed) {
  const int64_t d = c.n_embd, dv = c.value_dim(), rows = (c.share_qk ? 1 : 2) * d + 2 * dv;
  SiliaBlockWeights w;
  w.norm_w = Var(rand64({d}, seed, 0.5, 1.5));
  if (c.norm == "layernorm") w.norm_b = Var(rand64({d}, seed + 1, -0.3, 0.3));
  w.c_attn = Var(rand64({rows, d}, seed + 2, -0.6, 0.6));
  w.c_proj = Var(rand64({d, dv}, seed + 3, -0.5, 0.5));
  return w;
}

}  // namespace

// ==================================================================== Silia
TEST(Silia, BlockMatchesPlainLoopReference) {
  struct Case {
    std::string norm, pos;
    bool share_qk;
    double vw;
  };
  for (const Case& k : {Case{"layernorm", "learned", false, 1.0}, Case{"rmsnorm", "rope", false, 1.0},
                        Case{"layernorm", "rope", true, 1.5}, Case{"rmsnorm", "learned", false, 0.25}}) {
    SCOPED_TRACE(k.norm + " " + k.pos + (k.share_qk ? " share_qk" : "") + " vw=" + std::to_string(k.vw));
    SiliaConfig c = tiny_silia(k.norm, k.pos, k.share_qk, k.vw);
    c.n_embd = 12;
    c.n_head = 3;
    const SiliaBlockWeights w = random_block(c, 10);
    const int64_t B = 2, T = 7, pos0 = 3;
    const Tensor x = rand64({B, T, c.n_embd}, 3);
    NaiveSilia ref{c, w.norm_w.value().to_vector(),
                   w.norm_b.defined() ? w.norm_b.value().to_vector() : std::vector<double>{},
                   w.c_attn.value().to_vector(), w.c_proj.value().to_vector()};
    const Tensor got = silia_mix(Var(x), w, c, pos0).value();
    const Tensor want = Tensor::from_vector(ref.mix(x.to_vector(), B, T, pos0), {B, T, c.n_embd}, DType::F64);
    EXPECT_TRUE(all_close(got, want, 1e-10, 1e-12));
  }
}

TEST(Silia, BlockGradcheck) {
  for (auto [rope, share] : {std::pair{false, false}, std::pair{true, true}}) {
    {
      SCOPED_TRACE(std::string(rope ? "rope" : "learned") + (share ? " share_qk" : ""));
      SiliaConfig c = tiny_silia(rope ? "rmsnorm" : "layernorm", rope ? "rope" : "learned", share, 1.0);
      c.n_embd = 4;
      c.n_head = 2;
      const SiliaBlockWeights w = random_block(c, 20);
      std::vector<Tensor> inputs{rand64({2, 3, 4}, 4), w.norm_w.value(), w.c_attn.value(), w.c_proj.value()};
      if (w.norm_b.defined()) inputs.push_back(w.norm_b.value());
      EXPECT_TRUE(gradcheck_ok(
          [&](const std::vector<Var>& v) {
            SiliaBlockWeights g{v[1], v.size() > 4 ? v[4] : Var(), v[2], v[3]};
            return silia_mix(v[0], g, c, 1);
          },
          inputs));
    }
  }
}

TEST(Silia, ShapesAndParameterCount) {
  SiliaConfig c;
  c.vocab_size = 13;
  c.block_size = 10;
  c.n_layer = 3;
  c.n_head = 2;
  c.n_embd = 16;
  SiliaModel m(c);
  const Tensor ids = random_ids(3, 10, 13, 1);
  EXPECT_EQ(m.forward(ids).shape(), (Shape{3, 10, 13}));
  // wte + wpe + per block (ln_1 + Wq Wk Wg Wv + Wo = 5d²) + ln_f; the head is tied.
  const int64_t d = 16;
  EXPECT_EQ(m.num_parameters(), 13 * d + 10 * d + 3 * (d + 5 * d * d) + d);
  EXPECT_EQ(m.state_dict().count("transformer.h.2.attn.c_attn.weight"), 1u);
  // value_width 2 and share_qk change the fused projection: q + 2·(2d) rows.
  c.value_width = 2;
  c.share_qk = true;
  SiliaModel m2(c);
  EXPECT_EQ(m2.block_weights(0).c_attn.shape(), (Shape{5 * d, d}));
  EXPECT_EQ(m2.block_weights(0).c_proj.shape(), (Shape{d, 2 * d}));
  EXPECT_EQ(m2.forward(ids).shape(), (Shape{3, 10, 13}));
}

TEST(Silia, RegistryAndConfigErrors) {
  auto m = build_model({{"type", "silia"}, {"vocab_size", 7}, {"block_size", 8}, {"n_layer", 1}, {"n_head", 2},
                        {"n_embd", 8}, {"pos", "rope"}, {"norm", "rmsnorm"}});
  EXPECT_EQ(m->vocab_size(), 7);
  EXPECT_EQ(m->config()["pos"], "rope");
  auto m2 = build_model(m->config());  // config() round-trips
  EXPECT_EQ(m2->num_parameters(), m->num_parameters());
  EXPECT_THROW(build_model({{"type", "silia"}, {"vocab_size", 7}, {"n_embd", 10}, {"n_head", 4}}), Error);
  EXPECT_THROW(build_model({{"type", "silia"}, {"vocab_size", 7}, {"value_widht", 2}}), Error);
  EXPECT_THROW(build_model({{"type", "silia"}, {"vocab_size", 7}, {"norm", "batchnorm"}}), Error);
  EXPECT_THROW(build_model({{"type", "silia"}, {"n_layer", 2}}), Error);  // vocab_size is required
  EXPECT_THROW(m->forward(random_ids(1, 9, 7, 1)), Error);  // longer than block_size
}

TEST(Silia, KvCacheMatchesFullRecompute) {
  for (auto [pos, share, vw, ffn] : {std::tuple{"learned", false, 1.0, false}, std::tuple{"rope", true, 2.0, false},
                                     std::tuple{"rope", false, 0.5, true}}) {
    SCOPED_TRACE(std::string(pos));
    SiliaConfig c = tiny_silia("layernorm", pos, share, vw);
    c.n_embd = 16;
    c.n_head = 4;
    c.separate_ffn = ffn;
    SiliaModel m(c);
    expect_cache_matches_full(m, 2, 12, 5, 1e-10);
    // Cache size: per layer k (dh per head) and [g|v] (2·dvh per head) for every slot.
    auto cache = m.make_cache(3, 9);
    EXPECT_EQ(cache->bytes(), 2 * 3 * 9 * (16 + 2 * c.value_dim()) * 8);
  }
  SiliaModel m(tiny_silia("layernorm", "learned", false, 1.0));
  auto cache = m.make_cache(1, 4);
  NoGrad ng;
  EXPECT_THROW(m.forward_cached(random_ids(2, 1, 11, 1), *cache), Error);  // wrong batch
  m.forward_cached(random_ids(1, 4, 11, 1), *cache);
  EXPECT_THROW(m.forward_cached(random_ids(1, 1, 11, 1), *cache), Error);  // full
}

TEST(Silia, LossFallsOverfittingOneBatch) {
  SiliaConfig c;
  c.vocab_size = 17;
  c.block_size = 16;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  SiliaModel m(c);
  auto [first, last] = overfit_one_batch(m, 60, 0.5);
  EXPECT_GT(first, 2.5);
  EXPECT_LT(last, first - 1.0) << first << " -> " << last;
}

TEST(Silia, SaveLoadRoundTripGivesIdenticalLogits) {
  SiliaConfig c;
  c.vocab_size = 9;
  c.block_size = 8;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 8;
  c.separate_ffn = true;
  SiliaModel a(c);
  c.seed = 99;
  SiliaModel b(c);
  const Tensor ids = random_ids(2, 8, 9, 3);
  const std::string path = ::testing::TempDir() + "silia_roundtrip.safetensors";
  nn::save_safetensors(path, a.state_dict());
  EXPECT_FALSE(bitwise_equal(a.forward(ids).value(), b.forward(ids).value()));
  b.load_state_dict(nn::load_safetensors(path));
  EXPECT_TRUE(bitwise_equal(a.forward(ids).value(), b.forward(ids).value()));
  std::filesystem::remove(path);
}

TEST(Silia, SameBitsForOneAndTwoThreads) {
  SiliaConfig c;
  c.vocab_size = 19;
  c.block_size = 31;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_embd = 32;
  c.pos = "rope";
  SiliaModel m(c);
  const Tensor ids = random_ids(3, 31, 19, 8);
  Tensor out[2], grad[2];
  for (int th : {1, 2}) {
    set_num_threads(th);
    m.zero_grad();
    Var logits = m.forward(ids);
    sum(logits * logits).backward();
    out[th - 1] = logits.value();
    grad[th - 1] = m.block_weights(0).c_attn.grad().clone();
  }
  set_num_threads(2);
  EXPECT_TRUE(bitwise_equal(out[0], out[1]));
  EXPECT_TRUE(bitwise_equal(grad[0], grad[1]));
}
