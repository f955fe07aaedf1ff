// attn.svg: a grid of attention heatmaps, one row per attention call (layer), one column per head;
// in each, row i is query token i and column j key token j, shaded by the weight P_ij (white 0,
// dark blue 1, linear), with the tokens on both axes. Hand-written SVG, as loss.svg.
#pragma once
#include <string>
#include <vector>

#include "autograd/attention_probe.h"

namespace loupe::tools {

// A token as a short label for the axes: valid UTF-8 (bad bytes become U+FFFD), whitespace made
// visible (space ␣, newline ⏎, tab ⇥), XML-escaped. token_text: the same, not escaped.
std::string token_label(const std::string& text);
std::string token_text(const std::string& text);

// maps' first batch row; tokens: one label per position (token_label applied here).
std::string attention_svg(const std::vector<AttentionMap>& maps, const std::vector<std::string>& tokens,
                          const std::string& title);

}  // namespace loupe::tools
