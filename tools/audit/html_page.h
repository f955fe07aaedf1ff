// The audit pages (tools/audit/page/, compiled into the binary by page/embed.py): a template
// with the shared CSS and JS put in at /*COMMON_CSS*/ and /*COMMON_JS*/, and a record (JSON) at
// /*DATA*/. The result is one self-contained HTML file: no network access, it opens from disk
// and inside Jupyter (an iframe's srcdoc).
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace loupe::tools {

enum class Page { Explore, Diff };

std::string render_page(Page page, const nlohmann::json& record);

}  // namespace loupe::tools
