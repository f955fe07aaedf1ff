// A tensor as the audit pages show it (`loupe explore`, `loupe audit diff --html`): its shape,
// dtype and statistics over the finite values, a histogram, and a small heatmap.
//   histogram: kHistBins equal bins between min and max (the finite values)
//   heatmap:   the tensor read as a matrix — its last dim across, the dim before it down; a tensor
//              of 3 or more dims shows its first index of each leading dim ([0, 0, :, :], said in
//              "map.of") — with at most kMapSide rows and columns: a larger matrix shows evenly
//              spaced rows and columns ("map.every" gives the step), never averages, so every cell
//              is a real number. Cells are quantised to a byte, v → round(127.5 + 127.5 · v / a)
//              with a = max |v| over the cells (0 white, negative blue, positive red on the page),
//              and sent as base64 ("map.q"): 64 × 64 cells cost 5.5 KB.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tensor/tensor.h"

namespace loupe::tools {

inline constexpr int kHistBins = 32;
inline constexpr int64_t kMapSide = 64;

// {"shape", "dtype", "min", "max", "mean", "rms", "nan", "inf", "hist": {"lo", "hi", "counts"},
//  "map": {"rows", "cols", "every": [row step, col step], "of": "[0, :, :]", "a", "q"}}.
// Integer tensors (token ids) get shape, dtype, min and max only; picture = false leaves out
// the histogram and the heatmap. An undefined tensor is null.
nlohmann::json summarize_tensor(const Tensor& t, bool picture = true);

std::string base64(const std::vector<uint8_t>& bytes);

}  // namespace loupe::tools
