#pragma once
// The report page: one self-contained HTML document drawn from the report's JSON (report_data):
// inline SVG charts, one style sheet, no script and no external reference, so it works offline,
// fits a phone's width and prints (docs/history.md).

#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

namespace snapkeep {

// The page for `doc` ({"presets": [entry, ...]} as `report --json` prints it), made at `now`.
std::string render_report_html(const nlohmann::json& doc, std::time_t now);

}  // namespace snapkeep
