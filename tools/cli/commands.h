// Subcommands of the `loupe` binary. Each lives in its own cmd_*.cpp and adds
// itself to the app with a callback stored in `actions` (run after parsing).
#pragma once
#include <functional>
#include <vector>

#include <CLI/CLI.hpp>

namespace loupe::cli {

// (subcommand, action) pairs; run_selected runs the action of the parsed one.
std::vector<std::pair<CLI::App*, std::function<void()>>>& actions();

void register_commands(CLI::App& app);
// The process's exit status once the command returns (0 unless a command sets it; errors thrown
// exit 1).
int& exit_code();
// --reference on a subcommand: every fused op runs its textbook twin (tensor/reference/).
void add_reference_flag(CLI::App* sub);
void run_selected(CLI::App& app);

// One per cmd_*.cpp.
void register_ops(CLI::App& app);    // loupe ops: list differentiable ops
void register_models(CLI::App& app);  // loupe models: model types and their config keys
void register_audit(CLI::App& app);   // loupe audit diff|shadow
void register_explore(CLI::App& app);  // loupe explore: one training step as a page
void register_summary(CLI::App& app);  // loupe summary
void register_einsum(CLI::App& app);   // loupe einsum: how an einsum is evaluated and what it costs
void register_bench(CLI::App& app);  // loupe bench ...
void register_train(CLI::App& app);      // loupe train
void register_sample(CLI::App& app);     // loupe sample
void register_eval(CLI::App& app);       // loupe eval
void register_compare(CLI::App& app);    // loupe compare: configs × seeds on an equal budget
void register_batches(CLI::App& app);    // loupe batches: the training batches as .npy, for other frameworks
void register_tokenizer(CLI::App& app);  // loupe tokenizer train|encode|decode
void register_fingerprint(CLI::App& app);  // loupe fingerprint: hashes of tiny training runs
void register_bench_train(CLI::App& bench);  // loupe bench train (called by register_bench)
void register_bench_attention(CLI::App& bench);  // loupe bench attention (called by register_bench)
void register_bench_generate(CLI::App& bench);  // loupe bench generate (called by register_bench)

}  // namespace loupe::cli
