// NumPy's .npy format (version 1.0), so `numpy.load` reads any tensor loupe dumps:
//   "\x93NUMPY" 1 0, u16 header length, a Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with spaces to a multiple
//   of 64 bytes and ended by '\n', then the raw little-endian data in C order.
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace loupe {

void save_npy(const std::string& path, const Tensor& t);  // atomic (tensor/file_io.h)
std::string npy_bytes(const Tensor& t);

// Reads what save_npy writes, and what numpy.save writes for these dtypes: '<f4' (f32), '<f8'
// (f64), '<i8' (i64), '<i4' (widened to i64); C order; format versions 1.0, 2.0 and 3.0.
// Anything else (Fortran order, big-endian, other dtypes, a header or size that does not add
// up) is an Error that names `what` (the file) and the problem.
Tensor parse_npy(const std::string& bytes, const std::string& what);
Tensor load_npy(const std::string& path);

}  // namespace loupe
