// The safetensors reader (nn/safetensors.cpp) on arbitrary bytes. What it accepts must save and
// parse back to the same tensors. A custom mutator keeps the header valid JSON with plausible
// dtypes, shapes and offsets now and then, so mutations reach the checks behind the JSON parse.
#include <cstring>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"
#include "tests/fuzz/fuzz.h"

using namespace loupe;

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::map<std::string, std::string> meta;
  std::map<std::string, Tensor> t;
  bool ok = false;
  fuzz::refusal_ok([&] {
    t = nn::parse_safetensors(fuzz::bytes(data, size), "fuzz.safetensors", &meta);
    ok = true;
  });
  if (!ok) return 0;
  // Every accepted tensor has the memory its shape claims, counted here without the library's
  // helpers (in 128 bits, so nothing wraps): a reader that wraps a byte count fails this.
  for (auto& [name, v] : t) {
    unsigned __int128 need = dtype_size(v.dtype());
    for (auto d : v.shape()) need *= (unsigned __int128)(uint64_t)d;
    if (!v.storage() || (unsigned __int128)v.storage()->nbytes < need) __builtin_trap();
  }
  const std::string path = fuzz::write_scratch("round.safetensors", "");
  nn::save_safetensors(path, t, meta);
  std::map<std::string, std::string> meta2;
  const auto back = nn::load_safetensors(path, &meta2);
  if (back.size() != t.size() || meta2 != meta) __builtin_trap();
  for (auto& [name, v] : t) {
    const Tensor& b = back.at(name);
    const size_t nb = size_t(v.numel()) * dtype_size(v.dtype());
    if (b.shape() != v.shape() || b.dtype() != v.dtype()) __builtin_trap();
    if (nb && std::memcmp(b.contiguous().raw_data(), v.contiguous().raw_data(), nb)) __builtin_trap();
  }
  return 0;
}

// Structured mutation: half the time, parse the header as JSON and change one field of one
// tensor entry (dtype, a shape dim, an offset) or its name, then re-serialise with a correct length.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned seed) {
  std::mt19937 rng(seed);
  if (size >= 8 && rng() % 2) {
    uint64_t n = 0;
    std::memcpy(&n, data, 8);
    if (n <= size - 8) {
      const auto h = nlohmann::json::parse(std::string(reinterpret_cast<char*>(data) + 8, size_t(n)), nullptr, false);
      if (h.is_object() && !h.empty()) {
        nlohmann::json j = h;
        auto it = j.begin();
        std::advance(it, rng() % j.size());
        if (it.value().is_object() && it.key() != "__metadata__") {
          auto& e = it.value();
          static const char* kDtypes[] = {"F32", "F64", "I64", "F16", "BF16", "I32", "U8", "BOOL", ""};
          static const int64_t kVals[] = {0, 1, 2, 3, 7, 64, 65536, -1, int64_t(1) << 40, int64_t(1) << 62};
          switch (rng() % 5) {
            case 0: e["dtype"] = kDtypes[rng() % 9]; break;
            case 1:
              if (e["shape"].is_array() && !e["shape"].empty()) e["shape"][rng() % e["shape"].size()] = kVals[rng() % 10];
              else e["shape"] = nlohmann::json::array({kVals[rng() % 10]});
              break;
            case 2: e["shape"].push_back(kVals[rng() % 4]); break;
            case 3:
              if (e["data_offsets"].is_array() && e["data_offsets"].size() == 2) {
                auto& off = e["data_offsets"][rng() % 2];  // nudge an offset by -4..4 (integers only)
                off = off.is_number_integer() && !off.is_number_unsigned() ? off.get<int64_t>() + int64_t(rng() % 9) - 4
                      : off.is_number_unsigned() && off.get<uint64_t>() < (uint64_t(1) << 62)
                          ? int64_t(off.get<uint64_t>()) + int64_t(rng() % 9) - 4
                          : 0;
              }
              break;
            default: j[it.key() + std::to_string(rng() % 10)] = e; break;
          }
          const std::string hs = j.dump();
          const std::string body(reinterpret_cast<char*>(data) + 8 + n, size - 8 - size_t(n));
          const uint64_t len = hs.size();
          std::string out(reinterpret_cast<const char*>(&len), 8);
          out += hs + body;
          if (out.size() <= max_size) {
            std::memcpy(data, out.data(), out.size());
            return out.size();
          }
        }
      }
    }
  }
  return LLVMFuzzerMutate(data, size, max_size);
}
