// The training loop behind `loupe train` (and `loupe bench train`, `loupe compare`), read top to
// bottom as nanoGPT's train.py:
//   for it in [start, max_iters):
//     every eval_interval: estimate train/val loss on fixed batches (evaluate.h), append to
//                          metrics.jsonl, redraw loss.svg
//     one step (step.h: schedule, micro-batches, backward, clip, update); log it
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
#include <string>

#include "tools/train/cluster.h"
#include "tools/train/run_config.h"

namespace loupe::tools {

struct TrainOptions {
  RunConfig config;        // load_run_config
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
  // Called on rank 0 with every metrics row (a logged step or an evaluation) as it is made, with
  // or without an out_dir: the Python API's training callbacks (loupe.train(..., callback=)).
  std::function<void(const nlohmann::json&)> on_row;
};

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

}  // namespace loupe::tools
