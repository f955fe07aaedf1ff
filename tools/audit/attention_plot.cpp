#include "tools/audit/attention_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tensor/error.h"

namespace loupe::tools {

namespace {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&apos;"; break;
      default: o += c;
    }
  }
  return o;
}

// The length of the valid UTF-8 sequence at s[i], or 0 (RFC 3629: no overlongs, no surrogates).
size_t utf8_length(const std::string& s, size_t i) {
  const auto b = [&](size_t k) { return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u; };
  const unsigned c = b(0);
  auto cont = [&](size_t k) { return (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    const unsigned lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    return b(1) >= lo && b(1) <= hi && cont(2) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    const unsigned lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    return b(1) >= lo && b(1) <= hi && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

std::string fmt(const char* f, double a, double b = 0, double c = 0, double d = 0) {
  char buf[160];
  std::snprintf(buf, sizeof buf, f, a, b, c, d);
  return buf;
}

}  // namespace

std::string token_text(const std::string& t) {
  std::string o;
  for (size_t i = 0; i < t.size();) {
    const size_t n = utf8_length(t, i);
    if (n == 0) {
      o += "\xEF\xBF\xBD", ++i;  // U+FFFD
      continue;
    }
    const char c = t[i];
    if (c == ' ') o += "\xE2\x90\xA3";        // ␣
    else if (c == '\n') o += "\xE2\x8F\x8E";  // ⏎
    else if (c == '\t') o += "\xE2\x87\xA5";  // ⇥
    else if (n == 1 && static_cast<unsigned char>(c) < 0x20) o += "\xEF\xBF\xBD";
    else o += t.substr(i, n);
    i += n;
  }
  return o;
}

std::string token_label(const std::string& t) { return xml_escape(token_text(t)); }

std::string attention_svg(const std::vector<AttentionMap>& maps, const std::vector<std::string>& tokens,
                          const std::string& title) {
  LOUPE_CHECK(!maps.empty(), "attention plot: no attention maps (the model ran no attention)");
  const int64_t T = int64_t(tokens.size());
  int64_t heads = 0;
  for (auto& m : maps) {
    LOUPE_CHECK(m.probs.dim() == 4 && m.probs.size(2) == T && m.probs.size(3) >= T, "attention plot: map of '",
                m.module, "' is ", m.probs.str(), ", not [B, H, ", T, ", ", T, "]");
    heads = std::max(heads, m.probs.size(1));
  }
  std::vector<std::string> labels;
  size_t longest = 1;
  for (auto& t : tokens) {
    labels.push_back(token_label(t));
    longest = std::max(longest, std::min<size_t>(t.size(), 8));
  }
  const double c = std::clamp(320.0 / double(T), 3.0, 18.0);  // cell size
  const bool text = c >= 7;                                     // token labels fit
  const double font = std::min(c * 0.8, 11.0), lab = text ? 6 + font * 0.62 * double(longest) : 4;
  const double head_h = 18, gap = 18, pw = lab + c * double(T), ph = head_h + lab + c * double(T);
  const double top = 64, left = 12, W = left + double(heads) * (pw + gap), H = top + double(maps.size()) * (ph + gap);
  std::string s = fmt("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" ", std::max(W, 660.0), H) +
                  "font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += fmt("<text x=\"%g\" y=\"22\" font-size=\"15\">", left) + xml_escape(title) + "</text>\n";
  s += fmt("<text x=\"%g\" y=\"40\" font-size=\"11\" fill=\"#444\">", left) +
       "each panel: row i = query token i, column j = key token j; shade = attention weight (white 0, dark blue 1)"
       "</text>\n";
  for (int k = 0; k <= 10; ++k) {  // legend
    const double p = k / 10.0;
    s += fmt("<rect x=\"%.1f\" y=\"46\" width=\"12\" height=\"8\" fill=\"rgb(%.0f,%.0f,", left + 12.0 * k,
             255 - p * (255 - 8), 255 - p * (255 - 48)) +
         fmt("%.0f)\"/>", 255 - p * (255 - 107));
  }
  for (size_t r = 0; r < maps.size(); ++r) {
    const Tensor& P = maps[r].probs;
    const int64_t Hh = P.size(1), Tk = P.size(3);
    const double* p = P.data<double>();
    for (int64_t h = 0; h < Hh; ++h) {
      const double x0 = left + double(h) * (pw + gap), y0 = top + double(r) * (ph + gap);
      const double gx = x0 + lab, gy = y0 + head_h + lab;
      s += "<g>\n" + fmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\">", x0, y0 + 12) +
           xml_escape(maps[r].module.empty() ? "(top level)" : maps[r].module) + fmt(" · head %.0f</text>\n", double(h));
      s += fmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#f4f4f4\" stroke=\"#999\" "
               "stroke-width=\"0.5\"/>\n", gx, gy, c * double(T), c * double(T));
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j) {
          const double v = std::clamp(p[(h * T + i) * Tk + j], 0.0, 1.0);  // batch row 0
          if (!(v > 0)) continue;
          s += fmt("<rect x=\"%.1f\" y=\"%.1f\" width=\"%.2f\" height=\"%.2f\" ", gx + c * double(j), gy + c * double(i), c, c) +
               fmt("fill=\"rgb(%.0f,%.0f,%.0f)\"/>\n", 255 - v * (255 - 8), 255 - v * (255 - 48), 255 - v * (255 - 107));
        }
      if (text)
        for (int64_t i = 0; i < T; ++i) {
          const double mid = c * (double(i) + 0.5) + font * 0.35;
          s += fmt("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%.1f\" text-anchor=\"end\">", gx - 3, gy + mid, font) +
               labels[size_t(i)] + "</text>\n";
          s += fmt("<text transform=\"translate(%.1f,%.1f) rotate(-90)\" font-size=\"%.1f\">", gx + mid, gy - 3, font) +
               labels[size_t(i)] + "</text>\n";
        }
      s += "</g>\n";
    }
  }
  return s + "</svg>\n";
}

}  // namespace loupe::tools
