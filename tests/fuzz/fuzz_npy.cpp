// The .npy reader (tensor/npy.cpp) on arbitrary bytes; whatever it accepts must write back
// (npy_bytes) and read again to the same dtype, shape and bytes.
#include <cstring>

#include "tensor/npy.h"
#include "tests/fuzz/fuzz.h"

using namespace loupe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::refusal_ok([&] {
    const Tensor t = parse_npy(fuzz::bytes(data, size), "fuzz.npy");
    const Tensor back = parse_npy(npy_bytes(t), "round trip");
    const size_t nb = size_t(t.numel()) * dtype_size(t.dtype());
    if (back.shape() != t.shape() || back.dtype() != t.dtype()) __builtin_trap();
    if (nb && std::memcmp(back.contiguous().raw_data(), t.contiguous().raw_data(), nb)) __builtin_trap();
  });
  return 0;
}
