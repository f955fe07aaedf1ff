#include "tools/audit/html_page.h"

#include "tensor/error.h"
#include "tools/audit/pages.inc"

namespace loupe::tools {

namespace {

void put(std::string& page, const std::string& mark, const std::string& text) {
  const auto at = page.find(mark);
  LOUPE_CHECK(at != std::string::npos, "audit page: the template has no ", mark);
  page.replace(at, mark.size(), text);
}

}  // namespace

std::string render_page(Page which, const nlohmann::json& record) {
  std::string page = which == Page::Explore ? kPage_explore_html : kPage_diff_html;
  // JSON inside <script>: "<" only ever occurs inside strings, where \u003c means the same and
  // cannot close the script element. Bytes that are not UTF-8 (a token cut mid-character) become U+FFFD.
  std::string data = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), safe;
  safe.reserve(data.size());
  for (char c : data) c == '<' ? safe += "\\u003c" : safe += c;
  put(page, "/*COMMON_CSS*/", kPage_common_css);
  put(page, "/*COMMON_JS*/", kPage_common_js);
  put(page, "/*DATA*/", safe);
  return page;
}

}  // namespace loupe::tools
