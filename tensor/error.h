// Errors: every misuse throws loupe::Error with a message naming the op and the shapes.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace loupe {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace loupe

// LOUPE_CHECK(cond, "op: ", a, " vs ", b) throws loupe::Error with the pieces joined.
#define LOUPE_CHECK(cond, ...)                                        \
  do {                                                                \
    if (!(cond)) throw ::loupe::Error(::loupe::detail::cat(__VA_ARGS__)); \
  } while (0)
