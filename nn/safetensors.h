// safetensors: the Hugging Face tensor file format, readable from PyTorch and numpy.
//   [8 bytes: little-endian u64 N] [N bytes: JSON header] [raw little-endian tensor data]
// The header maps each tensor name to {"dtype": "F32"|"F64"|"I64", "shape": [...],
// "data_offsets": [begin, end]} (offsets relative to the end of the header), plus an
// optional "__metadata__" object of string -> string.
#pragma once
#include <map>
#include <string>

#include "tensor/tensor.h"

namespace loupe::nn {

// Writes to a temporary file next to `path` (tensor/file_io.h), fsyncs, then renames over `path`: a crash never leaves a half-written file.
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates every field (header length, JSON, dtype, shape vs byte count, offsets inside
// the file and not overlapping); errors name the file and the tensor.
std::map<std::string, Tensor> load_safetensors(const std::string& path,
                                               std::map<std::string, std::string>* metadata = nullptr);

// Same parsing from bytes in memory (`what` names the source in errors); used by the loader and fuzz tests.
std::map<std::string, Tensor> parse_safetensors(const std::string& bytes, const std::string& what,
                                                std::map<std::string, std::string>* metadata = nullptr);

}  // namespace loupe::nn
