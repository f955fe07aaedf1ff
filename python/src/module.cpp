// The extension module loupe._loupe: one binding file per part of loupe (bindings.h).
#include "python/src/bindings.h"

NB_MODULE(_loupe, m) {
  m.doc() = "loupe's C++ core: tensors, autograd, ops, layers and optimizers (see python/README.md)";
  loupe::py::bind_errors(m);
  auto tensor = loupe::py::bind_tensor(m);
  loupe::py::bind_ops(m, tensor);
  loupe::py::bind_nn(m);
  loupe::py::bind_optim(m);
  loupe::py::bind_models(m);
  loupe::py::bind_pipeline(m);
  loupe::py::bind_audit(m);
  loupe::py::bind_data(m);
}
