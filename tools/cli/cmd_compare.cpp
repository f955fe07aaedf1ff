// loupe compare -c A.json -c B.json ... [--set k=v ...] [--seeds 3] (--tokens N | --steps N | --minutes M) --out DIR
// A config may carry its own overrides: -c A.json:model.gcla=false[,section.key=value...] (an
// ablation row without a file of its own; named A.gcla=false). They apply after --set.
// Trains every config × seed on an equal budget, evaluates each on the whole validation split and
// writes DIR/compare.md, DIR/curves.svg and DIR/compare.json (tools/train/compare.h).
//
// Budget: --steps N runs N optimizer steps; --tokens N runs ceil(N / tokens per step) steps of each
// config; --minutes M runs M minutes divided by the config's seconds per step, measured once over
// 3 steps and kept in DIR/runs/<config>/budget.json (so every seed, and a resumed compare, runs the
// same steps). Each run's schedule is fitted to its steps: max_iters = lr_decay_iters = steps,
// warm-up at most a tenth of them, 20 evaluations (the curve) unless --set train.eval_interval
// says otherwise. Seed k (0-based) trains with train.seed + k.
//
// Each run trains in a child `loupe train` (its own peak RSS) in DIR/runs/<config>/seed<k>/, next
// to the run config it was given (run.json). A run with a result.json for the same run config is
// reused; one with a checkpoint but no result (interrupted) resumes bit-exactly; a directory that
// holds another config's run is an error, never overwritten.
//
// --jobs N trains N runs at once, each child on 1/N of the threads with its output in its train.log
// (the runs' bits do not change; their speeds are measured beside each other, and the machine line
// says so).
//
// --reuse EARLIER/compare.json (repeatable) takes a run that has no result here from an earlier
// report, if that report holds the same config name, the same run config (budget and schedule
// included) and the same seed: the run is deterministic, so retraining it would give the same
// bits. It is copied into this directory's runs/ as its result.json and keeps the machine it was
// trained on (compare.md lists it). Reports written before run configs were recorded cannot be reused.
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "models/model.h"
#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tensor/parallel.h"
#include "tools/cli/bench_generate.h"
#include "tools/train/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/compare.h"
#include "tools/train/run_config.h"
#include "tools/train/evaluate.h"
#include "tools/train/metrics.h"
#include "tools/train/run_data.h"
#include "tools/train/trainer.h"

extern char** environ;

namespace loupe::cli {

namespace fs = std::filesystem;
using nlohmann::json;

struct CompareArgs {
  std::vector<std::string> configs, sets;
  int seeds = 3;
  int64_t tokens = 0, steps = 0;
  double minutes = 0;
  std::string out;
  std::vector<std::string> reuse;
  bool quiet = false;
  int max_runs = -1;
  int jobs = 1;
};

static std::string shell_word(const std::string& a) {
  const bool plain = !a.empty() && a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+") ==
                                       std::string::npos;
  return plain ? a : "'" + a + "'";
}

// The command that reproduces this comparison (without --max-runs, --reuse, --jobs and --quiet, which change no
// result: a run's bits do not depend on its thread count).
static std::string command_line(const CompareArgs& o) {
  std::string c = "loupe compare";
  for (auto& f : o.configs) c += " -c " + shell_word(f);
  for (auto& s : o.sets) c += " --set " + shell_word(s);
  c += " --seeds " + std::to_string(o.seeds);
  if (o.steps > 0) c += " --steps " + std::to_string(o.steps);
  if (o.tokens > 0) c += " --tokens " + std::to_string(o.tokens);
  if (o.minutes > 0) c += " --minutes " + shell_word(detail::cat(o.minutes));
  return c + " --out " + shell_word(o.out);
}

static std::string self_exe() {
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  LOUPE_CHECK(!ec, "compare: cannot find the loupe binary (/proc/self/exe): ", ec.message());
  return p.string();
}

static std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

static json read_json(const fs::path& p) {
  try {
    return json::parse(read_file(p.string()));
  } catch (const json::exception& e) {
    throw Error(detail::cat("compare: '", p.string(), "' is not valid JSON: ", e.what()));
  }
}

// Starts `loupe train ...` as a child with environment env, its stdout and stderr to log if not "".
static pid_t spawn_child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log) {
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  for (auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  argv.push_back(nullptr), envp.push_back(nullptr);
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

// From one read of metrics.jsonl: the median of the tokens/s the trainer logged (steps after
// the first), the val-loss curve against tokens seen, and the run's wall time as it logged it
// (its interrupted parts included).
static void read_metrics(const fs::path& metrics, int64_t tokens_per_step, tools::CompareRun& run) {
  std::vector<double> tps;
  for (const json& j : tools::read_metrics_rows(metrics.string(), false)) {
    const int64_t step = j["step"].get<int64_t>();
    if (j.contains("tokens_per_sec") && step > 0) tps.push_back(j["tokens_per_sec"].get<double>());
    if (j.contains("val_loss")) run.curve.emplace_back(step * tokens_per_step, j["val_loss"].get<double>());
    if (j.contains("elapsed_s")) run.wall_seconds = std::max(run.wall_seconds, j["elapsed_s"].get<double>());
  }
  std::sort(tps.begin(), tps.end());
  const size_t n = tps.size();
  run.tokens_per_sec = n == 0 ? 0 : n % 2 ? tps[n / 2] : 0.5 * (tps[n / 2 - 1] + tps[n / 2]);
}

static int64_t tokens_per_step(const tools::RunConfig& cfg) {
  return cfg.train.batch_size * cfg.train.grad_accum * cfg.model.at("block_size").get<int64_t>();
}

// Seconds per step of a config, over 3 steps after one untimed (the trainer in bench mode).
static double seconds_per_step(const tools::RunConfig& cfg) {
  tools::TrainOptions t;
  t.config = cfg;
  t.config.train.max_iters = 4;
  t.progress = false;
  t.evaluate = false;
  t.untimed_steps = 1;
  const auto r = tools::train(t);
  LOUPE_CHECK(r.tokens_per_sec > 0, "compare: could not time a step");
  return double(r.tokens_per_step) / r.tokens_per_sec;
}

// An earlier report given with --reuse.
struct EarlierReport {
  std::string path;
  json report;
};

// The result.json of run (name, seed index k, seed) from an earlier report whose config has the same
// run config; null if none has it. Says once per report and config why a same-named config is not reused.
static json reused_result(const std::vector<EarlierReport>& earlier, const std::string& name, const json& run_config,
                          int k, uint64_t seed, bool quiet) {
  for (auto& e : earlier)
    for (auto& c : e.report.at("configs")) {
      if (c.value("name", "") != name) continue;
      if (c.value("run_config", json()) != run_config) {
        if (!quiet && k == 0)
          std::fprintf(stderr, "[compare] not reusing %s from %s: %s\n", name.c_str(), e.path.c_str(),
                       c.value("run_config", json()).is_null()
                           ? "that report has no run configs (it predates them)"
                           : "it was trained with another run config (config file, --set or budget differ)");
        continue;
      }
      for (auto& r : c.at("runs")) {
        if (r.at("seed_index").get<int>() != k || r.at("seed").get<uint64_t>() != seed) continue;
        json run = r;
        if (run.value("machine", "").empty()) run["machine"] = e.report.value("machine", "");
        return json{{"run", run}, {"parameters", c.at("parameters")}, {"kv_cache_bytes", c.at("kv_cache_bytes")},
                    {"gen_ms_per_token", c.at("gen_ms_per_token")}, {"reused_from", e.path}};
      }
    }
  return json();
}

static void run_compare(CompareArgs& o) {
  LOUPE_CHECK(!o.configs.empty(), "compare: give at least one --config");
  const int budgets = (o.tokens > 0) + (o.steps > 0) + (o.minutes > 0);
  LOUPE_CHECK(budgets == 1, "compare: give exactly one budget: --tokens N, --steps N or --minutes M");
  LOUPE_CHECK(o.seeds >= 1, "compare: --seeds must be at least 1, got ", o.seeds);
  const fs::path out(o.out);
  std::vector<EarlierReport> earlier;
  for (auto& f : o.reuse) {
    LOUPE_CHECK(fs::exists(f), "compare: --reuse '", f, "' does not exist");
    EarlierReport e{f, read_json(f)};
    LOUPE_CHECK(e.report.is_object() && e.report.contains("configs") && e.report["configs"].is_array(), "compare: --reuse '",
                f, "' is not a loupe compare report (no \"configs\" list)");
    earlier.push_back(std::move(e));
  }
  fs::create_directories(out / "runs");

  tools::CompareReport report;
  report.command = command_line(o);
  report.machine = cpu_model() + ", " + std::to_string(get_num_threads()) + " threads";
  if (o.jobs > 1)
    report.machine += detail::cat(", ", o.jobs, " runs at a time (", std::max(1, get_num_threads() / o.jobs), " thread(s) each)");
  report.budget = o.steps > 0   ? std::to_string(o.steps) + " steps per run"
                  : o.tokens > 0 ? std::to_string(o.tokens) + " tokens per run (whole steps, rounded up)"
                                 : detail::cat(o.minutes, " minutes per run (as steps: the minutes over the config's measured seconds per step)");

  // Plan: each config's run config, name and steps.
  struct Plan {
    tools::RunConfig cfg;
    std::string name, path;
    int64_t steps = 0;
  };
  std::vector<Plan> plans;
  for (const auto& spec : o.configs) {
    Plan p;
    p.path = spec;
    // "FILE.json:k=v,k=v": the file, then its own overrides.
    std::string path = spec;
    std::vector<std::string> sets = o.sets;
    std::string base = fs::path(spec).stem().string();
    if (const size_t at = spec.find(".json:"); at != std::string::npos) {
      path = spec.substr(0, at + 5);
      base = fs::path(path).stem().string();
      std::stringstream list(spec.substr(at + 6));
      for (std::string kv; std::getline(list, kv, ',');) {
        const size_t eq = kv.find('='), dot = kv.rfind('.', eq);
        LOUPE_CHECK(eq != std::string::npos && dot != std::string::npos && dot > 0 && eq > dot + 1, "compare: -c '", spec,
                    "': override '", kv, "' is not section.key=value");
        sets.push_back(kv);
        base += "." + kv.substr(dot + 1);
      }
    }
    p.cfg = tools::load_run_config(path, sets);
    try {  // the model keys too, before any run starts (the registry parses them to count parameters)
      json m = p.cfg.model;
      if (!m.contains("vocab_size")) m["vocab_size"] = 256;  // the data gives it; any value checks the rest
      models::model_info(m.at("type").get<std::string>()).count_parameters(m);
    } catch (const std::exception& e) {
      throw Error(detail::cat("compare: -c '", spec, "': ", e.what()));
    }
    p.name = base;
    for (int k = 2; std::any_of(plans.begin(), plans.end(), [&](const Plan& q) { return q.name == p.name; }); ++k)
      p.name = base + "-" + std::to_string(k);
    const int64_t tps = tokens_per_step(p.cfg);
    if (o.steps > 0) p.steps = o.steps;
    if (o.tokens > 0) p.steps = (o.tokens + tps - 1) / tps;
    if (o.minutes > 0) {
      const fs::path bfile = out / "runs" / p.name / "budget.json";
      json b;
      if (fs::exists(bfile)) b = read_json(bfile);
      if (b.is_object() && b.value("minutes", -1.0) == o.minutes && b.value("config", json()) == p.cfg.to_json()) {
        p.steps = b.at("steps").get<int64_t>();
      } else {
        if (!o.quiet) std::fprintf(stderr, "[compare] timing %s ...\n", p.name.c_str());
        const double sps = seconds_per_step(p.cfg);
        p.steps = std::max<int64_t>(1, int64_t(o.minutes * 60.0 / sps));
        fs::create_directories(bfile.parent_path());
        write_file_atomic(bfile.string(), json{{"minutes", o.minutes}, {"seconds_per_step", sps}, {"steps", p.steps},
                                               {"config", p.cfg.to_json()}}.dump(1) + "\n");
      }
    }
    // The schedule fitted to the budget (explicit --set of eval_interval wins).
    auto& t = p.cfg.train;
    t.max_iters = p.steps;
    t.decay_iters = p.steps;
    t.warmup_iters = std::min(t.warmup_iters, p.steps / 10);
    const bool eval_set = std::any_of(o.sets.begin(), o.sets.end(),
                                      [](const std::string& s) { return s.rfind("train.eval_interval=", 0) == 0; });
    if (!eval_set) t.eval_interval = std::max<int64_t>(1, p.steps / 20);
    t.ckpt_interval = t.eval_interval;
    plans.push_back(std::move(p));
  }

  // Pass 1: each config × seed is finished (here or in a --reuse report) or queued for training.
  struct Job {
    size_t plan = 0;
    int k = 0, index = 0;
    uint64_t seed = 0;
    fs::path dir;
    bool resume = false;
    pid_t pid = 0;
  };
  const int total = int(plans.size()) * o.seeds;
  std::vector<tools::CompareConfig> ccs(plans.size());
  std::vector<std::vector<std::optional<tools::CompareRun>>> done(plans.size(), std::vector<std::optional<tools::CompareRun>>(o.seeds));
  std::vector<Job> queue;
  int index = 0, waiting = 0;
  for (size_t pi = 0; pi < plans.size(); ++pi) {
    const auto& p = plans[pi];
    auto& cc = ccs[pi];
    cc.name = p.name, cc.path = p.path, cc.steps = p.steps, cc.tokens_per_step = tokens_per_step(p.cfg);
    cc.run_config = p.cfg.to_json();
    for (int k = 0; k < o.seeds; ++k) {
      ++index;
      tools::RunConfig run_cfg = p.cfg;
      const uint64_t seed = run_cfg.train.seed + uint64_t(k);
      run_cfg.train.seed = seed;
      const json cfg = run_cfg.to_json();
      const fs::path dir = out / "runs" / p.name / ("seed" + std::to_string(k));
      const fs::path run_json = dir / "run.json", result_json = dir / "result.json";
      fs::create_directories(dir);
      if (fs::exists(run_json)) {
        LOUPE_CHECK(read_json(run_json) == cfg, "compare: '", dir.string(), "' holds a run of another config or budget; "
                    "remove it or give another --out");
      } else {
        LOUPE_CHECK(!fs::exists(tools::checkpoint_path(dir.string())), "compare: '", dir.string(),
                    "' has a checkpoint but no run.json; remove it or give another --out");
        write_file_atomic(run_json.string(), cfg.dump(1) + "\n");
      }
      if (!fs::exists(result_json) && !fs::exists(tools::checkpoint_path(dir.string()))) {
        const json r = reused_result(earlier, p.name, cc.run_config, k, seed, o.quiet);
        if (!r.is_null()) write_file_atomic(result_json.string(), r.dump(1) + "\n");
      }
      if (fs::exists(result_json)) {
        const json r = read_json(result_json);
        done[pi][k] = tools::CompareRun::from_json(r.at("run"));
        cc.parameters = r.at("parameters").get<int64_t>();
        if (k == 0) cc.kv_cache_bytes = r.at("kv_cache_bytes").get<int64_t>(), cc.gen_ms_per_token = r.at("gen_ms_per_token").get<double>();
        if (!o.quiet)
          std::fprintf(stderr, "[compare %d/%d] %s seed %llu: done before%s (val loss %.4f)\n", index, total,
                       p.name.c_str(), (unsigned long long)seed,
                       r.contains("reused_from") ? (", reused from " + r["reused_from"].get<std::string>()).c_str() : "",
                       done[pi][k]->val_loss);
        continue;
      }
      if (o.max_runs >= 0 && int(queue.size()) >= o.max_runs) {  // --max-runs: the same command continues later
        ++waiting;
        continue;
      }
      queue.push_back(Job{pi, k, index, seed, dir, fs::exists(tools::checkpoint_path(dir.string()))});
    }
  }

  // Pass 2: train the queue, --jobs at a time. With more than one, each child gets an equal share
  // of the threads and writes its progress to its own train.log.
  const std::string exe = self_exe();
  const int threads_each = std::max(1, get_num_threads() / o.jobs);
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (o.jobs == 1 || std::strncmp(*e, "OMP_NUM_THREADS=", 16) != 0) env.push_back(*e);
  if (o.jobs > 1) env.push_back("OMP_NUM_THREADS=" + std::to_string(threads_each));

  // Evaluate a finished run: the whole validation split; decode speed and cache at batch 1.
  auto finish = [&](const Job& j, int64_t rss) {
    const auto& p = plans[j.plan];
    auto& cc = ccs[j.plan];
    const auto ck = tools::load_checkpoint(j.dir.string());
    LOUPE_CHECK(ck.step == p.steps, "compare: ", j.dir.string(), " stopped at step ", ck.step, " of ", p.steps);
    auto model = tools::model_from_checkpoint(ck);
    auto data = tools::open_checkpoint_data(ck, j.dir.string(), false);
    tools::CompareRun run;
    run.seed_index = j.k, run.seed = j.seed, run.peak_rss_bytes = rss, run.machine = report.machine;
    run.val_loss = tools::split_loss(*model, *data.dataset, text::Split::Val, model->block_size(),
                                     ck.config.train.batch_size, &run.val_tokens);
    read_metrics(j.dir / "metrics.jsonl", cc.tokens_per_step, run);
    const int64_t block = model->block_size(), gen = std::min<int64_t>(32, block / 2);
    const auto g = bench_generate(*model, 1, block - gen, gen);
    cc.parameters = model->num_parameters();
    if (j.k == 0) cc.kv_cache_bytes = g.cache_bytes, cc.gen_ms_per_token = g.latency_median_ms;
    write_file_atomic((j.dir / "result.json").string(),
                      json{{"run", run.to_json()}, {"parameters", cc.parameters}, {"kv_cache_bytes", g.cache_bytes},
                           {"gen_ms_per_token", g.latency_median_ms}}.dump(1) + "\n");
    done[j.plan][j.k] = run;
    if (!o.quiet)
      std::fprintf(stderr, "[compare %d/%d] %s seed %llu: val loss %.4f over %lld tokens, %.0f tokens/s, %.0f s\n", j.index,
                   total, p.name.c_str(), (unsigned long long)j.seed, run.val_loss, (long long)run.val_tokens,
                   run.tokens_per_sec, run.wall_seconds);
  };

  std::vector<Job> running;
  std::string failed;  // the first failure: no new run starts, the running ones finish, then it is raised
  size_t next = 0;
  while (next < queue.size() || !running.empty()) {
    while (failed.empty() && next < queue.size() && int(running.size()) < o.jobs) {
      Job j = queue[next++];
      const auto& p = plans[j.plan];
      std::vector<std::string> args{exe, "train", "-c", (j.dir / "run.json").string(), "--out", j.dir.string()};
      args.push_back(j.resume ? "--resume" : "--force");  // not resumable: whatever a stopped run left is replaced
      if (o.quiet) args.push_back("-q");
      const std::string log = o.jobs > 1 ? (j.dir / "train.log").string() : "";
      if (!o.quiet)
        std::fprintf(stderr, "[compare %d/%d] %s seed %llu: %s %lld steps (%lld tokens)%s\n", j.index, total,
                     p.name.c_str(), (unsigned long long)j.seed, j.resume ? "resuming," : "training", (long long)p.steps,
                     (long long)(p.steps * ccs[j.plan].tokens_per_step),
                     log.empty() ? "" : (", " + std::to_string(threads_each) + " thread(s), log " + log).c_str());
      try {
        j.pid = spawn_child(args, env, log);
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
    const auto& p = plans[j.plan];
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
      const std::string msg = detail::cat(
          "compare: training ", p.name, " seed ", j.seed, " in ", j.dir.string(), " failed (",
          WIFEXITED(status) ? "exit status " + std::to_string(WEXITSTATUS(status)) : "signal " + std::to_string(WTERMSIG(status)),
          o.jobs > 1 ? "; its log: " + (j.dir / "train.log").string() : "",
          "); its directory is kept: run the same compare again to resume it");
      if (failed.empty()) failed = msg;
      if (!o.quiet && !running.empty()) std::fprintf(stderr, "[compare] %s; waiting for the running runs\n", msg.c_str());
      continue;
    }
    try {
      finish(j, int64_t(ru.ru_maxrss) * 1024);
    } catch (const std::exception& e) {
      if (failed.empty()) failed = e.what();
    }
  }
  LOUPE_CHECK(failed.empty(), failed);

  for (size_t pi = 0; pi < plans.size(); ++pi) {
    for (auto& r : done[pi])
      if (r) ccs[pi].runs.push_back(*r);
    if (!ccs[pi].runs.empty()) report.configs.push_back(std::move(ccs[pi]));
  }
  if (waiting > 0) {
    report.budget += detail::cat(" (partial: ", waiting, " of ", total, " runs not trained yet)");
    if (!o.quiet)
      std::fprintf(stderr, "[compare] --max-runs %d: %d runs left; run the same command again to continue\n", o.max_runs,
                   waiting);
  }
  const std::string md = tools::compare_markdown(report);
  write_file_atomic((out / "compare.md").string(), md);
  write_file_atomic((out / "curves.svg").string(), tools::compare_svg(report));
  write_file_atomic((out / "compare.json").string(), tools::compare_json(report).dump(1) + "\n");
  std::printf("%s", md.c_str());
  if (!o.quiet) std::fprintf(stderr, "[compare] wrote %s/compare.md, curves.svg, compare.json\n", o.out.c_str());
}

void register_compare(CLI::App& app) {
  auto o = std::make_shared<CompareArgs>();
  auto* sub = app.add_subcommand("compare", "train configs × seeds on an equal budget and compare them");
  sub->add_option("--config,-c", o->configs, "run config, optionally FILE.json:section.key=value[,...] (repeat for each)")
      ->required();
  sub->add_option("--set", o->sets, "override a key of every config: section.key=value");
  sub->add_option("--seeds", o->seeds, "seeds per config (train.seed, +1, +2, ...)");
  sub->add_option("--tokens", o->tokens, "budget: tokens seen per run")->check(CLI::PositiveNumber);
  sub->add_option("--steps", o->steps, "budget: optimizer steps per run")->check(CLI::PositiveNumber);
  sub->add_option("--minutes", o->minutes, "budget: wall-clock minutes per run (converted to steps once)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--out,-o", o->out, "output directory")->required();
  sub->add_option("--max-runs", o->max_runs, "train at most this many runs now (the same command continues)")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--reuse", o->reuse,
                  "an earlier compare.json: take its finished runs of identical run configs and seeds (repeatable)");
  sub->add_option("--jobs,-j", o->jobs,
                  "train this many runs at once, each on an equal share of the threads (default 1)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--quiet,-q", o->quiet, "no progress output");
  actions().push_back({sub, [o] { run_compare(*o); }});
}

}  // namespace loupe::cli
