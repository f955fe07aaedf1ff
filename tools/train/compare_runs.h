// `loupe compare`'s runs: every plan × seed, each trained in a child `loupe train` (its own peak
// RSS) in OUT/runs/<name>/seed<k>/, next to the run config it was given (run.json).
//   - a run with a result.json is done (also one taken from an earlier report, compare_plan.h);
//   - one with a checkpoint but no result (interrupted) resumes bit-exactly;
//   - a directory that holds another config's run is an error, never overwritten.
// `jobs` runs train at once, each child on 1/jobs of the threads with its progress in its
// train.log (the runs' bits do not change; their speeds are measured beside each other). A
// finished run is evaluated here: the whole validation split, and decode speed and cache at batch 1.
// The first failure starts no new run; the running ones finish, then it is raised.
#pragma once
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "tools/train/compare.h"
#include "tools/train/compare_plan.h"

namespace loupe::tools {

class CompareRuns {
 public:
  struct Options {
    std::string out_dir, exe;  // exe: the loupe binary that trains each run
    std::string machine;       // the report's machine line, recorded in each new run
    int seeds = 3, jobs = 1;
    int max_runs = -1;         // train at most this many now (-1: all); the same command continues later
    bool quiet = false;
  };
  // Finds what is done and queues the rest (errors for a directory that holds another run).
  CompareRuns(const std::vector<ComparePlan>& plans, const std::vector<EarlierReport>& earlier, Options options);
  // Trains the queue, `jobs` at a time.
  void train();
  // Each plan's report row with its finished runs (plans with none are left out).
  std::vector<CompareConfig> configs() const;
  int waiting() const { return waiting_; }  // runs left for a later invocation (--max-runs)
  int total() const { return int(plans_.size()) * o_.seeds; }

 private:
  struct Job {
    size_t plan = 0;
    int k = 0, index = 0;  // seed index, and place among all runs (for progress lines)
    uint64_t seed = 0;
    std::string dir;
    bool resume = false;
    pid_t pid = 0;
  };
  void find_or_queue(size_t plan, int k, int index, const std::vector<EarlierReport>& earlier);
  pid_t start(const Job& j, int threads_each, const std::vector<std::string>& env) const;
  void finish(const Job& j, int64_t peak_rss_bytes);
  std::string failure(const Job& j, int status) const;

  const std::vector<ComparePlan>& plans_;
  Options o_;
  std::vector<CompareConfig> configs_;
  std::vector<std::vector<std::optional<CompareRun>>> done_;
  std::vector<Job> queue_;
  int waiting_ = 0;
};

}  // namespace loupe::tools
