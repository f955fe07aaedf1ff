#include "tensor/rng.h"

#include <cmath>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace loupe {

// Philox constants from the Random123 paper: round multipliers and key increments.
constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;

std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint32_t c0 = uint32_t(counter), c1 = uint32_t(counter >> 32), c2 = uint32_t(stream), c3 = uint32_t(stream >> 32);
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(M0) * c0, p1 = uint64_t(M1) * c2;
    const uint32_t n0 = uint32_t(p1 >> 32) ^ c1 ^ k0, n2 = uint32_t(p0 >> 32) ^ c3 ^ k1;
    c1 = uint32_t(p1);
    c3 = uint32_t(p0);
    c0 = n0;
    c2 = n2;
    k0 += W0;
    k1 += W1;
  }
  return {c0, c1, c2, c3};
}

#if defined(__AVX512F__)
// 16 blocks in the 16 lanes: the same rounds as philox4x32, with the 32 x 32 -> 64-bit products
// taken as even lanes and odd lanes (mul_epu32 multiplies the low halves of 64-bit lanes).
static void philox_x16(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* out) {
  alignas(64) uint32_t lo[16], hi[16];
  for (int l = 0; l < 16; ++l) lo[l] = uint32_t(first + uint64_t(l)), hi[l] = uint32_t((first + uint64_t(l)) >> 32);
  __m512i c0 = _mm512_load_si512(lo), c1 = _mm512_load_si512(hi);
  __m512i c2 = _mm512_set1_epi32(int(uint32_t(stream))), c3 = _mm512_set1_epi32(int(uint32_t(stream >> 32)));
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  const __m512i m0 = _mm512_set1_epi32(int(M0)), m1 = _mm512_set1_epi32(int(M1));
  auto mulhi = [](__m512i a, __m512i m) {  // high 32 bits of a·m per 32-bit lane
    const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(a, m), 32);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    return _mm512_mask_blend_epi32(0xAAAA, even, odd);
  };
  for (int round = 0; round < 10; ++round) {
    const __m512i h0 = mulhi(c0, m0), l0 = _mm512_mullo_epi32(c0, m0);
    const __m512i h1 = mulhi(c2, m1), l1 = _mm512_mullo_epi32(c2, m1);
    const __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(h1, c1), _mm512_set1_epi32(int(k0)));
    const __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(h0, c3), _mm512_set1_epi32(int(k1)));
    c1 = l1, c3 = l0, c0 = n0, c2 = n2;
    k0 += W0, k1 += W1;
  }
  alignas(64) uint32_t w[4][16];
  _mm512_store_si512(w[0], c0), _mm512_store_si512(w[1], c1), _mm512_store_si512(w[2], c2), _mm512_store_si512(w[3], c3);
  for (int l = 0; l < 16; ++l)
    for (int k = 0; k < 4; ++k) out[4 * l + k] = w[k][l];
}
#endif

void philox4x32_blocks(uint64_t seed, uint64_t stream, uint64_t first, int64_t n, uint32_t* out) {
  int64_t b = 0;
#if defined(__AVX512F__)
  for (; b + 16 <= n; b += 16) philox_x16(seed, stream, first + uint64_t(b), out + 4 * b);
#endif
  for (; b < n; ++b) {
    const auto r = philox4x32(seed, stream, first + uint64_t(b));
    for (int k = 0; k < 4; ++k) out[4 * b + k] = r[size_t(k)];
  }
}

double philox_uniform(uint64_t seed, uint64_t stream, uint64_t n) {
  auto r = philox4x32(seed, stream, n / 2);
  const int j = int(n % 2) * 2;
  return u64_to_unit_double((uint64_t(r[j]) << 32) | r[j + 1]);
}

double philox_normal(uint64_t seed, uint64_t stream, uint64_t n) {
  // One block gives two uniforms -> two normals (Box-Muller); element n takes one of the pair.
  auto r = philox4x32(seed, stream ^ 0x6E6F726D616CULL, n / 2);
  const double u1 = (double(r[0] >> 8) + 0.5) * (1.0 / 16777216.0) + double(r[1] >> 11) * (1.0 / 9007199254740992.0) / 16777216.0;
  const double u2 = u64_to_unit_double((uint64_t(r[2]) << 32) | r[3]);
  const double rad = std::sqrt(-2.0 * std::log(u1));
  const double ang = 2.0 * M_PI * u2;
  return (n % 2 == 0) ? rad * std::cos(ang) : rad * std::sin(ang);
}

}  // namespace loupe
