// loupe bench attention: time and memory of ELiTA's O(n) Attention2 core (elita_attention)
// against softmax attention (the fused flash-style causal_attention of the LLaMA baseline),
// forward and forward+backward, at several sequence lengths. Memory is what each op holds
// for its backward beyond its inputs (its output plus saved statistics), and, for reference,
// the [T, T] score matrix a non-fused softmax attention would hold.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>

#include "autograd/nn_ops.h"
#include "autograd/ops/elita_attention.h"
#include "tensor/parallel.h"
#include "tools/cli/commands.h"

namespace loupe::cli {
namespace {

struct AttnBenchOptions {
  std::string lengths = "256,1024,4096";
  int64_t batch = 1, heads = 4, head_dim = 16, reps = 5, threads = 0;
  bool json = false;
};

template <class F>
double median_ms(int64_t reps, F&& f) {
  f();  // warm-up
  std::vector<double> t;
  for (int64_t r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

void run_bench_attention(const AttnBenchOptions& o) {
  if (o.threads > 0) set_num_threads(int(o.threads));
  std::vector<int64_t> lengths;
  std::stringstream ss(o.lengths);
  for (std::string s; std::getline(ss, s, ',');) lengths.push_back(std::stoll(s));
  const int64_t B = o.batch, H = o.heads, D = o.head_dim;
  if (!o.json)
    std::printf("%6s | %12s %12s %12s | %12s %12s %12s | %14s\n", "T", "elita fwd ms", "fwd+bwd ms", "held bytes",
                "softmax fwd", "fwd+bwd ms", "held bytes", "T×T scores B");
  for (int64_t T : lengths) {
    LOUPE_CHECK(T > 0, "bench attention: lengths must be positive, got ", T);
    uint64_t seed = 1;
    auto rnd = [&](Shape s) { return Tensor::uniform(s, -1, 1, seed++, DType::F32); };
    // ELiTA: scalar logits [B, T, H], values [B, T, H, D].
    const Tensor a = rnd({B, T, H}), g = rnd({B, T, H}), d = rnd({B, T, H}), v = rnd({B, T, H, D});
    const Tensor gy = rnd({B, T, H, D});
    const double e_fwd = median_ms(o.reps, [&] { elita_attention_forward(a, g, d, v); });
    const double e_both = median_ms(o.reps, [&] {
      Var va(a, true), vg(g, true), vd(d, true), vv(v, true);
      elita_attention(va, vg, vd, vv).backward(gy);
    });
    const int64_t e_bytes = (B * T * H * D + B * T * H) * 4;  // y and lse
    // Softmax attention: q, k, v [B, H, T, D].
    const Tensor q = rnd({B, H, T, D}), k = rnd({B, H, T, D}), vs = rnd({B, H, T, D}), gs = rnd({B, H, T, D});
    const double s_fwd = median_ms(o.reps, [&] {
      NoGrad ng;
      causal_attention(Var(q), Var(k), Var(vs));
    });
    const double s_both = median_ms(o.reps, [&] {
      Var vq(q, true), vk(k, true), vv(vs, true);
      causal_attention(vq, vk, vv).backward(gs);
    });
    const int64_t s_bytes = (B * H * T * D + B * H * T) * 4;  // out and lse (flash-style: no T×T matrix)
    const int64_t dense = B * H * T * T * 4;                  // what a materialised score matrix would take
    if (o.json) {
      std::printf("{\"T\": %lld, \"batch\": %lld, \"heads\": %lld, \"head_dim\": %lld, \"threads\": %d, "
                  "\"elita_fwd_ms\": %.3f, \"elita_fwd_bwd_ms\": %.3f, \"elita_held_bytes\": %lld, "
                  "\"softmax_fwd_ms\": %.3f, \"softmax_fwd_bwd_ms\": %.3f, \"softmax_held_bytes\": %lld, "
                  "\"dense_scores_bytes\": %lld}\n",
                  (long long)T, (long long)B, (long long)H, (long long)D, get_num_threads(), e_fwd, e_both,
                  (long long)e_bytes, s_fwd, s_both, (long long)s_bytes, (long long)dense);
    } else {
      std::printf("%6lld | %12.3f %12.3f %12lld | %12.3f %12.3f %12lld | %14lld\n", (long long)T, e_fwd, e_both,
                  (long long)e_bytes, s_fwd, s_both, (long long)s_bytes, (long long)dense);
    }
  }
}

}  // namespace

void register_bench_attention(CLI::App& bench) {
  auto* sub = bench.add_subcommand("attention", "ELiTA O(n) attention vs softmax attention: time and memory vs length");
  auto o = std::make_shared<AttnBenchOptions>();
  sub->add_option("--lengths", o->lengths, "comma-separated sequence lengths (default 256,1024,4096)");
  sub->add_option("--batch", o->batch, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--heads", o->heads, "heads")->check(CLI::PositiveNumber);
  sub->add_option("--head-dim", o->head_dim, "head (value) width")->check(CLI::PositiveNumber);
  sub->add_option("--reps", o->reps, "timed repetitions (median reported)")->check(CLI::PositiveNumber);
  sub->add_option("--threads", o->threads, "OpenMP threads (default: all)")->check(CLI::NonNegativeNumber);
  sub->add_flag("--json", o->json, "one JSON object per length");
  actions().push_back({sub, [o] { run_bench_attention(*o); }});
}

}  // namespace loupe::cli
