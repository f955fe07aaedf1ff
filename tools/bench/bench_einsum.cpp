// Google Benchmark suite for einsum: its overhead over calling gemm_batched directly on the same
// data (parse + plan + views + output allocation; the target is within 10% at b=16, M=N=K=128),
// and the forms the models use at tiny-transformer sizes (the nanoGPT "baby" config: batch 12,
// 4 heads, block 64, width 128): attention scores and values, and ELiTA's FeedForward2.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "tensor/kernels/gemm.h"
#include "tensor/ops.h"
#include "tensor/parallel.h"

namespace {

using loupe::Shape;
using loupe::Tensor;

Tensor input(const Shape& s, uint64_t seed) { return Tensor::uniform(s, -1, 1, seed, loupe::DType::F32); }

double flops_bmnk(int64_t b, int64_t m, int64_t n, int64_t k) { return 2.0 * double(b) * double(m) * double(n) * double(k); }

void gflops(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// ---- bij,bjk->bik vs gemm_batched. Args: b, n (= M = N = K), threads.
void BM_EinsumBatchedMatmul(benchmark::State& state) {
  const int64_t b = state.range(0), n = state.range(1);
  loupe::set_num_threads(int(state.range(2)));
  const Tensor x = input({b, n, n}, 1), y = input({b, n, n}, 2);
  for (auto _ : state) {
    Tensor z = loupe::einsum("bij,bjk->bik", {x, y});
    benchmark::DoNotOptimize(z.raw_data());
  }
  gflops(state, flops_bmnk(b, n, n, n));
}

void BM_GemmBatchedDirect(benchmark::State& state) {
  const int64_t b = state.range(0), n = state.range(1);
  loupe::set_num_threads(int(state.range(2)));
  const Tensor x = input({b, n, n}, 1), y = input({b, n, n}, 2);
  for (auto _ : state) {
    Tensor z = Tensor::empty({b, n, n});  // einsum allocates its result too: same work
    loupe::kernels::gemm_batched<float>(b, n, n, n, 1.0f, {x.data<float>(), n, 1}, n * n, {y.data<float>(), n, 1},
                                        n * n, 0.0f, z.data<float>(), n, 1, n * n);
    benchmark::DoNotOptimize(z.raw_data());
  }
  gflops(state, flops_bmnk(b, n, n, n));
}

void MatmulArgs(benchmark::internal::Benchmark* bm) {
  bm->ArgNames({"b", "n", "threads"});
  for (int64_t t : {1, 2}) bm->Args({16, 128, t});
  bm->UseRealTime();
}
BENCHMARK(BM_EinsumBatchedMatmul)->Apply(MatmulArgs);
BENCHMARK(BM_GemmBatchedDirect)->Apply(MatmulArgs);

// ---- attention: scores bhqd,bhkd->bhqk and values bhqk,bhkd->bhqd. Args: b, h, t, d, threads.
void BM_EinsumAttentionScores(benchmark::State& state) {
  const int64_t b = state.range(0), h = state.range(1), t = state.range(2), d = state.range(3);
  loupe::set_num_threads(int(state.range(4)));
  const Tensor q = input({b, h, t, d}, 1), k = input({b, h, t, d}, 2);
  for (auto _ : state) {
    Tensor s = loupe::einsum("bhqd,bhkd->bhqk", {q, k});
    benchmark::DoNotOptimize(s.raw_data());
  }
  gflops(state, flops_bmnk(b * h, t, t, d));
}

void BM_GemmAttentionScoresDirect(benchmark::State& state) {
  const int64_t b = state.range(0), h = state.range(1), t = state.range(2), d = state.range(3);
  loupe::set_num_threads(int(state.range(4)));
  const Tensor q = input({b, h, t, d}, 1), k = input({b, h, t, d}, 2);
  for (auto _ : state) {
    Tensor s = Tensor::empty({b, h, t, t});
    loupe::kernels::gemm_batched<float>(b * h, t, t, d, 1.0f, {q.data<float>(), d, 1}, t * d, {k.data<float>(), 1, d},
                                        t * d, 0.0f, s.data<float>(), t, 1, t * t);
    benchmark::DoNotOptimize(s.raw_data());
  }
  gflops(state, flops_bmnk(b * h, t, t, d));
}

void BM_EinsumAttentionValues(benchmark::State& state) {
  const int64_t b = state.range(0), h = state.range(1), t = state.range(2), d = state.range(3);
  loupe::set_num_threads(int(state.range(4)));
  const Tensor p = input({b, h, t, t}, 1), v = input({b, h, t, d}, 2);
  for (auto _ : state) {
    Tensor o = loupe::einsum("bhqk,bhkd->bhqd", {p, v});
    benchmark::DoNotOptimize(o.raw_data());
  }
  gflops(state, flops_bmnk(b * h, t, d, t));
}

void AttentionArgs(benchmark::internal::Benchmark* bm) {
  bm->ArgNames({"b", "h", "t", "d", "threads"});
  for (int64_t th : {1, 2}) {
    bm->Args({12, 4, 64, 32, th});   // baby config: width 128, 4 heads
    bm->Args({8, 6, 256, 64, th});  // shakespeare_char: width 384, 6 heads, block 256
  }
  bm->UseRealTime();
}
BENCHMARK(BM_EinsumAttentionScores)->Apply(AttentionArgs);
BENCHMARK(BM_GemmAttentionScoresDirect)->Apply(AttentionArgs);
BENCHMARK(BM_EinsumAttentionValues)->Apply(AttentionArgs);

// ---- ELiTA FeedForward2: bi,bj,ijk->bk (b = batch * tokens, i = k = width, j = scale 8). Args: b, d, s, threads.
void BM_EinsumElita(benchmark::State& state) {
  const int64_t b = state.range(0), d = state.range(1), s = state.range(2);
  loupe::set_num_threads(int(state.range(3)));
  const Tensor u = input({b, d}, 1), v = input({b, s}, 2), w = input({d, s, d}, 3);
  for (auto _ : state) {
    Tensor y = loupe::einsum("bi,bj,ijk->bk", {u, v, w});
    benchmark::DoNotOptimize(y.raw_data());
  }
  gflops(state, flops_bmnk(1, b, d, d * s));
}

BENCHMARK(BM_EinsumElita)
    ->ArgNames({"b", "d", "s", "threads"})
    ->Args({768, 128, 8, 1})
    ->Args({768, 128, 8, 2})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
