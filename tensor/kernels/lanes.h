// A vector of a fixed *logical* width, the same on every instruction set: 64 bytes (16 floats or
// 8 doubles), held in one AVX-512 register, two AVX2 registers or four SSE/NEON registers.
// Reductions accumulate in Lanes<T> and finish with hsum/hmax, whose order is spelled out here,
// so a sum has the same bits on AVX2, AVX-512 and NEON (docs/design.md, determinism circle 3): lane l
// sums elements l, l + 16, l + 32, ... of a row in order, and the 16 lane totals are added
// pairwise (l + 8, then l + 4, l + 2, l + 1). Row tails are loaded with a neutral pad value
// (0 for sums, -inf for a max) into the same lanes rather than summed by a scalar loop.
// Each operation is lane-wise and correctly rounded (add, sub, mul, div, fma, max), so the split
// into physical registers cannot change a result.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tensor/simd.h"

namespace loupe::kernels {

template <typename T>
struct Lanes {
  using B = xsimd::batch<T>;
  static constexpr int64_t size = 64 / int64_t(sizeof(T));  // logical lanes
  static constexpr int N = int(size / int64_t(B::size));      // physical registers
  static_assert(N >= 1 && N * int64_t(B::size) == size, "Lanes: the vector width must divide 64 bytes");
  B r[N];

  Lanes() = default;
  explicit Lanes(T v) {
    for (int k = 0; k < N; ++k) r[k] = B(v);
  }
  static Lanes load(const T* p) {
    Lanes x;
    for (int k = 0; k < N; ++k) x.r[k] = B::load_unaligned(p + k * B::size);
    return x;
  }
  // The first m (< size) values from p, the other lanes `pad`.
  static Lanes load_partial(const T* p, int64_t m, T pad) {
    alignas(64) T buf[size];
    for (int64_t j = 0; j < size; ++j) buf[j] = j < m ? p[j] : pad;
    return load(buf);
  }
  void store(T* p) const {
    for (int k = 0; k < N; ++k) r[k].store_unaligned(p + k * B::size);
  }
  void store_partial(T* p, int64_t m) const {
    alignas(64) T buf[size];
    store(buf);
    std::memcpy(p, buf, size_t(std::min<int64_t>(m, size)) * sizeof(T));  // m < size; the min says so to GCC
  }
  // f applied to each physical register: f must be lane-wise (xsimd's math functions are).
  template <typename F>
  Lanes map(F&& f) const {
    Lanes y;
    for (int k = 0; k < N; ++k) y.r[k] = f(r[k]);
    return y;
  }
  template <typename F>
  static Lanes zip(const Lanes& a, const Lanes& b, F&& f) {
    Lanes y;
    for (int k = 0; k < N; ++k) y.r[k] = f(a.r[k], b.r[k]);
    return y;
  }
  Lanes& operator+=(const Lanes& o) { return *this = *this + o; }
  Lanes& operator-=(const Lanes& o) { return *this = *this - o; }
  Lanes& operator*=(const Lanes& o) { return *this = *this * o; }
  friend Lanes operator+(const Lanes& a, const Lanes& b) { return zip(a, b, [](B x, B y) { return x + y; }); }
  friend Lanes operator-(const Lanes& a, const Lanes& b) { return zip(a, b, [](B x, B y) { return x - y; }); }
  friend Lanes operator*(const Lanes& a, const Lanes& b) { return zip(a, b, [](B x, B y) { return x * y; }); }
  friend Lanes operator/(const Lanes& a, const Lanes& b) { return zip(a, b, [](B x, B y) { return x / y; }); }
  friend Lanes operator-(const Lanes& a) { return a.map([](B x) { return -x; }); }
};

// Three-operand lane-wise ops (each one rounding): a·b + c, c - a·b, a·b - c.
template <typename T, typename F>
Lanes<T> zip3(const Lanes<T>& a, const Lanes<T>& b, const Lanes<T>& c, F&& f) {
  Lanes<T> y;
  for (int k = 0; k < Lanes<T>::N; ++k) y.r[k] = f(a.r[k], b.r[k], c.r[k]);
  return y;
}
template <typename T>
Lanes<T> fma(const Lanes<T>& a, const Lanes<T>& b, const Lanes<T>& c) {
  return zip3(a, b, c, [](auto x, auto y, auto z) { return xsimd::fma(x, y, z); });
}
template <typename T>
Lanes<T> fnma(const Lanes<T>& a, const Lanes<T>& b, const Lanes<T>& c) {
  return zip3(a, b, c, [](auto x, auto y, auto z) { return xsimd::fnma(x, y, z); });
}
template <typename T>
Lanes<T> fms(const Lanes<T>& a, const Lanes<T>& b, const Lanes<T>& c) {
  return zip3(a, b, c, [](auto x, auto y, auto z) { return xsimd::fms(x, y, z); });
}
template <typename T>
Lanes<T> max(const Lanes<T>& a, const Lanes<T>& b) {
  return Lanes<T>::zip(a, b, [](auto x, auto y) { return xsimd::max(x, y); });
}
template <typename T>
Lanes<T> min(const Lanes<T>& a, const Lanes<T>& b) {
  return Lanes<T>::zip(a, b, [](auto x, auto y) { return xsimd::min(x, y); });
}

// Σ of the lanes in the fixed order above (pairwise, halves first).
template <typename T>
T hsum(const Lanes<T>& a) {
  alignas(64) T v[Lanes<T>::size];
  a.store(v);
  for (int64_t w = Lanes<T>::size / 2; w >= 1; w /= 2)
    for (int64_t l = 0; l < w; ++l) v[l] += v[l + w];
  return v[0];
}
// max of the lanes (order does not matter for max, except NaN: any NaN lane gives NaN).
template <typename T>
T hmax(const Lanes<T>& a) {
  alignas(64) T v[Lanes<T>::size];
  a.store(v);
  T m = v[0];
  for (int64_t l = 1; l < Lanes<T>::size; ++l) m = (v[l] > m || v[l] != v[l]) ? v[l] : m;
  return m;
}
template <typename T>
T hmin(const Lanes<T>& a) {
  alignas(64) T v[Lanes<T>::size];
  a.store(v);
  T m = v[0];
  for (int64_t l = 1; l < Lanes<T>::size; ++l) m = (v[l] < m || v[l] != v[l]) ? v[l] : m;
  return m;
}

// exp and log of one value through xsimd's vector code, so a scalar result (a row's log-sum-exp,
// a tail element) rounds as the vector lanes do, whatever the C library's expf/logf would give.
template <typename T>
T exp1(T x) {
  return xsimd::exp(xsimd::batch<T>(x)).get(0);
}
template <typename T>
T log1(T x) {
  return xsimd::log(xsimd::batch<T>(x)).get(0);
}

}  // namespace loupe::kernels
