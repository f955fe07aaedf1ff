// Google Benchmark suite for the GEMM kernel: square sizes and the shapes of a tiny
// transformer's matmuls (M = batch * tokens, K, N), on 1 and 2 threads, f32 row-major.
// Reports GFLOP/s as a counter. Compare with tools/reference/gemm_openblas.py (same shapes).
#include <tuple>
#include <vector>

#include <benchmark/benchmark.h>

#include "tensor/kernels/gemm.h"
#include "tensor/parallel.h"

namespace {

// Args: m, k, n, threads.
void BM_Gemm(benchmark::State& state) {
  const int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  loupe::set_num_threads(int(state.range(3)));
  std::vector<float> a(size_t(m * k)), b(size_t(k * n)), c(size_t(m * n));
  for (size_t i = 0; i < a.size(); ++i) a[i] = float(int64_t(i % 17) - 8) / 8.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = float(int64_t(i % 13) - 6) / 6.0f;
  for (auto _ : state) {
    loupe::kernels::gemm_rowmajor<float>(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] =
      benchmark::Counter(2.0 * double(m) * double(n) * double(k) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void Shapes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"m", "k", "n", "threads"});
  for (int64_t threads : {1, 2}) {
    for (int64_t s : {256, 512, 1024, 2048}) b->Args({s, s, s, threads});
    // Tiny-transformer shapes (M = 6 x 128 tokens): qkv, attention out, MLP down, lm head; a large batch qkv.
    for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{768, 128, 384}, {768, 128, 128}, {768, 512, 128},
                           {768, 128, 65}, {16384, 384, 1152}})
      b->Args({m, k, n, threads});
  }
  b->UseRealTime();
}

BENCHMARK(BM_Gemm)->Apply(Shapes);

}  // namespace

BENCHMARK_MAIN();
