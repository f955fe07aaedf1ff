// Measured FMA peak of this machine: a tight loop of independent xsimd FMAs
// (enough accumulators to hide the FMA latency), the ceiling GEMM is judged against.
#pragma once
#include <cstdint>

namespace loupe::kernels {

struct PeakResult {
  double gflops_per_core = 0;  // one thread
  double gflops_all = 0;       // `threads` threads at once
  int threads = 1;
  int vector_bits = 0;  // SIMD width of the loop
};

// f32 (or f64 when `f64`) FMA throughput, timed by each thread's CPU time (so other work on
// the machine does not lower it); each thread runs for about `seconds`.
PeakResult measure_fma_peak(bool f64 = false, double seconds = 0.2, int threads = 0 /* 0: all */);

}  // namespace loupe::kernels
