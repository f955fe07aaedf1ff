#include "tools/cli/commands.h"

#include "tensor/reference/mode.h"

namespace loupe::cli {

std::vector<std::pair<CLI::App*, std::function<void()>>>& actions() {
  static std::vector<std::pair<CLI::App*, std::function<void()>>> a;
  return a;
}

int& exit_code() {
  static int code = 0;
  return code;
}

void register_commands(CLI::App& app) {
  register_ops(app);
  register_models(app);
  register_audit(app);
  register_explore(app);
  register_summary(app);
  register_einsum(app);
  register_bench(app);
  register_train(app);
  register_sample(app);
  register_eval(app);
  register_compare(app);
  register_batches(app);
  register_tokenizer(app);
  register_fingerprint(app);
}

void add_reference_flag(CLI::App* sub) {
  sub->add_flag_callback("--reference", [] { reference::set_enabled(true); },
                         "run every fused op as its textbook twin (plain f64 loops; slow; also LOUPE_REFERENCE=1)");
}

// Runs the deepest parsed subcommand's action.
void run_selected(CLI::App& app) {
  const std::function<void()>* chosen = nullptr;
  for (auto& [sub, fn] : actions())
    if (sub->parsed()) chosen = &fn;
  if (chosen) (*chosen)();
}

}  // namespace loupe::cli
