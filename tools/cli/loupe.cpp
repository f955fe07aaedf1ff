// The `loupe` command line: one binary, one subcommand per job.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "tools/train/cluster.h"
#include "tools/cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"loupe: train and inspect tiny transformer language models on a CPU"};
  app.require_subcommand(1);
  loupe::cli::register_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    loupe::cli::run_selected(app);
    return loupe::cli::exit_code();
  } catch (const loupe::tools::ClusterError& e) {
    // Every rank of the job stops with this error; one of them (rank 0) says it.
    if (e.report) std::fprintf(stderr, "loupe: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    loupe::tools::Cluster* world = loupe::tools::Cluster::world_if_joined();
    if (world && world->size() > 1) {
      // Only this rank knows: say so, and stop the others (which may be waiting for it).
      std::fprintf(stderr, "loupe: error on rank %d (%s): %s\n", world->rank(), world->host().c_str(), e.what());
      world->abort(1);
    }
    std::fprintf(stderr, "loupe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
