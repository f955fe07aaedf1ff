// Square block transposes for GEMM and attention packing: rows of a row-major operand become
// the columns a packed panel wants. One block is kTransposeBlock x kTransposeBlock floats moved
// through registers: 16 x 16 with AVX-512 (64 shuffles instead of 256 scalar loads and stores),
// 8 x 8 with AVX2 (24 shuffles instead of 64). Other targets have none (kTransposeBlock = 0)
// and the callers' scalar loops do the whole copy. A transpose only moves values, so the bits
// of every result are the same whichever path packed them.
//
// transpose_block(src, src_stride, rows, dst, dst_stride, width): reads `rows` (<= block) rows
// of `block` floats, row r at src + r·src_stride (rows past `rows` count as zeros), and writes
// column c — its first `width` (<= block) values, i.e. rows 0..width-1 — to dst + c·dst_stride,
// for c = 0..block-1. Nothing past those `width` values of each column is written.
#pragma once
#include <cstdint>

#include "tensor/simd.h"
#if XSIMD_WITH_AVX512F || XSIMD_WITH_AVX2
#include <immintrin.h>
#endif

namespace loupe::kernels {

#if XSIMD_WITH_AVX512F
inline constexpr int kTransposeBlock = 16;

inline void transpose_block(const float* src, int64_t src_stride, int rows, float* dst, int64_t dst_stride,
                            int width) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_loadu_ps(src + i * src_stride) : _mm512_setzero_ps();
  // Per 128-bit lane L: t[2i] = (r2i[4L], r2i+1[4L], r2i[4L+1], r2i+1[4L+1]), t[2i+1] the next two columns.
  for (int i = 0; i < 8; ++i) t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  // r[4g + k], lane L = rows 4g..4g+3 of column 4L + k.
  for (int g = 0; g < 4; ++g) {
    r[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  // t[8h + k] = (group 2h col k, group 2h col 8+k, group 2h+1 col k, group 2h+1 col 8+k) by lane,
  // t[8h + 4 + k] the same for columns 4+k and 12+k (h: rows 0-7 or 8-15; a group is 4 rows).
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 4; ++k) {
      t[8 * h + k] = _mm512_shuffle_f32x4(r[8 * h + k], r[8 * h + 4 + k], 0x88);
      t[8 * h + 4 + k] = _mm512_shuffle_f32x4(r[8 * h + k], r[8 * h + 4 + k], 0xDD);
    }
  // Column m is lanes 0 and 2 of t[m] and t[8 + m]; column m + 8 is lanes 1 and 3.
  const __mmask16 mask = __mmask16((1u << width) - 1u);
  for (int m = 0; m < 8; ++m) {
    _mm512_mask_storeu_ps(dst + m * dst_stride, mask, _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88));
    _mm512_mask_storeu_ps(dst + (m + 8) * dst_stride, mask, _mm512_shuffle_f32x4(t[m], t[8 + m], 0xDD));
  }
}

#elif XSIMD_WITH_AVX2
inline constexpr int kTransposeBlock = 8;

// The first `width` values of v to dst, in 4-, 2- and 1-float stores (AVX2's masked store is
// slow on AMD, and GEMM's A panels want 6 of the 8).
inline void store_first(float* dst, __m256 v, int width) {
  if (width == 8) return _mm256_storeu_ps(dst, v);
  __m128 part = _mm256_castps256_ps128(v);
  if (width >= 4) {
    _mm_storeu_ps(dst, part);
    part = _mm256_extractf128_ps(v, 1);
    dst += 4;
    width -= 4;
  }
  if (width >= 2) {
    _mm_storel_pi(reinterpret_cast<__m64*>(dst), part);
    part = _mm_movehl_ps(part, part);
    dst += 2;
    width -= 2;
  }
  if (width == 1) _mm_store_ss(dst, part);
}

inline void transpose_block(const float* src, int64_t src_stride, int rows, float* dst, int64_t dst_stride,
                            int width) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_loadu_ps(src + i * src_stride) : _mm256_setzero_ps();
  // Per 128-bit half H: t[2i] = (r2i[4H], r2i+1[4H], r2i[4H+1], r2i+1[4H+1]), t[2i+1] the next two columns.
  for (int i = 0; i < 4; ++i) t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]), t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  // r[4g + k], half H = rows 4g..4g+3 of column 4H + k.
  for (int g = 0; g < 2; ++g) {
    r[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  // Column k is the low halves of r[k] (rows 0-3) and r[4 + k] (rows 4-7); column 4 + k the high halves.
  for (int k = 0; k < 4; ++k) {
    store_first(dst + k * dst_stride, _mm256_permute2f128_ps(r[k], r[4 + k], 0x20), width);
    store_first(dst + (k + 4) * dst_stride, _mm256_permute2f128_ps(r[k], r[4 + k], 0x31), width);
  }
}

#else
inline constexpr int kTransposeBlock = 0;
inline void transpose_block(const float*, int64_t, int, float*, int64_t, int) {}
#endif

// True when this target has register transposes and `n` is a whole number of blocks. (Written
// with max(., 1): `n % kTransposeBlock` alone is folded and warned about, -Wdiv-by-zero, where
// the block is 0, even behind `kTransposeBlock > 0 &&`.)
constexpr bool whole_transpose_blocks(int64_t n) {
  return kTransposeBlock > 0 && n % (kTransposeBlock > 0 ? kTransposeBlock : 1) == 0;
}

}  // namespace loupe::kernels
