// Errors: every misuse throws loupe::Error with a message naming the op and the shapes.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace loupe {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A file that does not exist or cannot be opened for reading (the Python API raises
// FileNotFoundError for it; everything else treats it as any Error).
struct FileError : Error {
  using Error::Error;
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
// LOUPE_CHECK_FILE(cond, ...): the same, throwing loupe::FileError (a missing or unreadable file).
#define LOUPE_CHECK_FILE(cond, ...)                                        \
  do {                                                                     \
    if (!(cond)) throw ::loupe::FileError(::loupe::detail::cat(__VA_ARGS__)); \
  } while (0)
