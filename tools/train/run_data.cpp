#include "tools/train/run_data.h"

#include <filesystem>

#include "tensor/error.h"

namespace loupe::tools {

namespace fs = std::filesystem;
using nlohmann::json;

Data open_data(const DataConfig& d, const text::Tokenizer* tokenizer) {
  Data out;
  const std::string& corpus = d.corpus;
  const std::string& cache = d.cache_dir;
  LOUPE_CHECK_FILE(fs::exists(corpus), "data.corpus: no such file '", corpus, "'");
  out.tokenizer = tokenizer ? text::tokenizer_from_json(tokenizer->to_json(), "from checkpoint")
                            : text::tokenizer_for_corpus(d.tokenizer, corpus, d.bpe_vocab, cache);
  out.dataset = std::make_unique<text::TokenDataset>(corpus, *out.tokenizer, d.val_fraction, cache);
  return out;
}

Data open_checkpoint_data(const Checkpoint& ck, const std::string& ckpt_dir, bool allow_other_data) {
  Data out = open_data(ck.config.data, ck.tokenizer.get());
  const json& now = out.dataset->identity();
  if (ck.data.empty() || allow_other_data) return out;  // ({}: a checkpoint from before the record)
  const auto same = [&](const char* k) { return ck.data.contains(k) && ck.data[k] == now[k]; };
  LOUPE_CHECK(same("corpus_fnv1a64") && same("tokens_xxh64") && same("tokens"), "checkpoint '", checkpoint_path(ckpt_dir),
              "' was trained on other data: its corpus had FNV-1a ", ck.data.value("corpus_fnv1a64", "?"),
              " and its token file XXH64 ", ck.data.value("tokens_xxh64", "?"), " (", ck.data.value("tokens", int64_t(-1)),
              " tokens); data.corpus '", ck.config.data.corpus, "' now gives FNV-1a ",
              now["corpus_fnv1a64"].get<std::string>(), ", token file '", out.dataset->path(), "' XXH64 ",
              now["tokens_xxh64"].get<std::string>(), " (", now["tokens"].get<int64_t>(),
              " tokens). --allow-other-data uses it anyway");
  return out;
}

json training_model_config(const RunConfig& run, const std::function<int64_t()>& tokenizer_vocab) {
  json m = run.model;
  if (!m.contains("vocab_size")) m["vocab_size"] = tokenizer_vocab();
  if (run.train.dtype != DType::F32 && !m.contains("dtype")) m["dtype"] = "f64";
  return m;
}

}  // namespace loupe::tools
