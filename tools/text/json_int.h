// An integer from a JSON file, in [lo, hi], or an Error "<what> must be an integer in [lo, hi], got v".
// A float, a string or a number beyond int64 is refused instead of converted (nlohmann's get<int>
// of 1e21 is undefined behaviour); a non-negative integer parses as unsigned, hence the two checks.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "tensor/error.h"

namespace loupe::tools {

inline int64_t json_int(const nlohmann::json& v, int64_t lo, int64_t hi, const std::string& what) {
  const bool in = v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(hi)) &&
                  v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  LOUPE_CHECK(in, what, " must be an integer in [", lo, ", ", hi, "], got ", v.dump());
  return v.get<int64_t>();
}

}  // namespace loupe::tools
