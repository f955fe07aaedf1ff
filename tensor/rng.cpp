#include "tensor/rng.h"

#include <cmath>

namespace loupe {

std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t stream, uint64_t counter) {
  // Philox constants from the Random123 paper.
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
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
