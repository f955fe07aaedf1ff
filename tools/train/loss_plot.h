// loss.svg: train and validation loss against the step, as a small hand-written SVG
// (no plotting library): axes with round-number ticks, one polyline per series.
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace loupe::tools {

struct LossSeries {
  std::string name{}, color{};
  std::vector<std::pair<double, double>> points{};  // (step, loss)
  bool markers = false;
  double width = 1.5;    // stroke width
  std::string dash{};    // SVG stroke-dasharray ("" = solid)
  bool legend = true;    // listed in the legend
};

std::string loss_svg(const std::vector<LossSeries>& series, const std::string& title, const std::string& x_label = "step");

}  // namespace loupe::tools
