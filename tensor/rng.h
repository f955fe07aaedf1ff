// Counter-based RNG (Philox4x32-10, Salmon et al. 2011): the random numbers
// are a pure function of (seed, stream, counter), so dropout masks and batch
// sampling never depend on threading or call order.
#pragma once
#include <array>
#include <cstdint>

namespace loupe {

std::array<uint32_t, 4> philox4x32(uint64_t seed, uint64_t stream, uint64_t counter);

// The words of n consecutive blocks: out[4·b + w] = philox4x32(seed, stream, first + b)[w] for
// b < n. The same numbers as the scalar function, 16 blocks at a time where AVX-512 is available.
void philox4x32_blocks(uint64_t seed, uint64_t stream, uint64_t first, int64_t n, uint32_t* out);

// Uniform in [0, 1) from the 32-bit word `i` (0..3) of block `counter`.
inline float u32_to_unit_float(uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
inline double u64_to_unit_double(uint64_t x) { return double(x >> 11) * (1.0 / 9007199254740992.0); }

// The n-th uniform [0,1) double of the (seed, stream) sequence.
double philox_uniform(uint64_t seed, uint64_t stream, uint64_t n);
// The n-th standard normal of the (seed, stream) sequence (Box-Muller on one Philox block).
double philox_normal(uint64_t seed, uint64_t stream, uint64_t n);

}  // namespace loupe
