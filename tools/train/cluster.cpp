#include "tools/train/cluster.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "tensor/error.h"

#ifdef LOUPE_HAVE_MPI
#define OMPI_SKIP_MPICXX 1  // the C API only (OpenMPI's C++ bindings are deprecated)
#include <mpi.h>
#endif

namespace loupe::tools {

namespace {

using Clock = std::chrono::steady_clock;

// The rank count a launcher announced in the environment (0: not launched by one).
int launcher_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "SLURM_NTASKS"})
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  return std::getenv("PMIX_RANK") ? 1 : 0;
}
[[maybe_unused]] int launcher_rank() {
  for (const char* var : {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "SLURM_PROCID"})
    if (const char* v = std::getenv(var)) return std::atoi(v);
  return 0;
}

template <class T> void add_into(T* out, const T* a, const T* b, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = a[i] + b[i];
}

struct CommTimer {  // charges the scope's wall time to Cluster::comm_seconds
  double& total;
  Clock::time_point t0 = Clock::now();
  ~CommTimer() { total += std::chrono::duration<double>(Clock::now() - t0).count(); }
};

#ifdef LOUPE_HAVE_MPI
template <class T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}
#endif

}  // namespace

bool built_with_mpi() {
#ifdef LOUPE_HAVE_MPI
  return true;
#else
  return false;
#endif
}

Cluster& Cluster::single() {
  static Cluster one;
  return one;
}

namespace {
Cluster* g_world = nullptr;
}

Cluster* Cluster::world_if_joined() { return g_world; }

Cluster& Cluster::world() {
  static Cluster* w = [] {
    auto* c = new Cluster();
    const int n = launcher_size();
    if (n == 0) return c;  // not under a launcher: one process, MPI untouched
#ifdef LOUPE_HAVE_MPI
    int provided = 0;
    // Only the thread that runs the trainer calls MPI (OpenMP workers never do).
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    std::atexit(finalize_at_exit);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size_);
    c->mpi_ = true;
#else
    if (n > 1) {
      const int r = launcher_rank();
      delete c;
      throw ClusterError(
          "this loupe was built without MPI, but a launcher started it as rank " + std::to_string(r) + " of " +
              std::to_string(n) +
              ": every rank would train the whole run alone. Install OpenMPI (apt-get install openmpi-bin "
              "libopenmpi-dev) and rebuild (./run build, or meson setup --reconfigure), or run without mpirun",
          r == 0);
    }
#endif
    return c;
  }();
  g_world = w;
  return *w;
}

std::string Cluster::host() const {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "?";
  return name;
}

template <class T> void Cluster::chain_sum(T* mine, T* acc, size_t n, bool acc_valid) {
  if (size_ == 1) {
    if (acc_valid) add_into(acc, acc, mine, n);
    else std::memcpy(acc, mine, n * sizeof(T));
    return;
  }
#ifdef LOUPE_HAVE_MPI
  {
    CommTimer wait{wait_seconds};  // so that comm_seconds is the reduction alone
    MPI_Barrier(MPI_COMM_WORLD);
  }
  CommTimer timer{comm_seconds};
  reduced_bytes += n * sizeof(T);
  // The partial sum travels in `acc`: rank 0 starts it, rank r receives it from r − 1, adds its
  // own part and passes it on; rank N − 1 ends with the total. (Every rank's `acc` held the same
  // running sum before, so only rank 0's is read.)
  constexpr size_t kChunk = size_t(1) << 18;
  for (size_t off = 0; off < n; off += kChunk) {
    const int len = int(std::min(kChunk, n - off));
    T* out = acc + off;
    if (rank_ == 0) {
      if (acc_valid) add_into(out, out, mine + off, size_t(len));
      else std::memcpy(out, mine + off, size_t(len) * sizeof(T));
    } else {
      MPI_Recv(out, len, mpi_type<T>(), rank_ - 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      add_into(out, out, mine + off, size_t(len));
    }
    if (rank_ + 1 < size_) MPI_Send(out, len, mpi_type<T>(), rank_ + 1, 0, MPI_COMM_WORLD);
  }
  constexpr size_t kBcast = size_t(1) << 26;
  for (size_t off = 0; off < n; off += kBcast)
    MPI_Bcast(acc + off, int(std::min(kBcast, n - off)), mpi_type<T>(), size_ - 1, MPI_COMM_WORLD);
#endif
}

void Cluster::sum_in_rank_order(float* mine, float* acc, size_t n, bool acc_valid) { chain_sum(mine, acc, n, acc_valid); }
void Cluster::sum_in_rank_order(double* mine, double* acc, size_t n, bool acc_valid) { chain_sum(mine, acc, n, acc_valid); }

void Cluster::share(std::vector<double>& v) {
  if (size_ == 1) return;
#ifdef LOUPE_HAVE_MPI
  CommTimer timer{comm_seconds};
  MPI_Allreduce(MPI_IN_PLACE, v.data(), int(v.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
}

void Cluster::check_all(const std::string& error) {
  if (size_ == 1) {
    if (!error.empty()) throw ClusterError(error, true);
    return;
  }
#ifdef LOUPE_HAVE_MPI
  CommTimer timer{comm_seconds};
  int failed = error.empty() ? 0 : 1, any = 0;
  MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (!any) return;
  // Rank 0 gathers every failed rank's message (with its host) and reports them.
  const std::string mine = failed ? "rank " + std::to_string(rank_) + " (" + host() + "): " + error : "";
  int len = int(mine.size());
  std::vector<int> lens(static_cast<size_t>(size_)), offs(static_cast<size_t>(size_));
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
  std::string all;
  if (is_root()) {
    int total = 0;
    for (int r = 0; r < size_; ++r) offs[size_t(r)] = total, total += lens[size_t(r)];
    all.resize(size_t(total));
  }
  MPI_Gatherv(mine.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0, MPI_COMM_WORLD);
  if (!is_root()) throw ClusterError("failed on another rank (rank 0 reports it)", false);
  std::string msg;
  for (int r = 0; r < size_; ++r)
    if (lens[size_t(r)] > 0) {
      if (!msg.empty()) msg += "; ";
      msg += all.substr(size_t(offs[size_t(r)]), size_t(lens[size_t(r)]));
    }
  throw ClusterError(msg, true);
#endif
}

void Cluster::all_or_none(const std::function<void()>& f) {
  if (size_ == 1) return f();
  std::string error;
  try {
    f();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  check_all(error);
}

void Cluster::check_same(uint64_t value, const std::string& what) {
  if (size_ == 1) return;
#ifdef LOUPE_HAVE_MPI
  std::vector<uint64_t> all(static_cast<size_t>(size_));
  MPI_Allgather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, MPI_COMM_WORLD);
  std::string differ;
  for (int r = 1; r < size_; ++r)
    if (all[size_t(r)] != all[0]) differ += (differ.empty() ? "" : ", ") + std::to_string(r);
  if (!differ.empty())
    throw ClusterError(what + " differs between ranks: rank(s) " + differ + " do not match rank 0", is_root());
#endif
}

void Cluster::abort(int code) {
#ifdef LOUPE_HAVE_MPI
  if (mpi_) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::_Exit(code);
}

}  // namespace loupe::tools
