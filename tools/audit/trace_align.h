// The alignment behind `loupe audit diff`: two traces' op records paired by the shortest edit
// script between their sequences of keys, so an op added, removed or moved by a change leaves
// the rest paired.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace loupe::tools {

// What alignment compares: the op, its pass and module, and the shapes it read and made.
std::string align_key(const nlohmann::json& record);

// Myers' O((N+M)·D) shortest edit script between two key sequences: `pairs` gets the (i, j) it
// keeps, in order. D, the number of inserted plus deleted records, is capped (kMaxEdits): beyond
// it the traces are too different to align and align returns false. Memory: about D²/2 ints.
inline constexpr int64_t kMaxEdits = 6000;
bool align(const std::vector<std::string>& a, const std::vector<std::string>& b,
           std::vector<std::pair<int64_t, int64_t>>& pairs);

}  // namespace loupe::tools
