// loupe bench: measured speed against the measured FMA peak of this machine.
//   loupe bench peak                      FMA throughput, one core and all threads
//   loupe bench gemm --m M --n N --k K    GFLOP/s of C = A B (options: --ta --tb --f64 --threads --reps --json)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/kernels/gemm.h"
#include "tensor/kernels/gemm_blocking.h"
#include "tensor/kernels/peak.h"
#include "tensor/parallel.h"
#include "tools/cli/commands.h"

namespace loupe::cli {
namespace {

struct GemmBenchOptions {
  int64_t m = 1024, n = 1024, k = 1024;
  bool ta = false, tb = false, f64 = false, json = false;
  int threads = 0;  // 0: all
  int reps = 0;     // 0: as many as fit in ~0.5 s (at least 3)
};

void run_peak(bool f64, bool json) {
  const auto r = kernels::measure_fma_peak(f64, 1.0);
  if (json) {
    nlohmann::json j{{"bench", "peak"},          {"dtype", f64 ? "f64" : "f32"},
                     {"threads", r.threads},     {"vector_bits", r.vector_bits},
                     {"gflops_per_core", r.gflops_per_core}, {"gflops_all", r.gflops_all}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("FMA peak (%s, %d-bit vectors): %.1f GFLOP/s per core, %.1f GFLOP/s on %d threads\n",
                f64 ? "f64" : "f32", r.vector_bits, r.gflops_per_core, r.gflops_all, r.threads);
  }
}

template <typename T>
void run_gemm(const GemmBenchOptions& o) {
  using Clock = std::chrono::steady_clock;
  const int threads = o.threads > 0 ? o.threads : get_num_threads();
  set_num_threads(threads);
  // op(A) is m x k: stored m x k, or k x m when --ta (then read through swapped strides).
  std::vector<T> a(size_t(o.m * o.k)), b(size_t(o.k * o.n)), c(size_t(o.m * o.n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = T(int64_t(i % 17) - 8) / T(8);
  for (size_t i = 0; i < b.size(); ++i) b[i] = T(int64_t(i % 13) - 6) / T(6);
  const int64_t lda = o.ta ? o.m : o.k, ldb = o.tb ? o.k : o.n;
  auto once = [&] {
    kernels::gemm_rowmajor<T>(o.ta, o.tb, o.m, o.n, o.k, T(1), a.data(), lda, b.data(), ldb, T(0), c.data(), o.n);
  };
  once();  // warm up: packing buffers, caches, thread pool
  const double flops = 2.0 * double(o.m) * double(o.n) * double(o.k);
  // Wall time, and process CPU time per thread: on a machine shared with other work the CPU
  // time shows what the threads achieve while they run (idle OpenMP spinning counts against it).
  auto cpu_seconds = [] {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
  };
  std::vector<double> times, cpu_times;
  const auto start = Clock::now();
  for (int r = 0; o.reps > 0 ? r < o.reps : (r < 3 || std::chrono::duration<double>(Clock::now() - start).count() < 0.5);
       ++r) {
    const auto t0 = Clock::now();
    const double c0 = cpu_seconds();
    once();
    cpu_times.push_back((cpu_seconds() - c0) / threads);
    times.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  std::sort(cpu_times.begin(), cpu_times.end());
  const double best = flops / times.front() * 1e-9, median = flops / times[times.size() / 2] * 1e-9;
  const double best_cpu = flops / std::max(cpu_times.front(), 1e-9) * 1e-9;
  const auto peak = kernels::measure_fma_peak(sizeof(T) == 8, 0.3, threads);
  const double pct = 100.0 * best / peak.gflops_all, pct_cpu = 100.0 * best_cpu / peak.gflops_all;
  using Blk = kernels::GemmBlocking<T>;
  if (o.json) {
    nlohmann::json j{{"bench", "gemm"},     {"dtype", sizeof(T) == 8 ? "f64" : "f32"},
                     {"m", o.m},            {"n", o.n},
                     {"k", o.k},            {"ta", o.ta},
                     {"tb", o.tb},          {"threads", threads},
                     {"reps", times.size()}, {"gflops", best},
                     {"gflops_median", median}, {"peak_gflops", peak.gflops_all},
                     {"peak_pct", pct},     {"gflops_cpu", best_cpu},
                     {"peak_pct_cpu", pct_cpu}, {"isa", kernels::kGemmIsa},
                     {"mr", Blk::MR},       {"nr", kernels::gemm_nr<T>},
                     {"mc", Blk::MC},       {"kc", Blk::KC},
                     {"nc", Blk::NC}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("gemm %s m=%lld n=%lld k=%lld%s%s threads=%d: %.1f GFLOP/s best, %.1f median (%zu reps), "
                "%.0f%% of measured peak %.1f GFLOP/s; by CPU time %.1f GFLOP/s (%.0f%%)  "
                "[%s MR=%d NR=%d MC=%d KC=%d NC=%d]\n",
                sizeof(T) == 8 ? "f64" : "f32", (long long)o.m, (long long)o.n, (long long)o.k, o.ta ? " Aᵀ" : "",
                o.tb ? " Bᵀ" : "", threads, best, median, times.size(), pct, peak.gflops_all, best_cpu, pct_cpu,
                kernels::kGemmIsa, Blk::MR, kernels::gemm_nr<T>, Blk::MC, Blk::KC, Blk::NC);
  }
}

}  // namespace

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "benchmarks: peak, gemm, attention, train, generate");
  bench->require_subcommand(1);

  static bool peak_f64 = false, peak_json = false;
  auto* peak = bench->add_subcommand("peak", "measured FMA throughput (GFLOP/s per core and on all threads)");
  peak->add_flag("--f64", peak_f64, "f64 instead of f32");
  peak->add_flag("--json", peak_json, "one JSON object per line");
  actions().push_back({peak, [] { run_peak(peak_f64, peak_json); }});

  static GemmBenchOptions g;
  auto* gemm = bench->add_subcommand("gemm", "GFLOP/s of C = op(A) op(B) and % of the measured peak");
  gemm->add_option("--m", g.m, "rows of C")->check(CLI::PositiveNumber);
  gemm->add_option("--n", g.n, "columns of C")->check(CLI::PositiveNumber);
  gemm->add_option("--k", g.k, "inner dimension")->check(CLI::PositiveNumber);
  gemm->add_flag("--ta", g.ta, "A stored transposed (k x m)");
  gemm->add_flag("--tb", g.tb, "B stored transposed (n x k)");
  gemm->add_flag("--f64", g.f64, "f64 instead of f32");
  gemm->add_option("--threads", g.threads, "OpenMP threads (default: all)")->check(CLI::NonNegativeNumber);
  gemm->add_option("--reps", g.reps, "timed repetitions (default: ~0.5 s worth)")->check(CLI::NonNegativeNumber);
  gemm->add_flag("--json", g.json, "one JSON object per line");
  actions().push_back({gemm, [] { g.f64 ? run_gemm<double>(g) : run_gemm<float>(g); }});
  register_bench_attention(*bench);
  register_bench_train(*bench);
  register_bench_generate(*bench);
}

}  // namespace loupe::cli
