// Embedding: a table of num_embeddings rows of width dim; forward looks rows up by id.
#pragma once
#include "nn/module.h"

namespace loupe::nn {

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t dim, DType dtype = DType::F32);  // zeros; models initialise
  Var forward(const Tensor& ids) const;  // i64 ids of any shape -> [..., dim]

  int64_t num_embeddings, dim;
  Var weight;  // [num_embeddings, dim]
};

}  // namespace loupe::nn
