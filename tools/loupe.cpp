// The `loupe` command line: one binary, one subcommand per job.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>

#include "tools/commands.h"

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
  } catch (const std::exception& e) {
    std::fprintf(stderr, "loupe: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
