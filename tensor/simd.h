// xsimd, as loupe includes it: every file includes this instead of <xsimd/xsimd.hpp>.
//
// Why: the same bits on every ISA needs every fused multiply-add to be one (docs/design.md,
// determinism circle 3). xsimd 8.1 (Debian 12) fuses xsimd::fma/fms/fnma/fnms on FMA3 AVX2 and
// NEON's fma/fms, but on AVX-512 — and NEON's fnma/fnms — it computes x*y + z with two
// roundings (with -ffp-contract=off nothing fuses it later). Its exp, log, tanh, erfc ... call
// these too, so their results would differ between ISAs. The explicit specialisations below
// make each of the four one correctly rounded FMA on those targets, and f32 division and
// square root on NEON the IEEE instructions instead of xsimd's estimate + Newton steps;
// x86-64-v3, x86-64-v4 and aarch64 then run the same arithmetic. A build without FMA hardware (plain SSE) cannot: it
// gives other bits (docs/numerics.md, "Same bits everywhere"). tests/test_simd.cpp checks all four.
#pragma once
// GCC 12's AVX-512 intrinsics start from `__m512 __Y = __Y;` (_mm512_undefined_ps and kin) and,
// once inlined into our kernels, warn that __Y may be used uninitialised: thousands of lines of
// false positives (GCC bug 105593, fixed in GCC 13). Silenced for the lines of the intrinsic
// headers only (included here first, through xsimd); our own code keeps both warnings.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && defined(__x86_64__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
#include <xsimd/xsimd.hpp>

#define LOUPE_FUSED_SPECIALISATIONS(T, ARCH, FMA)                                                             \
  template <>                                                                                                 \
  inline batch<T, ARCH> fma<T, ARCH>(batch<T, ARCH> const& x, batch<T, ARCH> const& y,                        \
                                     batch<T, ARCH> const& z) noexcept {                                      \
    return FMA(x, y, z);                                                                                      \
  }                                                                                                           \
  template <>                                                                                                 \
  inline batch<T, ARCH> fms<T, ARCH>(batch<T, ARCH> const& x, batch<T, ARCH> const& y,                        \
                                     batch<T, ARCH> const& z) noexcept {                                      \
    return FMA(x, y, batch<T, ARCH>(-z));                                                                     \
  }                                                                                                           \
  template <>                                                                                                 \
  inline batch<T, ARCH> fnma<T, ARCH>(batch<T, ARCH> const& x, batch<T, ARCH> const& y,                       \
                                      batch<T, ARCH> const& z) noexcept {                                     \
    return FMA(batch<T, ARCH>(-x), y, z);                                                                     \
  }                                                                                                           \
  template <>                                                                                                 \
  inline batch<T, ARCH> fnms<T, ARCH>(batch<T, ARCH> const& x, batch<T, ARCH> const& y,                       \
                                      batch<T, ARCH> const& z) noexcept {                                     \
    return FMA(batch<T, ARCH>(-x), y, batch<T, ARCH>(-z));                                                    \
  }

namespace xsimd {
#if XSIMD_WITH_AVX512F
#define LOUPE_AVX512_FUSED(ARCH)                                                                       \
  LOUPE_FUSED_SPECIALISATIONS(float, ARCH, [](auto a, auto b, auto c) { return _mm512_fmadd_ps(a, b, c); }) \
  LOUPE_FUSED_SPECIALISATIONS(double, ARCH, [](auto a, auto b, auto c) { return _mm512_fmadd_pd(a, b, c); })
LOUPE_AVX512_FUSED(avx512f)
#if XSIMD_WITH_AVX512CD
LOUPE_AVX512_FUSED(avx512cd)
#endif
#if XSIMD_WITH_AVX512DQ
LOUPE_AVX512_FUSED(avx512dq)
#endif
#if XSIMD_WITH_AVX512BW
LOUPE_AVX512_FUSED(avx512bw)
#endif
#undef LOUPE_AVX512_FUSED
#endif
#if XSIMD_WITH_NEON64
// vfmaq(z, x, y) = z + x·y, one rounding.
LOUPE_FUSED_SPECIALISATIONS(float, neon64, [](auto a, auto b, auto c) { return vfmaq_f32(c, a, b); })
LOUPE_FUSED_SPECIALISATIONS(double, neon64, [](auto a, auto b, auto c) { return vfmaq_f64(c, a, b); })
// xsimd 8.1 divides and takes square roots of floats on NEON by reciprocal estimates and
// Newton steps (ARMv7 has no vector divide); AArch64 has the correctly rounded instructions.
template <>
inline batch<float, neon64>& batch<float, neon64>::operator/=(batch<float, neon64> const& other) noexcept {
  return *this = batch<float, neon64>(vdivq_f32(*this, other));
}
template <>
inline batch<float, neon64> sqrt<float, neon64>(batch<float, neon64> const& x) noexcept {
  return vsqrtq_f32(x);
}
#endif
}  // namespace xsimd

#undef LOUPE_FUSED_SPECIALISATIONS
