// Element types: f32 (training default), f64 (gradcheck, audit shadow runs) and
// i64 (token ids, gather/scatter indices, argmax results; not for arithmetic kernels).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "tensor/error.h"

namespace loupe {

enum class DType { F32, F64, I64 };

inline size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 8; }
inline const char* dtype_name(DType d) { return d == DType::F32 ? "f32" : d == DType::F64 ? "f64" : "i64"; }
inline bool is_floating(DType d) { return d != DType::I64; }

template <typename T>
constexpr DType dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int64_t>,
                "loupe supports float, double and int64_t");
  return std::is_same_v<T, float> ? DType::F32 : std::is_same_v<T, double> ? DType::F64 : DType::I64;
}

}  // namespace loupe

// LOUPE_DISPATCH(dtype, T, body): runs body with T = float or double (throws for i64).
#define LOUPE_DISPATCH(dt, T, ...)                  \
  switch (dt) {                                     \
    case ::loupe::DType::I64:                       \
      throw ::loupe::Error(std::string("floating-point op called on an i64 tensor (") + __func__ + ")"); \
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

// LOUPE_DISPATCH_ALL(dtype, T, body): as above, also for T = int64_t (copies, casts, element access).
#define LOUPE_DISPATCH_ALL(dt, T, ...)              \
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
    case ::loupe::DType::I64: {                     \
      using T = int64_t;                            \
      __VA_ARGS__;                                  \
      break;                                        \
    }                                               \
  }
