// loupe compare -c A.json -c B.json ... [--set k=v ...] [--seeds 3] (--tokens N | --steps N | --minutes M) --out DIR
// A config may carry its own overrides: -c A.json:model.gcla=false[,section.key=value...] (an
// ablation row without a file of its own; named A.gcla=false). They apply after --set.
// Trains every config × seed on an equal budget, evaluates each on the whole validation split and
// writes DIR/compare.md, DIR/curves.svg and DIR/compare.json. The command only parses its flags:
//   the budget, names and schedules:          tools/train/compare_plan.h
//   training the runs (--jobs, resume, reuse): tools/train/compare_runs.h
//   the report:                               tools/train/compare.h
// --reuse EARLIER/compare.json (repeatable) takes a run that has no result here from an earlier
// report with the same config name, run config and seed (the run is deterministic): it is copied
// into this directory's runs/ and keeps the machine it was trained on.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tensor/error.h"
#include "tensor/file_io.h"
#include "tensor/parallel.h"
#include "tools/cli/commands.h"
#include "tools/train/compare.h"
#include "tools/train/compare_plan.h"
#include "tools/train/compare_runs.h"

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

static void run_compare(CompareArgs& o) {
  LOUPE_CHECK(!o.configs.empty(), "compare: give at least one --config");
  const int budgets = (o.tokens > 0) + (o.steps > 0) + (o.minutes > 0);
  LOUPE_CHECK(budgets == 1, "compare: give exactly one budget: --tokens N, --steps N or --minutes M");
  LOUPE_CHECK(o.seeds >= 1, "compare: --seeds must be at least 1, got ", o.seeds);
  const fs::path out(o.out);
  const auto earlier = tools::load_earlier_reports(o.reuse);
  fs::create_directories(out / "runs");

  tools::CompareReport report;
  report.command = command_line(o);
  report.machine = cpu_model() + ", " + std::to_string(get_num_threads()) + " threads";
  if (o.jobs > 1)
    report.machine += detail::cat(", ", o.jobs, " runs at a time (", std::max(1, get_num_threads() / o.jobs), " thread(s) each)");
  const tools::CompareBudget budget{o.tokens, o.steps, o.minutes};
  report.budget = budget.describe();

  const auto plans = tools::plan_compare(o.configs, o.sets, budget, o.out, o.quiet);
  tools::CompareRuns runs(plans, earlier, {.out_dir = o.out, .exe = self_exe(), .machine = report.machine,
                                           .seeds = o.seeds, .jobs = o.jobs, .max_runs = o.max_runs, .quiet = o.quiet});
  runs.train();
  report.configs = runs.configs();
  if (runs.waiting() > 0) {
    report.budget += detail::cat(" (partial: ", runs.waiting(), " of ", runs.total(), " runs not trained yet)");
    if (!o.quiet)
      std::fprintf(stderr, "[compare] --max-runs %d: %d runs left; run the same command again to continue\n", o.max_runs,
                   runs.waiting());
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
