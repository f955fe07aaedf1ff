// Threading: OpenMP with static schedules. Work is cut into chunks whose
// boundaries depend only on the problem size (never on the thread count), so
// every result is bitwise identical for any number of threads.
#pragma once
#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include <omp.h>

namespace loupe {

inline void set_num_threads(int n) { omp_set_num_threads(n < 1 ? 1 : n); }
inline int get_num_threads() { return omp_get_max_threads(); }

// Parallel regions entered, counted by the source file that entered them (tensor/parallel.cpp):
// a thread-invariance test proves something only where the work really was split, and this is
// how it knows (tests/test_registry.cpp). One locked increment per region, none in serial runs.
void note_parallel_region(const char* file);
std::map<std::string, int64_t> parallel_regions();  // file name (no directory) -> regions entered
void reset_parallel_regions();

// Calls f(begin, end) over [0, n) in chunks of `grain` (last chunk shorter).
// Runs serially when there is less than one chunk of work or when already
// inside a parallel region. `caller` defaults to the calling file (for the counts above;
// __builtin_FILE, which clang 14 has and std::source_location there does not).
template <typename F>
void parallel_for(int64_t n, int64_t grain, F&& f, const char* caller = __builtin_FILE()) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t chunks = (n + grain - 1) / grain;
  if (chunks == 1 || omp_in_parallel() || omp_get_max_threads() == 1) {
    for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
    return;
  }
  note_parallel_region(caller);
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) f(c * grain, std::min(n, (c + 1) * grain));
}

}  // namespace loupe
