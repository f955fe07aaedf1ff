// loupe bench: measured speed (filled in by the GEMM / training issues).
#include "tools/commands.h"

namespace loupe::cli {

void register_bench(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "benchmarks: peak, gemm, train");
  bench->require_subcommand(1);
  (void)bench;
}

}  // namespace loupe::cli
