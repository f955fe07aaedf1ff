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

}  // namespace loupe
