#include "nn/embedding.h"

#include "autograd/ops.h"

namespace loupe::nn {

Embedding::Embedding(int64_t n, int64_t d, DType dtype) : num_embeddings(n), dim(d) {
  LOUPE_CHECK(n > 0 && d > 0, "Embedding: sizes must be positive, got ", n, " x ", d);
  weight = register_parameter("weight", Tensor::zeros({n, d}, dtype));
}

Var Embedding::forward(const Tensor& ids) const { return embedding(weight, ids); }

}  // namespace loupe::nn
