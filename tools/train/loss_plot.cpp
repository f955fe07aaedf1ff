#include "tools/train/loss_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace loupe::tools {

// A "nice" tick step (1, 2 or 5 × 10^k) giving about n ticks over [lo, hi].
static double tick_step(double lo, double hi, int n) {
  const double raw = (hi - lo) / n;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}

static std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string loss_svg(const std::vector<LossSeries>& series, const std::string& title, const std::string& x_label) {
  const double W = 720, H = 440, L = 64, R = 20, T = 40, B = 48;  // size and margins
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (auto& s : series)
    for (auto [x, y] : s.points) {
      if (!std::isfinite(y)) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  if (!std::isfinite(x0)) {
    x0 = 0;
    x1 = 1;
    y0 = 0;
    y1 = 1;
  }
  if (x1 <= x0) x1 = x0 + 1;
  if (y1 <= y0) y1 = y0 + 1;
  const double pad = 0.05 * (y1 - y0);
  y0 -= pad;
  y1 += pad;
  auto px = [&](double x) { return L + (x - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double y) { return T + (y1 - y) / (y1 - y0) * (H - T - B); };

  std::string s = fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\"", W) + fmt(" height=\"%g\"", H) +
                  " font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += fmt("<text x=\"%g\" y=\"24\" font-size=\"15\">", L) + title + "</text>\n";
  // Grid and ticks.
  const double xs = tick_step(x0, x1, 8), ys = tick_step(y0, y1, 6);
  for (double x = std::ceil(x0 / xs) * xs; x <= x1 + 1e-9; x += xs)
    s += fmt("<line x1=\"%.1f\"", px(x)) + fmt(" x2=\"%.1f\"", px(x)) + fmt(" y1=\"%g\"", T) +
         fmt(" y2=\"%g\" stroke=\"#e4e4e4\"/>", H - B) + fmt("<text x=\"%.1f\"", px(x)) +
         fmt(" y=\"%g\" text-anchor=\"middle\">", H - B + 16) + fmt("%g", x) + "</text>\n";
  for (double y = std::ceil(y0 / ys) * ys; y <= y1 + 1e-12; y += ys)
    s += fmt("<line x1=\"%g\"", L) + fmt(" x2=\"%g\"", W - R) + fmt(" y1=\"%.1f\"", py(y)) +
         fmt(" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", py(y)) + fmt("<text x=\"%g\"", L - 6) +
         fmt(" y=\"%.1f\" text-anchor=\"end\">", py(y) + 4) + fmt("%g", y) + "</text>\n";
  s += fmt("<rect x=\"%g\"", L) + fmt(" y=\"%g\"", T) + fmt(" width=\"%g\"", W - L - R) +
       fmt(" height=\"%g\" fill=\"none\" stroke=\"#333\"/>\n", H - T - B);
  s += fmt("<text x=\"%g\"", (L + W - R) / 2) + fmt(" y=\"%g\" text-anchor=\"middle\">", H - 10) + x_label + "</text>\n";
  s += fmt("<text x=\"14\" y=\"%g\" text-anchor=\"middle\" ", (T + H - B) / 2) +
       fmt("transform=\"rotate(-90 14 %g)\">loss</text>\n", (T + H - B) / 2);
  // Series and legend.
  double ly = T + 16;
  for (auto& ser : series) {
    std::string pts;
    for (auto [x, y] : ser.points)
      if (std::isfinite(y)) pts += fmt("%.1f,", px(x)) + fmt("%.1f ", py(y));
    s += "<polyline fill=\"none\" stroke=\"" + ser.color + fmt("\" stroke-width=\"%g\"", ser.width) +
         (ser.dash.empty() ? "" : " stroke-dasharray=\"" + ser.dash + "\"") + " points=\"" + pts + "\"/>\n";
    if (ser.markers)
      for (auto [x, y] : ser.points)
        if (std::isfinite(y))
          s += fmt("<circle cx=\"%.1f\"", px(x)) + fmt(" cy=\"%.1f\" r=\"3\" fill=\"", py(y)) + ser.color + "\"/>\n";
    if (!ser.legend) continue;
    s += fmt("<line x1=\"%g\"", W - R - 130) + fmt(" x2=\"%g\"", W - R - 110) + fmt(" y1=\"%g\"", ly - 4) +
         fmt(" y2=\"%g\" stroke=\"", ly - 4) + ser.color + "\" stroke-width=\"2\"/>" + fmt("<text x=\"%g\"", W - R - 104) +
         fmt(" y=\"%g\">", ly) + ser.name + "</text>\n";
    ly += 16;
  }
  return s + "</svg>\n";
}

}  // namespace loupe::tools
