// loupe ops: lists every registered differentiable op (each has a gradcheck test).
#include <algorithm>
#include <cstdio>

#include "autograd/var.h"
#include "tools/cli/commands.h"

namespace loupe::cli {

static void run_ops() {
  auto names = op_registry();
  std::sort(names.begin(), names.end());
  for (auto& n : names) std::printf("%s\n", n.c_str());
}

void register_ops(CLI::App& app) {
  auto* sub = app.add_subcommand("ops", "list the registered differentiable ops");
  actions().push_back({sub, run_ops});
}

}  // namespace loupe::cli
