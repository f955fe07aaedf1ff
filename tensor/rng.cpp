#include "tensor/rng.h"

#include <algorithm>
#include <cmath>

#if defined(__AVX512F__) || defined(__AVX2__)
#include "tensor/simd.h"  // <immintrin.h>, with GCC 12's false warnings silenced
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

// Many blocks at once, one per 32-bit vector lane: the same rounds as philox4x32, with the
// 32 x 32 -> 64-bit products taken as even lanes and odd lanes (mul_epu32 multiplies the low
// halves of 64-bit lanes). Words holds the few vector operations of one instruction set.
#if defined(__AVX512F__)
struct Words {
  using V = __m512i;
  static constexpr int lanes = 16;
  static V load(const uint32_t* p) { return _mm512_loadu_si512(p); }
  static void store(uint32_t* p, V v) { _mm512_storeu_si512(p, v); }
  static V set1(uint32_t x) { return _mm512_set1_epi32(int(x)); }
  static V mullo(V a, V b) { return _mm512_mullo_epi32(a, b); }
  static V xor3(V a, V b, V c) { return _mm512_xor_si512(_mm512_xor_si512(a, b), c); }
  static V mulhi(V a, V m) {  // high 32 bits of a·m per 32-bit lane
    const V even = _mm512_srli_epi64(_mm512_mul_epu32(a, m), 32), odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), m);
    return _mm512_mask_blend_epi32(0xAAAA, even, odd);
  }
};
#elif defined(__AVX2__)
struct Words {
  using V = __m256i;
  static constexpr int lanes = 8;
  static V load(const uint32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const V*>(p)); }
  static void store(uint32_t* p, V v) { _mm256_storeu_si256(reinterpret_cast<V*>(p), v); }
  static V set1(uint32_t x) { return _mm256_set1_epi32(int(x)); }
  static V mullo(V a, V b) { return _mm256_mullo_epi32(a, b); }
  static V xor3(V a, V b, V c) { return _mm256_xor_si256(_mm256_xor_si256(a, b), c); }
  static V mulhi(V a, V m) {  // high 32 bits of a·m per 32-bit lane
    const V even = _mm256_srli_epi64(_mm256_mul_epu32(a, m), 32), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
    return _mm256_blend_epi32(even, odd, 0xAA);
  }
};
#endif

#if defined(__AVX512F__) || defined(__AVX2__)
constexpr int64_t kVectorBlocks = Words::lanes;
// Blocks first .. first + lanes - 1 of (seed, stream), words in the order of philox4x32.
static void philox_lanes(uint64_t seed, uint64_t stream, uint64_t first, uint32_t* out) {
  using V = Words::V;
  constexpr int L = Words::lanes;
  alignas(64) uint32_t lo[L], hi[L];
  for (int l = 0; l < L; ++l) lo[l] = uint32_t(first + uint64_t(l)), hi[l] = uint32_t((first + uint64_t(l)) >> 32);
  V c0 = Words::load(lo), c1 = Words::load(hi);
  V c2 = Words::set1(uint32_t(stream)), c3 = Words::set1(uint32_t(stream >> 32));
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  const V m0 = Words::set1(M0), m1 = Words::set1(M1);
  for (int round = 0; round < 10; ++round) {
    const V n0 = Words::xor3(Words::mulhi(c2, m1), c1, Words::set1(k0));
    const V n2 = Words::xor3(Words::mulhi(c0, m0), c3, Words::set1(k1));
    c1 = Words::mullo(c2, m1);
    c3 = Words::mullo(c0, m0);
    c0 = n0;
    c2 = n2;
    k0 += W0;
    k1 += W1;
  }
  alignas(64) uint32_t w[4][L];
  Words::store(w[0], c0), Words::store(w[1], c1), Words::store(w[2], c2), Words::store(w[3], c3);
  for (int l = 0; l < L; ++l)
    for (int k = 0; k < 4; ++k) out[4 * l + k] = w[k][l];
}
#else
constexpr int64_t kVectorBlocks = 0;
static void philox_lanes(uint64_t, uint64_t, uint64_t, uint32_t*) {}
#endif

void philox4x32_blocks(uint64_t seed, uint64_t stream, uint64_t first, int64_t n, uint32_t* out) {
  int64_t b = 0;
  if constexpr (kVectorBlocks > 0) {
    for (; b + kVectorBlocks <= n; b += kVectorBlocks) philox_lanes(seed, stream, first + uint64_t(b), out + 4 * b);
    // A remainder of more than a quarter vector is cheaper as one more whole vector (measured: one
    // vector of 16 blocks costs about as much as 4 scalar blocks), its extra blocks dropped.
    if (n - b > kVectorBlocks / 4) {
      alignas(64) uint32_t w[4 * kVectorBlocks];
      philox_lanes(seed, stream, first + uint64_t(b), w);
      std::copy_n(w, 4 * (n - b), out + 4 * b);
      return;
    }
  }
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
