#include "tools/train/evaluate.h"

#include <algorithm>
#include <vector>

#include "autograd/var.h"
#include "tools/train/step.h"

namespace loupe::tools {

double split_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t block,
                  int64_t batch, int64_t* tokens) {
  LOUPE_CHECK(block > 0 && batch > 0, "split_loss: block and batch must be > 0, got ", block, ", ", batch);
  const int64_t n = ds.split_size(split) - 1;  // tokens that have a successor to predict
  LOUPE_CHECK(n > 0, "split_loss: the split has no token to predict");
  NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  double sum = 0;  // Σ over windows of (mean loss × its tokens), in window order
  for (int64_t w0 = 0; w0 < n; w0 += batch * block) {
    const int64_t full = std::min(batch, (n - w0) / block);  // whole windows in this batch
    const auto run = [&](int64_t start, int64_t rows, int64_t T) {
      Tensor x = Tensor::empty({rows, T}, DType::I64), y = Tensor::empty({rows, T}, DType::I64);
      int64_t* px = x.data<int64_t>();
      int64_t* py = y.data<int64_t>();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t t = 0; t < T; ++t) {
          px[r * T + t] = ds.token(split, start + r * T + t);
          py[r * T + t] = ds.token(split, start + r * T + t + 1);
        }
      sum += model.loss(x, y).item() * double(rows * T);
    };
    if (full > 0) run(w0, full, block);
    if (full < batch && w0 + full * block < n) run(w0 + full * block, 1, n - w0 - full * block);  // the short tail
  }
  model.train(was_training);
  if (tokens) *tokens = n;
  return sum / double(n);
}

double estimate_loss(models::LanguageModel& model, const text::TokenDataset& ds, text::Split split, int64_t batch,
                     int64_t block, int64_t iters, uint64_t seed, Cluster& cluster) {
  NoGrad ng;
  const bool was_training = model.is_training();
  model.eval();
  std::vector<double> losses(size_t(iters), 0.0);  // batch i's loss on its rank, 0 elsewhere
  cluster.all_or_none([&] {
    Tensor x, y;
    for (int64_t i = cluster.rank(); i < iters; i += cluster.size()) {
      ds.batch(split, batch, block, seed, uint64_t(i), x, y);
      losses[size_t(i)] = model.loss(x, y).item();
    }
  });
  model.train(was_training);
  cluster.share(losses);
  double sum = 0;
  for (double l : losses) sum += l;
  return sum / double(iters);
}

}  // namespace loupe::tools
