// The ranks of a data-parallel job: MPI_COMM_WORLD when loupe runs under mpirun (and was built
// with MPI), else a cluster of one. The trainer's only window on MPI.
//
// Every reduction here has a fixed order, so a job's bits do not depend on how many ranks it
// has or on the order MPI delivers messages (docs/design.md, circle 2):
//   sum_in_rank_order: acc ← (((acc + g₀) + g₁) + … + g_{N−1}), the left fold over ranks that one
//     process makes when it adds N micro-batch gradients one after another. It runs as a chain
//     0 → 1 → … → N−1 in chunks (rank r adds its g_r to what r−1 sent), so each link carries the
//     buffer once and chunks pipeline; then rank N−1 broadcasts the sum.
//   share: entries each owned by one rank (the others hold 0) summed elementwise: x + 0 = x
//     exactly, so the order MPI picks cannot matter.
// Failures are collective: check_all (after rank-local work that may throw) makes every rank
// throw the same ClusterError if any rank failed, and rank 0 alone reports it, so a bad input on
// one rank stops the job at once instead of leaving the others waiting in a reduction.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace loupe::tools {

// An error every rank of the job knows about (raised by check_all on all ranks at once).
// Only rank 0 prints it; the job then exits non-zero everywhere.
struct ClusterError : std::runtime_error {
  ClusterError(const std::string& what, bool report) : std::runtime_error(what), report(report) {}
  bool report;  // whether this rank prints it (rank 0)
};

class Cluster {
 public:
  // This process's cluster. The first call joins the MPI job when a launcher started this
  // process (mpirun/srun set its environment); otherwise it is a cluster of one and MPI is never
  // initialised. Throws when launched as one of several ranks by a loupe built without MPI.
  static Cluster& world();
  // A cluster of one (tests, tools that never distribute).
  static Cluster& single();
  // world() if it was joined (called) already, else nullptr; never initialises MPI.
  static Cluster* world_if_joined();

  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  std::string host() const;  // this rank's host name (for messages)

  // acc ← (((acc + mine₀) + mine₁) + … + mine_{N−1}) over ranks r = 0..N−1, every rank ending
  // with the same acc. Without `acc_valid` the fold starts from rank 0's `mine` itself.
  // `mine` may be overwritten.
  void sum_in_rank_order(float* mine, float* acc, size_t n, bool acc_valid);
  void sum_in_rank_order(double* mine, double* acc, size_t n, bool acc_valid);
  // v[i] summed over ranks, where each entry is nonzero on at most one rank (its owner).
  void share(std::vector<double>& v);
  // Collective: every rank says whether its own work failed (non-empty `error`). If any did,
  // every rank throws one ClusterError naming the failed ranks and their messages.
  void check_all(const std::string& error);
  // Runs f, turning what it throws into this rank's part of check_all (on a cluster of one, f's
  // exception propagates unchanged).
  void all_or_none(const std::function<void()>& f);
  // Every rank must pass the same value (e.g. the hash of its config), or all throw naming it.
  void check_same(uint64_t value, const std::string& what);

  // Seconds this rank spent waiting for the others to reach a gradient reduction (their
  // micro-batch took longer), then in the reduction itself, and the gradient bytes it reduced.
  double wait_seconds = 0, comm_seconds = 0;
  uint64_t reduced_bytes = 0;

  // Stops every rank at once (MPI_Abort), for an error only this rank knows about.
  [[noreturn]] void abort(int code);

 private:
  Cluster() = default;
  template <class T> void chain_sum(T* mine, T* acc, size_t n, bool acc_valid);
  int rank_ = 0, size_ = 1;
  bool mpi_ = false;
};

// Whether this loupe was built with MPI.
bool built_with_mpi();

}  // namespace loupe::tools
