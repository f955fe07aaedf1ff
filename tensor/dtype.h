// Element types: f32 (training default) and f64 (gradcheck, audit shadow runs).
#pragma once
#include <cstddef>
#include <string>
#include <type_traits>

#include "tensor/error.h"

namespace loupe {

enum class DType { F32, F64 };

inline size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 8; }
inline const char* dtype_name(DType d) { return d == DType::F32 ? "f32" : "f64"; }

template <typename T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "loupe supports float and double");
  return std::is_same_v<T, float> ? DType::F32 : DType::F64;
}

}  // namespace loupe

// LOUPE_DISPATCH(dtype, T, body): runs body with T = float or double.
#define LOUPE_DISPATCH(dt, T, ...)                  \
  switch (dt) {                                     \
    case ::loupe::DType::F32: {                     \
      using T = float;                              \
      __VA_ARGS__;                                  \
      break;                                        \
    }                                               \
    case ::loupe::DType::F64: {                     \
      using T = double;                             \
      __VA_ARGS__;                                  \
      break;                                        \
    }                                               \
  }
