// A model's loss on a split, without a graph and in eval mode (dropout off), two ways.
#pragma once
#include <cstdint>

#include "models/model.h"
#include "tools/text/dataset.h"
#include "tools/train/cluster.h"

namespace loupe::tools {

// Mean cross-entropy over `iters` fixed batches of a split (batch index i = 0..iters-1 of the
// stream `seed`: the trainer and `loupe eval` pass TrainConfig::eval_seed()). On a cluster, rank r
// evaluates the batches i ≡ r (mod N) and the losses are summed in i order: the same mean on any
// rank count.
double estimate_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t batch,
                     int64_t block, int64_t iters, uint64_t seed, Cluster& cluster = Cluster::single());

// Mean cross-entropy over every token of a split: the split cut into consecutive windows of
// `block` tokens (the last one shorter), each predicting its next tokens from the window
// alone, `batch` windows per forward. Deterministic, no sampling: what `loupe compare` and
// `loupe eval --whole` report. Returns the loss and, in *tokens, how many tokens it averages.
double split_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t block,
                  int64_t batch, int64_t* tokens = nullptr);

}  // namespace loupe::tools
