// Threading: OpenMP with static schedules. Work is cut into chunks whose
// boundaries depend only on the problem size (never on the thread count), so
// every result is bitwise identical for any number of threads.
#pragma once
#include <algorithm>
#include <cstdint>

#include <omp.h>

namespace loupe {

inline void set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
inline int get_num_threads() { return omp_get_max_threads(); }

// Calls f(begin, end) over [0, n) in chunks of `grain` (last chunk shorter).
// Runs serially when there is less than one chunk of work or when already
// inside a parallel region.
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}

}  // namespace loupe
