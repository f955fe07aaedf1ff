// loupe fingerprint [--model T ...] [--dtype f32|f64 ...] [--steps N] [--dir D]: trains every model
// type a few steps at a tiny size with dropout on and prints one line per (model, dtype) with
// the hash of its final weights and AdamW state and its last losses (tools/audit/fingerprint.h). Equal
// lines on two machines mean bitwise-equal training; docs/numerics.md ("Same bits everywhere") lists ours.
// --configs-only writes those runs' configs instead (tests/mpi_cli.py trains them under mpirun).
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "models/model.h"
#include "tensor/error.h"
#include "tools/cli/commands.h"
#include "tools/audit/fingerprint.h"

namespace loupe::cli {

namespace {

struct FingerprintArgs {
  std::vector<std::string> models, dtypes{"f32", "f64"};
  int64_t steps = 6;
  std::string dir;
  bool configs_only = false;
};

void run_fingerprint(const FingerprintArgs& a) {
  namespace fs = std::filesystem;
  const bool own_dir = a.dir.empty();
  const fs::path dir = own_dir ? fs::temp_directory_path() / ("loupe_fingerprint_" + std::to_string(::getpid())) : fs::path(a.dir);
  const auto types = a.models.empty() ? models::registered_models() : a.models;
  for (const auto& t : types) models::model_info(t);  // an unknown type is an error naming the known ones
  for (const auto& d : a.dtypes) LOUPE_CHECK(d == "f32" || d == "f64", "fingerprint: --dtype must be f32 or f64, got ", d);
  if (a.configs_only) {  // the runs' configs, to train them another way (e.g. under mpirun)
    LOUPE_CHECK(!own_dir, "fingerprint --configs-only: give --dir");
    for (const auto& d : a.dtypes)
      for (const auto& t : types)
        std::printf("%s\n", tools::write_tiny_run_config(t, d, (dir / (t + "-" + d)).string(), a.steps).c_str());
    return;
  }
  try {
    for (const auto& d : a.dtypes)
      for (const auto& t : types) {
        std::printf("%s\n", tools::fingerprint_line(tools::fingerprint(t, d, dir.string(), a.steps)).c_str());
        std::fflush(stdout);
      }
  } catch (...) {
    if (own_dir) fs::remove_all(dir);
    throw;
  }
  if (own_dir) fs::remove_all(dir);
}

}  // namespace

void register_fingerprint(CLI::App& app) {
  auto a = std::make_shared<FingerprintArgs>();
  auto* sub = app.add_subcommand("fingerprint",
                                 "train every model type a few tiny steps and print hashes of the result (same bits on "
                                 "two machines = same lines)");
  sub->add_option("--model", a->models, "model types (default: every registered type)");
  sub->add_option("--dtype", a->dtypes, "f32 and/or f64 (default: both)");
  sub->add_option("--steps", a->steps, "training steps (default 6)")->check(CLI::Range(1, 1000));
  sub->add_option("--dir", a->dir, "keep the runs here (default: a temporary directory, removed)");
  sub->add_flag("--configs-only", a->configs_only,
                "only write each run's config.json and corpus under --dir and print the configs' paths");
  actions().push_back({sub, [a] { run_fingerprint(*a); }});
}

}  // namespace loupe::cli
