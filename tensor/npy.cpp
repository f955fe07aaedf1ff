#include "tensor/npy.h"

#include <algorithm>
#include <cstring>

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
  out += char(1);
  out += char(0);
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  out.append(static_cast<const char*>(c.raw_data()), size_t(c.numel()) * dtype_size(c.dtype()));
  return out;
}

void save_npy(const std::string& path, const Tensor& t) { write_file_atomic(path, npy_bytes(t)); }

namespace {

// The value of 'key' in the header's Python dict literal, as written (a quoted string, a tuple, a
// name); "" when absent.
std::string dict_value(const std::string& h, const std::string& key) {
  const size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t i = h.find(':', k);
  if (i == std::string::npos) return "";
  ++i;
  while (i < h.size() && h[i] == ' ') ++i;
  if (i >= h.size()) return "";
  const char open = h[i];
  const char close = open == '(' ? ')' : open == '\'' ? '\'' : 0;
  size_t end = close ? h.find(close, i + 1) : h.find_first_of(",}", i);
  if (end == std::string::npos) return "";
  return h.substr(i, end - i + (close ? 1 : 0));
}

}  // namespace

Tensor parse_npy(const std::string& b, const std::string& what) {
  auto fail = [&](const std::string& why) -> Error { return Error(detail::cat(what, ": not a usable .npy file: ", why)); };
  if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY") != 0) throw fail("no \\x93NUMPY magic");
  const int major = static_cast<unsigned char>(b[6]);
  if (major < 1 || major > 3) throw fail("format version " + std::to_string(major) + " (1, 2 or 3 expected)");
  const size_t len_bytes = major == 1 ? 2 : 4, start = 8 + len_bytes;
  if (b.size() < start) throw fail("truncated header");
  size_t hlen = 0;
  for (size_t i = 0; i < len_bytes; ++i) hlen |= size_t(static_cast<unsigned char>(b[8 + i])) << (8 * i);
  if (hlen > b.size() - start) throw fail("header length " + std::to_string(hlen) + " runs past the end");
  const std::string h = b.substr(start, hlen);
  const std::string descr = dict_value(h, "descr"), order = dict_value(h, "fortran_order"),
                    shape_s = dict_value(h, "shape");
  if (order != "False") throw fail("fortran_order is '" + order + "' (only C order, False, is read)");
  DType dt;
  size_t item;
  if (descr == "'<f4'") {
    dt = DType::F32;
    item = 4;
  } else if (descr == "'<f8'") {
    dt = DType::F64;
    item = 8;
  } else if (descr == "'<i8'") {
    dt = DType::I64;
    item = 8;
  } else if (descr == "'<i4'") {
    dt = DType::I64;
    item = 4;
  } else {
    throw fail("dtype " + (descr.empty() ? std::string("missing") : descr) + " (<f4, <f8, <i8 or <i4 expected)");
  }
  if (shape_s.size() < 2 || shape_s.front() != '(' || shape_s.back() != ')') throw fail("shape '" + shape_s + "' is not a tuple");
  Shape shape;
  size_t numel = 1, extent = 1;  // extent: the product with 0s read as 1 (strides must fit too)
  for (size_t i = 1; i + 1 < shape_s.size();) {
    while (i + 1 < shape_s.size() && shape_s[i] == ' ') ++i;
    if (i + 1 >= shape_s.size()) break;
    // Sizes are separated by commas (spaces around them allowed), as in a Python tuple.
    if (!shape.empty()) {
      if (shape_s[i] != ',') throw fail("shape " + shape_s + " is not a tuple of sizes");
      ++i;
      while (i + 1 < shape_s.size() && shape_s[i] == ' ') ++i;
      if (i + 1 >= shape_s.size()) break;
    }
    size_t j = i;
    int64_t d = 0;
    while (j + 1 < shape_s.size() && shape_s[j] >= '0' && shape_s[j] <= '9') {
      if (d > (int64_t(1) << 40)) throw fail("dimension too large in shape " + shape_s);
      d = d * 10 + (shape_s[j++] - '0');
    }
    if (j == i) throw fail("shape " + shape_s + " is not a tuple of sizes");
    if (extent > (size_t(1) << 40) / size_t(std::max<int64_t>(d, 1))) throw fail("shape " + shape_s + " is too large");
    shape.push_back(d), numel *= size_t(d), extent *= size_t(std::max<int64_t>(d, 1)), i = j;
  }
  const size_t data = start + hlen;
  if (b.size() - data != numel * item)
    throw fail("shape " + shape_s + " needs " + std::to_string(numel * item) + " bytes of data, the file has " +
               std::to_string(b.size() - data));
  Tensor t = Tensor::empty(shape, dt);
  if (item == dtype_size(dt)) {
    if (numel) std::memcpy(t.raw_data(), b.data() + data, numel * item);
  } else {  // '<i4' widened to i64
    auto* out = static_cast<int64_t*>(t.raw_data());
    for (size_t i = 0; i < numel; ++i) {
      int32_t v;
      std::memcpy(&v, b.data() + data + 4 * i, 4);
      out[i] = v;
    }
  }
  return t;
}

Tensor load_npy(const std::string& path) { return parse_npy(read_file(path), path); }

}  // namespace loupe
