// Dropout masks from the counter-based Philox generator: element `index` of a
// mask is kept iff its 32-bit random word is >= p·2³². The word comes from
// Philox block (seed, stream = counter, block = index / 4), word index % 4, so a
// mask is a pure function of (seed, counter, index): any thread, any order.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>

#include "tensor/rng.h"

namespace loupe::kernels {

inline uint64_t dropout_threshold(double p) {  // keep iff word >= threshold
  return p <= 0 ? 0 : p >= 1 ? (uint64_t(1) << 32) : uint64_t(std::ceil(p * 4294967296.0));
}

// Walks indices mostly in increasing order, computing each Philox block once.
struct DropoutMask {
  uint64_t seed, counter, threshold;
  uint64_t block = ~uint64_t(0);
  std::array<uint32_t, 4> words{};
  DropoutMask(uint64_t seed_, uint64_t counter_, double p) : seed(seed_), counter(counter_), threshold(dropout_threshold(p)) {}
  bool keep(uint64_t index) {
    if (index / 4 != block) {
      block = index / 4;
      words = philox4x32(seed, counter, block);
    }
    return uint64_t(words[index % 4]) >= threshold;
  }
  // keep(i0 + j) for j < n as flags.
  void keep_run(uint64_t i0, int64_t n, bool* flags) const {
    if (threshold >> 32) {  // p = 1: every element dropped
      std::fill_n(flags, n, false);
      return;
    }
    const uint32_t t = uint32_t(threshold);  // a 32-bit compare, so the loop vectorizes
    words_run(i0, n, [&](int64_t j0, int64_t m, const uint32_t* w) {
      for (int64_t j = 0; j < m; ++j) flags[j0 + j] = w[j] >= t;
    });
  }
  // out[j] = keep(i0 + j) ? in[j]·scale : 0 for j < n; in may be out. A select, not a branch: the
  // pattern is random, and a branch mispredicts about once in 1/p elements (measured: the branchy
  // loop made the dropout op 5x slower than making its mask).
  template <typename T>
  void apply(uint64_t i0, int64_t n, const T* in, T* out, T scale) const {
    if (threshold >> 32) {
      std::fill_n(out, n, T(0));
      return;
    }
    const uint32_t t = uint32_t(threshold);
    words_run(i0, n, [&](int64_t j0, int64_t m, const uint32_t* w) {
      const T* x = in + j0;
      T* y = out + j0;
#ifndef __clang__  // GCC's pragma (clang warns on it; its only build here is the fuzz build)
#pragma GCC ivdep  // y[j] depends on x[j] alone, whether or not y is x
#endif
      for (int64_t j = 0; j < m; ++j) {
        const T v = x[j] * scale;
        y[j] = w[j] >= t ? v : T(0);
      }
    });
  }

 private:
  // f(j0, m, w) for the pieces [j0, j0 + m) of [0, n), w[j] being the word of index i0 + j0 + j,
  // from whole blocks made a vector at a time (philox4x32_blocks: 16 with AVX-512, 8 with AVX2).
  template <typename F>
  void words_run(uint64_t i0, int64_t n, F&& f) const {
    constexpr int64_t kPiece = 1024;
    alignas(64) uint32_t w[kPiece + 8];
    for (int64_t j0 = 0; j0 < n; j0 += kPiece) {
      const int64_t m = std::min(kPiece, n - j0);
      const uint64_t first = i0 + uint64_t(j0), off = first % 4;
      philox4x32_blocks(seed, counter, first / 4, int64_t((off + uint64_t(m) + 3) / 4), w);
      f(j0, m, w + off);
    }
  }
};

}  // namespace loupe::kernels
