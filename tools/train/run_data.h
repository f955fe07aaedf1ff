// A run's data and model sections resolved: the tokenizer and the memory-mapped token dataset a
// data section names (or a checkpoint recorded), and the model config a run builds.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "tools/text/dataset.h"
#include "tools/text/tokenizer.h"
#include "tools/train/checkpoint.h"
#include "tools/train/run_config.h"

namespace loupe::tools {

struct Data {
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<text::TokenDataset> dataset;
};
// The data section's tokenizer (or `tokenizer`, e.g. a checkpoint's) and token dataset.
Data open_data(const DataConfig& data, const text::Tokenizer* tokenizer = nullptr);
// A checkpoint's data (its data section and tokenizer), refused, naming both sets of hashes and
// the files, when the corpus or its token file is not what the checkpoint trained on (Checkpoint::
// data) unless allow_other_data. A checkpoint from before that record is not checked.
Data open_checkpoint_data(const Checkpoint& ck, const std::string& ckpt_dir, bool allow_other_data);

// The model section of a run config as `train` builds it: vocab_size from the tokenizer when the
// section has none (`tokenizer_vocab` is called only then: opening the data can take a while),
// and train.dtype when the model names no dtype.
nlohmann::json training_model_config(const RunConfig& run, const std::function<int64_t()>& tokenizer_vocab);

}  // namespace loupe::tools
