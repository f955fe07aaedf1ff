// FMA peak: each thread runs kAcc independent FMA chains (acc = acc * x + y) on
// SIMD registers. With kAcc >= latency x FMA ports (4 x 2 on current x86), the
// loop is bound by FMA throughput alone: 2 flops per lane per FMA.
#include "tensor/kernels/peak.h"

#include <algorithm>
#include <ctime>

#include <omp.h>
#include "tensor/simd.h"

namespace loupe::kernels {
namespace {

constexpr int kAcc = 12;

// Runs `iters` rounds of kAcc FMAs; returns a value depending on all of them (so nothing is optimised away).
// noipa: the compiler must treat it as opaque, or it may move this pure call across the clock reads.
// (clang has no noipa; its only build here is the fuzz build, which measures nothing.)
#if defined(__clang__)
#define LOUPE_OPAQUE __attribute__((noinline))
#else
#define LOUPE_OPAQUE __attribute__((noipa))
#endif
template <typename T>
LOUPE_OPAQUE T fma_loop(int64_t iters, T seed) {
  using V = xsimd::batch<T>;
  V acc[kAcc];
#pragma GCC unroll 16
  for (int i = 0; i < kAcc; ++i) acc[i] = V(seed + T(i) * T(1e-3));
  const V x(T(0.999999)), y(T(1e-7));
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < kAcc; ++i) acc[i] = xsimd::fma(acc[i], x, y);
  }
  V s = acc[0];
  for (int i = 1; i < kAcc; ++i) s += acc[i];
  alignas(64) T lanes[V::size];  // (xsimd::hadd trips a GCC 12 -Wuninitialized false positive)
  s.store_aligned(lanes);
  T sum = 0;
  for (T x : lanes) sum += x;
  return sum;
}

// CPU time of the calling thread: a busy machine (other processes on the same cores) does
// not lower the measured rate, which is what a per-core peak should be.
double thread_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// GFLOP/s summed over `threads` threads, each running the loop for about `seconds` of its own
// CPU time and timing itself; best of 5 runs per thread.
template <typename T>
double run(int threads, double seconds) {
  constexpr double flops_per_iter = 2.0 * kAcc * double(xsimd::batch<T>::size);
  double total = 0;
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    int64_t iters = 1 << 16;
    for (;;) {  // calibrate: about seconds / 5 per run
      const double t0 = thread_seconds();
      volatile T sink = fma_loop<T>(iters, T(1));
      (void)sink;
      const double dt = thread_seconds() - t0;
      if (dt > seconds / 20 || iters > (int64_t(1) << 40)) {
        iters = int64_t(double(iters) * seconds / 5 / std::max(dt, 1e-9));
        break;
      }
      iters *= 4;
    }
    double best = 0;
    for (int rep = 0; rep < 5; ++rep) {
      const double t0 = thread_seconds();
      volatile T sink = fma_loop<T>(iters, T(1) + T(omp_get_thread_num()));
      (void)sink;
      best = std::max(best, flops_per_iter * double(iters) / (thread_seconds() - t0) * 1e-9);
    }
    total += best;
  }
  return total;
}

}  // namespace

PeakResult measure_fma_peak(bool f64, double seconds, int threads) {
  PeakResult r;
  r.threads = threads > 0 ? threads : omp_get_max_threads();
  r.vector_bits = int(8 * (f64 ? sizeof(xsimd::batch<double>) : sizeof(xsimd::batch<float>)));
  r.gflops_per_core = f64 ? run<double>(1, seconds) : run<float>(1, seconds);
  r.gflops_all = r.threads == 1 ? r.gflops_per_core : (f64 ? run<double>(r.threads, seconds) : run<float>(r.threads, seconds));
  return r;
}

}  // namespace loupe::kernels
