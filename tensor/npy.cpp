#include "tensor/npy.h"

#include "tensor/file_io.h"

namespace loupe {

std::string npy_bytes(const Tensor& t) {
  LOUPE_CHECK(t.defined(), "save_npy: the tensor is undefined");
  const Tensor c = t.contiguous();
  const char* descr = c.dtype() == DType::F32 ? "<f4" : c.dtype() == DType::F64 ? "<f8" : "<i8";
  std::string shape;  // a Python tuple: (), (5,), (2, 3)
  for (int64_t d : c.shape()) shape += (shape.empty() ? "" : ", ") + std::to_string(d);
  shape = "(" + shape + (c.dim() == 1 ? ",)" : ")");
  std::string header = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t prefix = 10, total = (prefix + header.size() + 1 + 63) / 64 * 64;
  header.append(total - prefix - header.size() - 1, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += char(1), out += char(0);
  out += char(header.size() & 0xff), out += char(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(c.raw_data()), size_t(c.numel()) * dtype_size(c.dtype()));
  return out;
}

void save_npy(const std::string& path, const Tensor& t) { write_file_atomic(path, npy_bytes(t)); }

}  // namespace loupe
