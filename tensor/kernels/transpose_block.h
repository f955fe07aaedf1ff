// Square block transposes for GEMM packing: rows of a row-major operand become the
// columns a packed micro-panel wants. With AVX-512, a 16 x 16 f32 block is moved with
// 64 in-register shuffles instead of 256 scalar loads and stores.
#pragma once
#include <cstdint>

#include "tensor/simd.h"
#if XSIMD_WITH_AVX512F
#include <immintrin.h>
#endif

namespace loupe::kernels {

#if XSIMD_WITH_AVX512F
inline constexpr bool kHaveTranspose16 = true;

// Reads `rows` (<= 16) rows of 16 floats, row r at src + r·src_stride (rows past `rows`
// count as zeros), and writes column c (its first `width` <= 16 values, i.e. rows 0..width-1)
// to dst + c·dst_stride, for c = 0..15.
inline void transpose16(const float* src, int64_t src_stride, int rows, float* dst, int64_t dst_stride, int width) {
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
#else
inline constexpr bool kHaveTranspose16 = false;
inline void transpose16(const float*, int64_t, int, float*, int64_t, int) {}
#endif

}  // namespace loupe::kernels
