#include "tools/train/compare_runs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tensor/parallel.h"
#include "tools/train/checkpoint.h"
#include "tools/train/evaluate.h"
#include "tools/train/generate_bench.h"
#include "tools/train/run_data.h"

extern char** environ;

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Starts `args` as a child with environment env, its stdout and stderr to log if not "".
pid_t spawn_child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr);
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  if (!log.empty()) {
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
  }
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  LOUPE_CHECK(rc == 0, "compare: cannot start ", args[0], ": ", std::strerror(rc));
  return pid;
}

}  // namespace

CompareRuns::CompareRuns(const std::vector<ComparePlan>& plans, const std::vector<EarlierReport>& earlier, Options options)
    : plans_(plans), o_(std::move(options)), configs_(plans.size()),
      done_(plans.size(), std::vector<std::optional<CompareRun>>(size_t(o_.seeds))) {
  int index = 0;
  for (size_t pi = 0; pi < plans.size(); ++pi) {
    const auto& p = plans[pi];
    auto& cc = configs_[pi];
    cc.name = p.name;
    cc.path = p.spec;
    cc.steps = p.steps;
    cc.tokens_per_step = p.tokens_per_step();
    cc.run_config = p.cfg.to_json();
    for (int k = 0; k < o_.seeds; ++k) find_or_queue(pi, k, ++index, earlier);
  }
}

// One run: done here (result.json), done in an earlier report, waiting (--max-runs) or queued.
void CompareRuns::find_or_queue(size_t pi, int k, int index, const std::vector<EarlierReport>& earlier) {
  const auto& p = plans_[pi];
  auto& cc = configs_[pi];
  const RunConfig run_cfg = p.seed_config(k);
  const json cfg = run_cfg.to_json();
  const uint64_t seed = run_cfg.train.seed;
  const fs::path dir = fs::path(o_.out_dir) / "runs" / p.name / ("seed" + std::to_string(k));
  const fs::path run_json = dir / "run.json", result_json = dir / "result.json";
  const bool has_checkpoint = fs::exists(checkpoint_path(dir.string()));
  fs::create_directories(dir);
  if (fs::exists(run_json)) {
    LOUPE_CHECK(read_compare_json(run_json.string()) == cfg, "compare: '", dir.string(),
                "' holds a run of another config or budget; remove it or give another --out");
  } else {
    LOUPE_CHECK(!has_checkpoint, "compare: '", dir.string(), "' has a checkpoint but no run.json; remove it or give another --out");
    write_file_atomic(run_json.string(), cfg.dump(1) + "\n");
  }
  if (!fs::exists(result_json) && !has_checkpoint) {
    const json r = reused_result(earlier, p.name, cc.run_config, k, seed, o_.quiet);
    if (!r.is_null()) write_file_atomic(result_json.string(), r.dump(1) + "\n");
  }
  if (fs::exists(result_json)) {
    const json r = read_compare_json(result_json.string());
    done_[pi][size_t(k)] = CompareRun::from_json(r.at("run"));
    cc.parameters = r.at("parameters").get<int64_t>();
    if (k == 0) {
      cc.kv_cache_bytes = r.at("kv_cache_bytes").get<int64_t>();
      cc.gen_ms_per_token = r.at("gen_ms_per_token").get<double>();
    }
    if (!o_.quiet)
      std::fprintf(stderr, "[compare %d/%d] %s seed %llu: done before%s (val loss %.4f)\n", index, total(), p.name.c_str(),
                   (unsigned long long)seed,
                   r.contains("reused_from") ? (", reused from " + r["reused_from"].get<std::string>()).c_str() : "",
                   done_[pi][size_t(k)]->val_loss);
    return;
  }
  if (o_.max_runs >= 0 && int(queue_.size()) >= o_.max_runs) {  // --max-runs: the same command continues later
    ++waiting_;
    return;
  }
  queue_.push_back(Job{pi, k, index, seed, dir.string(), has_checkpoint});
}

pid_t CompareRuns::start(const Job& j, int threads_each, const std::vector<std::string>& env) const {
  const auto& p = plans_[j.plan];
  const fs::path dir(j.dir);
  std::vector<std::string> args{o_.exe, "train", "-c", (dir / "run.json").string(), "--out", j.dir};
  args.push_back(j.resume ? "--resume" : "--force");  // not resumable: whatever a stopped run left is replaced
  if (o_.quiet) args.push_back("-q");
  const std::string log = o_.jobs > 1 ? (dir / "train.log").string() : "";
  if (!o_.quiet)
    std::fprintf(stderr, "[compare %d/%d] %s seed %llu: %s %lld steps (%lld tokens)%s\n", j.index, total(), p.name.c_str(),
                 (unsigned long long)j.seed, j.resume ? "resuming," : "training", (long long)p.steps,
                 (long long)(p.steps * p.tokens_per_step()),
                 log.empty() ? "" : (", " + std::to_string(threads_each) + " thread(s), log " + log).c_str());
  return spawn_child(args, env, log);
}

// A finished run: the whole validation split; decode speed and cache at batch 1.
void CompareRuns::finish(const Job& j, int64_t peak_rss_bytes) {
  const auto& p = plans_[j.plan];
  auto& cc = configs_[j.plan];
  const auto ck = load_checkpoint(j.dir);
  LOUPE_CHECK(ck.step == p.steps, "compare: ", j.dir, " stopped at step ", ck.step, " of ", p.steps);
  auto model = model_from_checkpoint(ck);
  auto data = open_checkpoint_data(ck, j.dir, false);
  CompareRun run;
  run.seed_index = j.k;
  run.seed = j.seed;
  run.peak_rss_bytes = peak_rss_bytes;
  run.machine = o_.machine;
  run.val_loss = split_loss(*model, *data.dataset, text::Split::Val, model->block_size(), ck.config.train.batch_size,
                            &run.val_tokens);
  read_run_metrics((fs::path(j.dir) / "metrics.jsonl").string(), cc.tokens_per_step, run);
  const int64_t block = model->block_size(), gen = std::min<int64_t>(32, block / 2);
  const auto g = bench_generate(*model, 1, block - gen, gen);
  cc.parameters = model->num_parameters();
  if (j.k == 0) {
    cc.kv_cache_bytes = g.cache_bytes;
    cc.gen_ms_per_token = g.latency_median_ms;
  }
  write_file_atomic((fs::path(j.dir) / "result.json").string(),
                    json{{"run", run.to_json()}, {"parameters", cc.parameters}, {"kv_cache_bytes", g.cache_bytes},
                         {"gen_ms_per_token", g.latency_median_ms}}.dump(1) + "\n");
  done_[j.plan][size_t(j.k)] = run;
  if (!o_.quiet)
    std::fprintf(stderr, "[compare %d/%d] %s seed %llu: val loss %.4f over %lld tokens, %.0f tokens/s, %.0f s\n", j.index,
                 total(), p.name.c_str(), (unsigned long long)j.seed, run.val_loss, (long long)run.val_tokens,
                 run.tokens_per_sec, run.wall_seconds);
}

std::string CompareRuns::failure(const Job& j, int status) const {
  return detail::cat(
      "compare: training ", plans_[j.plan].name, " seed ", j.seed, " in ", j.dir, " failed (",
      WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) : "signal " + std::to_string(WTERMSIG(status)),
      o_.jobs > 1 ? "; its log: " + (fs::path(j.dir) / "train.log").string() : "",
      "); its directory is kept: run the same compare again to resume it");
}

void CompareRuns::train() {
  // With more than one job, each child gets an equal share of the threads.
  const int threads_each = std::max(1, get_num_threads() / o_.jobs);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (o_.jobs == 1 || std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env.push_back(*e);
  if (o_.jobs > 1) env.push_back("OMP_NUM_THREADS=" + std::to_string(threads_each));
  std::vector<Job> running;
  std::string failed;  // the first failure: no new run starts, the running ones finish, then it is raised
  size_t next = 0;
  while (next < queue_.size() || !running.empty()) {
    while (failed.empty() && next < queue_.size() && int(running.size()) < o_.jobs) {
      Job j = queue_[next++];
      try {
        j.pid = start(j, threads_each, env);
      } catch (const std::exception& e) {  // like a failed run: the running ones still finish
        failed = e.what();
        break;
      }
      running.push_back(j);
    }
    if (running.empty()) break;  // nothing left to wait for (the queue is done, or a start failed)
    int status = 0;
    struct rusage ru {};
    const pid_t pid = wait4(-1, &status, 0, &ru);
    if (pid < 0) {
      LOUPE_CHECK(errno == EINTR, "compare: wait4: ", std::strerror(errno));
      continue;
    }
    const auto it = std::find_if(running.begin(), running.end(), [&](const Job& j) { return j.pid == pid; });
    if (it == running.end()) continue;
    const Job j = *it;
    running.erase(it);
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      const std::string msg = failure(j, status);
      if (failed.empty()) failed = msg;
      if (!o_.quiet && !running.empty()) std::fprintf(stderr, "[compare] %s; waiting for the running runs\n", msg.c_str());
      continue;
    }
    try {
      finish(j, int64_t(ru.ru_maxrss) * 1024);
    } catch (const std::exception& e) {
      if (failed.empty()) failed = e.what();
    }
  }
  LOUPE_CHECK(failed.empty(), failed);
}

std::vector<CompareConfig> CompareRuns::configs() const {
  std::vector<CompareConfig> out;
  for (size_t pi = 0; pi < plans_.size(); ++pi) {
    CompareConfig cc = configs_[pi];
    for (auto& r : done_[pi])
      if (r) cc.runs.push_back(*r);
    if (!cc.runs.empty()) out.push_back(std::move(cc));
  }
  return out;
}

}  // namespace loupe::tools
