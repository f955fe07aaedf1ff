#include "tensor/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace loupe {

std::string read_file(const std::string& path) {
  // Files only: a device or a pipe named in a trace or config (/dev/zero) would never end.
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  LOUPE_CHECK(ec || !std::filesystem::exists(st) || std::filesystem::is_regular_file(st), "cannot read '", path,
              "': not a regular file");
  std::ifstream f(path, std::ios::binary);
  LOUPE_CHECK_FILE(f, "cannot open '", path, "': ", std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  LOUPE_CHECK(!f.bad(), "error reading '", path, "'");
  return ss.str();
}

static bool write_all(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return false;
    done += size_t(w);
  }
  return true;
}

void write_file_atomic(const std::string& path, const std::vector<std::string_view>& parts) {
  // A name of its own per writer: processes (MPI ranks building the same token cache) or threads
  // writing the same path at once each rename a whole file over it; the last rename wins.
  static std::atomic<uint64_t> writes{0};
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(writes++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  LOUPE_CHECK(fd >= 0, "cannot write '", tmp, "': ", std::strerror(errno));
  bool ok = true;
  for (auto p : parts) ok = ok && write_all(fd, p);
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ok = ::close(fd) == 0 && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    LOUPE_CHECK(false, "error writing '", tmp, "': ", std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    LOUPE_CHECK(false, "cannot rename '", tmp, "' to '", path, "': ", std::strerror(e));
  }
  // Make the rename itself durable: fsync the directory.
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace loupe
