// loupe sample --ckpt DIR [--prompt S] [--tokens N] [--temperature T] [--top-k K] [--seed S]
// Streams generated text to stdout as each token is drawn (KV-cache decoding, tools/train/sampler.h).
#include <cstdio>

#include "tools/train/checkpoint.h"
#include "tools/cli/commands.h"
#include "tools/train/sampler.h"

namespace loupe::cli {

struct SampleArgs {
  std::string ckpt, prompt = "\n";
  tools::SampleOptions s;
  bool no_prompt_echo = false;
};

static void run_sample(SampleArgs& o) {
  const auto ck = tools::load_checkpoint(o.ckpt);
  auto model = tools::model_from_checkpoint(ck);
  const auto& tok = *ck.tokenizer;
  std::vector<int32_t> prompt = tok.encode(o.prompt);
  LOUPE_CHECK(!prompt.empty(), "sample: the prompt is empty");
  o.s.vocab_limit = tok.vocab_size();  // a padded model vocabulary: never draw what cannot be decoded
  if (!o.no_prompt_echo) std::fwrite(o.prompt.data(), 1, o.prompt.size(), stdout);
  tools::generate(*model, prompt, o.s, [&](int32_t id) {
    const std::string s = tok.decode({id});
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  });
  std::printf("\n");
}

void register_sample(CLI::App& app) {
  auto o = std::make_shared<SampleArgs>();
  auto* sub = app.add_subcommand("sample", "generate text from a trained checkpoint");
  sub->add_option("--ckpt", o->ckpt, "checkpoint directory (a loupe train --out)")->required();
  sub->add_option("--prompt,-p", o->prompt, "text to continue (default: a newline)");
  sub->add_option("--tokens,-n", o->s.tokens, "tokens to generate")->check(CLI::NonNegativeNumber);
  sub->add_option("--temperature,-t", o->s.temperature, "softmax temperature (0: greedy)")->check(CLI::NonNegativeNumber);
  sub->add_option("--top-k,-k", o->s.top_k, "sample among the k most likely tokens (0: all)")->check(CLI::NonNegativeNumber);
  sub->add_option("--seed", o->s.seed, "random seed");
  sub->add_flag("--no-echo", o->no_prompt_echo, "do not print the prompt first");
  add_reference_flag(sub);
  actions().push_back({sub, [o] { run_sample(*o); }});
}

}  // namespace loupe::cli
