// GEMM blocking parameters: one table per instruction set, chosen at compile
// time from xsimd's default architecture (the build uses -march=native).
//   MR x NR  register tile of the micro-kernel (NR = NV SIMD vectors of T),
//   KC       depth of a packed panel (the K-sum of every C element runs in
//            KC-sized blocks in increasing k: this is what fixes the rounding, so it is
//            kGemmKC on every ISA: the same bits on AVX2, AVX-512 and NEON),
//   MC x KC  packed block of A, kept in L2 (blocks are evened out to at most MC rows),
//   KC x NC  packed panel of B (K is cut into equal blocks of at most KC).
// The values were picked by measurement with `loupe bench gemm` (AMD Zen 4 for AVX-512; the f32
// AVX-512 tile was re-measured on an Intel Sapphire Rapids VM, see below).
#pragma once
#include "tensor/simd.h"

namespace loupe::kernels {

template <typename T>
struct GemmBlocking;

// One K-block depth for every instruction set (docs/design.md, determinism circle 3). 384 measured
// better than 256 on both AVX-512 and AVX2 (Zen 4, 2 threads: 1024³ 191 vs 173 and 178 vs 152
// GFLOP/s median; 16384×1536×384 Bᵀ 212 vs 182 and 208 vs 142).
inline constexpr int kGemmKC = 384;

#if XSIMD_WITH_AVX512F
inline constexpr const char* kGemmIsa = "avx512";
// 8 x 48 (24 accumulators, 3 B vectors, 1 broadcast) beat 14 x 32 on a 2-vCPU Sapphire Rapids
// (2026-12-07, 5 interleaved runs of the best of 8): 2048³ 161–164 vs 150–156 GFLOP/s on 1
// thread; 384×1536×16384 Aᵀ 268–279 vs 257–264 on 2 (docs/performance.md).
// Tile shape never changes a result's bits (each element's K-sum order is fixed by KC alone).
template <>
struct GemmBlocking<float> {
  static constexpr int MR = 8, NV = 3, MC = 168, KC = kGemmKC, NC = 3072;
};
template <>
struct GemmBlocking<double> {
  static constexpr int MR = 14, NV = 2, MC = 112, KC = kGemmKC, NC = 1536;
};
#elif XSIMD_WITH_AVX2 && XSIMD_WITH_FMA3_AVX2
inline constexpr const char* kGemmIsa = "avx2";
template <>
struct GemmBlocking<float> {
  static constexpr int MR = 6, NV = 2, MC = 144, KC = kGemmKC, NC = 3072;
};
template <>
struct GemmBlocking<double> {
  static constexpr int MR = 6, NV = 2, MC = 96, KC = kGemmKC, NC = 1536;
};
#else  // generic xsimd fallback (SSE, NEON, ...): 128-bit vectors
inline constexpr const char* kGemmIsa = "generic";
template <>
struct GemmBlocking<float> {
  static constexpr int MR = 4, NV = 2, MC = 128, KC = kGemmKC, NC = 2048;
};
template <>
struct GemmBlocking<double> {
  static constexpr int MR = 4, NV = 2, MC = 64, KC = kGemmKC, NC = 1024;
};
#endif

template <typename T>
inline constexpr int gemm_nr = GemmBlocking<T>::NV * int(xsimd::batch<T>::size);

}  // namespace loupe::kernels
