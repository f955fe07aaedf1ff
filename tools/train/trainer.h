// The training loop behind `loupe train` (and `loupe bench train`):
//   for it in [start, max_iters):
//     every eval_interval: estimate train/val loss on fixed batches, append to
//                          metrics.jsonl, redraw loss.svg
//     lr = schedule(it); grad_accum micro-batches (batch index it·accum + micro),
//     loss/accum backward; clip the global grad norm; optimizer step
//     every ckpt_interval and at the end: checkpoint (model + optimizer + step)
// Everything random is keyed by (seed, step, micro-batch), so a run stopped and resumed from its
// checkpoint ends with bitwise the same weights as one that never stopped.
//
// Data parallel (under mpirun, tools/train/cluster.h): train.batch_size is the global batch; each of the
// N ranks takes batch_size / N rows of every micro-step, i.e. micro-batch m = a·N + r of the
// step's grad_accum · N, and the gradients are folded in m order (tools/train/step_gradient.h). So N
// ranks with (batch_size B, grad_accum A) give bitwise the run of one process with
// (batch_size B/N, grad_accum A·N), and a checkpoint resumes on any rank count that keeps
// B/N and A·N. Rank 0 alone writes files and the progress line; evaluation batches are split
// over the ranks (batch i on rank i mod N) and summed in i order.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model.h"
#include "tools/train/cluster.h"
#include "tools/text/dataset.h"

namespace loupe::tools {

struct Checkpoint;  // tools/train/checkpoint.h

struct TrainOptions {
  nlohmann::json config;   // a complete run config (load_run_config)
  std::string out_dir;     // metrics.jsonl, loss.svg, ckpt.safetensors; "" = write nothing (bench)
  bool resume = false;     // continue from out_dir's checkpoint
  bool force = false;      // start over in an out_dir that holds a run, replacing it (else refused)
  bool allow_other_data = false;  // resume even if the corpus or token file differ from the checkpoint's
  bool progress = true;    // live progress line on stderr
  int64_t stop_after = -1; // stop (with a checkpoint) once this many steps are done, as if interrupted
  bool evaluate = true;    // periodic evaluation (bench turns it off)
  int64_t untimed_steps = 0;  // first steps of this run left out of tokens_per_sec (warm-up)
  bool anomaly = false;       // stop at the first NaN/Inf an op makes (autograd/anomaly.h); dumps to out_dir/anomaly
  Cluster* cluster = nullptr; // the job's ranks (Cluster::world() under mpirun); nullptr = one process
};

// The rows of a run's metrics.jsonl, each a JSON object with an integer "step". Any other line is
// an error naming the file and line, except a torn last line (no newline after it: the write of
// an interrupted run), which is dropped when torn_last_ok (resume does; readers of finished runs
// do not).
std::vector<nlohmann::json> read_metrics_rows(const std::string& path, bool torn_last_ok);

// The files of a run that `dir` holds (ckpt.safetensors, metrics.jsonl, config.json); none: a new run
// may start there. train() refuses such a directory unless resuming or forced.
std::vector<std::string> run_files_in(const std::string& dir);

struct TrainResult {
  int64_t steps_done = 0;       // total completed steps (including those before a resume)
  int64_t steps_this_run = 0;
  double last_train_loss = 0;   // loss of the last step
  double val_loss = -1;         // last evaluation (-1: none)
  double tokens_per_sec = 0;    // training steps only (no eval), this run, after untimed_steps
  int64_t tokens_per_step = 0;  // batch · block · grad_accum (the global batch, over all ranks)
  double seconds = 0;
  int64_t num_parameters = 0;
  int ranks = 1;
  double comm_seconds_per_step = 0;  // this rank's gradient reduction per timed step
  double wait_seconds_per_step = 0;  // this rank's wait for the slowest rank per timed step
  uint64_t reduced_bytes_per_step = 0;  // gradient bytes each rank folds per step (0 on one process without accumulation)
};

TrainResult train(const TrainOptions& opt);

// Resolves the data section: the tokenizer and the memory-mapped token dataset.
struct Data {
  std::unique_ptr<text::Tokenizer> tokenizer;
  std::unique_ptr<text::TokenDataset> dataset;
};
Data open_data(const nlohmann::json& data_cfg, const text::Tokenizer* tokenizer = nullptr);
// A checkpoint's data (its data section and tokenizer), refused, naming both sets of hashes and
// the files, when the corpus or its token file is not what the checkpoint trained on (Checkpoint::
// data) unless allow_other_data. A checkpoint from before that record is not checked.
Data open_checkpoint_data(const Checkpoint& ck, const std::string& ckpt_dir, bool allow_other_data);

// The model section of a run config as `train` builds it: vocab_size from the tokenizer when the
// section has none (`tokenizer_vocab` is called only then: opening the data can take a while),
// and train.dtype when the model names no dtype.
nlohmann::json training_model_config(const nlohmann::json& run_cfg, const std::function<int64_t()>& tokenizer_vocab);

// Mean cross-entropy over `iters` fixed batches of a split (batch index i = 0..iters-1 of a
// stream separate from training), in eval mode without a graph. On a cluster, rank r evaluates
// the batches i ≡ r (mod N) and the losses are summed in i order: the same mean on any rank count.
double estimate_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t batch,
                     int64_t block, int64_t iters, uint64_t seed, Cluster& cluster = Cluster::single());

// Mean cross-entropy over every token of a split: the split cut into consecutive windows of
// `block` tokens (the last one shorter), each predicting its next tokens from the window
// alone, `batch` windows per forward. Deterministic, no sampling: what `loupe compare` and
// `loupe eval --whole` report. Returns the loss and, in *tokens, how many tokens it averages.
double split_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t block,
                  int64_t batch, int64_t* tokens = nullptr);

// Mean cross-entropy of logits [B, T, V] against targets [B, T].
Var lm_loss(const Var& logits, const Tensor& targets);

}  // namespace loupe::tools
