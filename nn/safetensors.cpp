#include "nn/safetensors.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>


#include <nlohmann/json.hpp>

#include "tensor/file_io.h"

namespace loupe::nn {

static_assert(std::endian::native == std::endian::little, "safetensors I/O assumes a little-endian host");

static const char* st_dtype(DType d) { return d == DType::F32 ? "F32" : d == DType::F64 ? "F64" : "I64"; }

// ------------------------------------------------------------------ save
void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> contig;
  uint64_t offset = 0;
  for (auto& [name, t] : tensors) {  // std::map: sorted names, so files are reproducible
    LOUPE_CHECK(name != "__metadata__" && !name.empty(), "save_safetensors(", path, "): invalid tensor name '", name, "'");
    LOUPE_CHECK(t.defined(), "save_safetensors(", path, "): tensor '", name, "' is undefined");
    const uint64_t nbytes = uint64_t(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", st_dtype(t.dtype())}, {"shape", t.shape()}, {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    contig.push_back(t.contiguous());
  }
  std::string hs = header.dump();
  hs.append((8 - hs.size() % 8) % 8, ' ');  // pad so the data starts 8-byte aligned (allowed by the format)
  const uint64_t n = hs.size();

  std::vector<std::string_view> parts = {std::string_view(reinterpret_cast<const char*>(&n), 8), hs};
  for (auto& t : contig)
    parts.emplace_back(static_cast<const char*>(t.raw_data()), size_t(t.numel()) * dtype_size(t.dtype()));
  try {
    write_file_atomic(path, parts);
  } catch (const Error& e) {
    throw Error(std::string("save_safetensors: ") + e.what());
  }
}

// ------------------------------------------------------------------ load
std::map<std::string, Tensor> parse_safetensors(const std::string& bytes, const std::string& what,
                                                std::map<std::string, std::string>* metadata) {
  const uint64_t size = bytes.size();
  LOUPE_CHECK(size >= 8, what, ": not a safetensors file (", size, " bytes, shorter than the 8-byte header length)");
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  LOUPE_CHECK(n <= size - 8, what, ": header length ", n, " exceeds the file size ", size);
  LOUPE_CHECK(n >= 2, what, ": header length ", n, " is too small for a JSON object");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + int64_t(n));
  } catch (const nlohmann::json::exception& e) {
    throw Error(what + ": header is not valid JSON: " + e.what());
  }
  LOUPE_CHECK(header.is_object(), what, ": header must be a JSON object");
  const uint64_t data_size = size - 8 - n;
  const char* data = bytes.data() + 8 + n;

  std::map<std::string, Tensor> out;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, e] : header.items()) {
    if (name == "__metadata__") {
      LOUPE_CHECK(e.is_object(), what, ": __metadata__ must be an object of strings");
      for (auto& [k, v] : e.items()) {
        LOUPE_CHECK(v.is_string(), what, ": __metadata__ value for '", k, "' is not a string");
        if (metadata) (*metadata)[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = what + ": tensor '" + name + "'";
    LOUPE_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") && e.contains("data_offsets"), where,
                ": entry needs dtype, shape and data_offsets");
    LOUPE_CHECK(e["dtype"].is_string(), where, ": dtype must be a string");
    const std::string ds = e["dtype"].get<std::string>();
    DType dt;
    if (ds == "F32") dt = DType::F32;
    else if (ds == "F64") dt = DType::F64;
    else if (ds == "I64") dt = DType::I64;
    else throw Error(where + ": unsupported dtype " + ds + " (loupe reads F32, F64, I64)");
    LOUPE_CHECK(e["shape"].is_array(), where, ": shape must be an array");
    Shape shape;
    for (auto& d : e["shape"]) {
      LOUPE_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0), where,
                  ": shape entries must be non-negative integers, got ", d.dump());
      LOUPE_CHECK(d.get<uint64_t>() <= kMaxTensorBytes, where, ": shape entry ", d.dump(), " is too large");
      shape.push_back(d.get<int64_t>());
    }
    // Bytes, not elements, are bounded: F32 [2^62] is 2^64 bytes, which a 64-bit product wraps to 0.
    const auto shape_bytes = tensor_nbytes(shape, dt);
    LOUPE_CHECK(shape_bytes, where, ": shape ", shape_str(shape), " ", ds, " needs more than 2^62 bytes");
    auto& off = e["data_offsets"];
    LOUPE_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                where, ": data_offsets must be two non-negative integers");
    const uint64_t b = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    LOUPE_CHECK(b <= end && end <= data_size, where, ": data_offsets [", b, ", ", end, "] outside the data section of ",
                data_size, " bytes");
    const uint64_t nbytes = *shape_bytes;
    LOUPE_CHECK(end - b == nbytes, where, ": shape ", shape_str(shape), " ", ds, " needs ", nbytes,
                " bytes, data_offsets give ", end - b);
    ranges.emplace_back(b, end);
    Tensor t = Tensor::empty(shape, dt);
    if (nbytes) std::memcpy(t.raw_data(), data + b, nbytes);
    out[name] = t;
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    LOUPE_CHECK(ranges[i].first >= ranges[i - 1].second, what, ": tensors overlap in the data section at byte ",
                ranges[i].first);
  return out;
}

std::map<std::string, Tensor> load_safetensors(const std::string& path, std::map<std::string, std::string>* metadata) {
  std::ifstream f(path, std::ios::binary);
  LOUPE_CHECK_FILE(f, "load_safetensors: cannot open ", path, ": ", std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  LOUPE_CHECK(!f.bad(), "load_safetensors: error reading ", path);
  return parse_safetensors(ss.str(), path, metadata);
}

}  // namespace loupe::nn
