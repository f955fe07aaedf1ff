#include "tools/audit/fingerprint.h"

#include <xxhash.h>

#include <cstdio>
#include <filesystem>

#include "nn/safetensors.h"
#include "tensor/file_io.h"
#include "tools/train/checkpoint.h"
#include "tools/train/run_config.h"
#include "tools/train/metrics.h"
#include "tools/train/trainer.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;

json tiny_model_config(const std::string& type, double dropout) {
  json m = {{"type", type}, {"block_size", 16}, {"n_embd", 16}, {"n_head", 2}, {"dropout", dropout}};
  if (type == "shishu") m["share_pairs"] = true, m["mlp_layers"] = 3, m["attn_layers"] = 1;
  if (type == "elita") m["wraps"] = 2, m["n_layer"] = 2, m["logits_ffn_hidden"] = 8;
  if (type == "llama" || type == "wiola") m["n_kv_head"] = 1;  // grouped-query heads
  return m;
}

std::string tiny_corpus_text() {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "To be, or not to be, that is the question: whether 'tis nobler in the mind.\n";
  return text;
}

std::string write_tiny_run_config(const std::string& type, const std::string& dtype, const std::string& dir_name,
                                  int64_t steps) {
  const fs::path dir(dir_name);
  fs::create_directories(dir);
  write_file_atomic((dir / "corpus.txt").string(), tiny_corpus_text());
  const json cfg = {{"model", tiny_model_config(type)},
                    {"data", {{"corpus", (dir / "corpus.txt").string()}, {"tokenizer", "char"},
                              {"cache_dir", (dir / "cache").string()}}},
                    {"train", {{"batch_size", 3}, {"max_iters", steps}, {"lr", 3e-3}, {"warmup_iters", 2},
                               {"lr_decay_iters", steps}, {"eval_interval", steps}, {"eval_iters", 1},
                               {"log_interval", 1}, {"ckpt_interval", 1000}, {"grad_accum", 2}, {"dtype", dtype}}}};
  write_file_atomic((dir / "config.json").string(), cfg.dump(2));
  return (dir / "config.json").string();
}

Fingerprint fingerprint(const std::string& type, const std::string& dtype, const std::string& scratch_dir,
                        int64_t steps) {
  const fs::path dir = fs::path(scratch_dir) / (type + "-" + dtype);
  TrainOptions o;
  o.config = load_run_config(write_tiny_run_config(type, dtype, dir.string(), steps), {});
  o.out_dir = (dir / "run").string();
  o.force = true;  // a scratch directory: an earlier fingerprint's run there is replaced
  o.progress = false;
  const TrainResult r = train(o);

  Fingerprint f;
  f.model = type;
  f.dtype = dtype;
  f.val_loss = r.val_loss;
  XXH64_state_t* st = XXH64_createState();
  XXH64_reset(st, 0);
  for (const auto& [name, t] : nn::load_safetensors(checkpoint_path(o.out_dir))) {  // a std::map: by name
    const Tensor c = t.contiguous();
    XXH64_update(st, name.data(), name.size() + 1);
    for (int64_t d : c.shape()) XXH64_update(st, &d, sizeof d);
    XXH64_update(st, c.raw_data(), size_t(c.numel()) * dtype_size(c.dtype()));
  }
  f.hash = XXH64_digest(st);
  XXH64_freeState(st);
  for (const json& row : read_metrics_rows((fs::path(o.out_dir) / "metrics.jsonl").string(), false))
    if (row.contains("loss")) f.losses.push_back(row["loss"].get<double>());
  return f;
}

std::string fingerprint_line(const Fingerprint& f) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%-8s %-4s %016llx loss %a val %a", f.model.c_str(), f.dtype.c_str(),
                (unsigned long long)f.hash, f.losses.empty() ? 0.0 : f.losses.back(), f.val_loss);
  return buf;
}

}  // namespace loupe::tools
