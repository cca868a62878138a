#include "core/history/report_html.hpp"

#include <cmath>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "core/base/format.hpp"
#include "core/history/svg_chart.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep {
namespace {

// The page's whole style sheet: readable from 320 px up, and in print.
constexpr std::string_view k_style = R"css(
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1b1f24;background:#f4f6f8}
header,main,footer{max-width:960px;margin:0 auto;padding:10px 16px}
h1{font-size:1.45rem;margin:.3em 0}
h2{font-size:1.25rem;margin:.2em 0}
h3{font-size:1.05rem;margin:1.2em 0 .4em}
p{margin:.3em 0}
nav a{margin-right:12px}
.muted{color:#57606a;font-size:.9rem}
section.preset{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px 16px;margin:14px 0}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:8px;margin:10px 0}
.card{border:1px solid #e1e5ea;border-radius:6px;padding:6px 10px;min-width:0}
.card .label{display:block;font-size:.8rem;color:#57606a}
.card .value{display:block;font-size:1.1rem;font-weight:600;overflow-wrap:anywhere}
.warn .value{color:#b35900}
.bad .value{color:#cf222e}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,380px),1fr));gap:6px 20px}
figure{margin:10px 0;min-width:0}
figcaption{font-weight:600;margin-bottom:4px}
svg{display:block;width:100%;height:auto;max-width:100%}
svg text{font-size:12px;fill:#57606a}
svg .grid{stroke:#e6e9ed;stroke-width:1}
svg .base{stroke:#8c959f;stroke-width:1}
svg text.empty{font-size:13px}
.legend{font-size:.85rem;color:#57606a;margin-top:4px}
.legend span{display:inline-block;margin-right:14px}
.swatch{display:inline-block;width:14px;height:4px;margin-right:5px;vertical-align:middle}
.s-excl rect,.swatch.s-excl{fill:#4c8bf5;background:#4c8bf5}
.s-cum,.s-free,.s-proj,.s-cov{fill:none;stroke-width:2}
.s-cum{stroke:#d9730d}.swatch.s-cum{background:#d9730d}
.s-free{stroke:#1a7f37}.swatch.s-free{background:#1a7f37}
.s-proj{stroke:#1a7f37;stroke-dasharray:6 4;opacity:.8}.swatch.s-proj{background:repeating-linear-gradient(90deg,#1a7f37 0 5px,transparent 5px 8px)}
.s-dur rect,.swatch.s-dur{fill:#8250df;background:#8250df}
.s-cov{stroke:#0969da}.swatch.s-cov{background:#0969da}
.s-covdot circle{fill:#0969da}
circle.s-cum{fill:#d9730d}circle.s-free{fill:#1a7f37}circle.s-cov{fill:#0969da}
table{width:100%;border-collapse:collapse;table-layout:fixed;font-size:.92rem}
th,td{text-align:left;padding:4px 6px;border-bottom:1px solid #e1e5ea;vertical-align:top;overflow-wrap:anywhere}
th{font-weight:600;color:#57606a}
col.c-id{width:42%}col.c-size{width:20%}col.c-plan{width:38%}
.keep{color:#1a7f37}
.delete{color:#cf222e;font-weight:600}
code,.path{font-family:monospace;overflow-wrap:anywhere}
body{overflow-wrap:break-word}
ul.findings{padding-left:1.1em}
ul.findings li{margin:.4em 0}
ul.paths{padding-left:1.1em;margin:.2em 0}
@media (max-width:600px){
body{font-size:14px}
header,main,footer{padding:8px 10px}
section.preset{padding:8px 10px;margin:10px 0}
.cards{grid-template-columns:repeat(2,minmax(0,1fr))}
th,td{padding:3px 4px;font-size:.82rem}
}
@media print{
body{background:#fff;font-size:10pt;color:#000}
header,main,footer{max-width:none;padding:0}
nav{display:none}
section.preset{border:0;border-radius:0;padding:0;margin:0 0 12pt}
section.preset+section.preset{break-before:page}
figure,.cards,ul.findings li,tr{break-inside:avoid}
a{color:inherit;text-decoration:none}
}
)css";

double number(const nlohmann::json& j, const char* key, double fallback = 0) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

std::string text(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string bytes(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? format_bytes(it->get<std::uint64_t>()) : "?";
}

// A summary card.
std::string card(std::string_view label, const std::string& value, std::string_view tone = "") {
  return fmt::format(R"(<div class="card {}"><span class="label">{}</span><span class="value">{}</span></div>)", tone,
                     label, html_escape(value));
}

std::string legend(const std::vector<std::pair<std::string_view, std::string_view>>& items) {
  std::string out = R"(<p class="legend">)";
  for (const auto& [css, label] : items) {
    out += fmt::format(R"(<span><i class="swatch {}"></i>{}</span>)", css, label);
  }
  return out + "</p>";
}

std::string figure(std::string_view caption, const Chart& chart, const std::string& legend_html) {
  return fmt::format("<figure><figcaption>{}</figcaption>{}{}</figure>", caption, render_chart(chart), legend_html);
}

// The summary cards of one preset.
std::string cards(const nlohmann::json& p) {
  const nlohmann::json& snapshots = p.value("snapshots", nlohmann::json::array());
  const nlohmann::json& space = p.value("space", nlohmann::json::object());
  const nlohmann::json& projection = space.value("projection", nlohmann::json::object());
  const nlohmann::json& coverage = p.value("coverage", nlohmann::json::object());
  const std::size_t findings = p.value("findings", nlohmann::json::array()).size();
  std::string out = R"(<div class="cards">)";
  out += card("Snapshots", std::to_string(snapshots.size()));
  out += card("Held by all snapshots", bytes(p, "total_bytes"));
  out += card("Free on the destination",
              space.contains("free_bytes") ? bytes(space, "free_bytes") + " of " + bytes(space, "size_bytes") : "?");
  if (projection.value("days_left", nlohmann::json()).is_number()) {
    const double days = projection["days_left"].get<double>();
    out += card("Full at the current rate",
                fmt::format("in {:.0f} days ({})", days, text(projection, "full_at").substr(0, 10)),
                days < 30 ? "bad" : (days < 90 ? "warn" : ""));
  } else {
    out += card("Full at the current rate", "not filling up");
  }
  const double share = number(coverage, "now");
  out += card(fmt::format("Scrub coverage, last {:.0f} days", number(coverage, "window_days", 30)),
              fmt::format("{:.0f} %", share * 100), share < 0.5 ? "warn" : "");
  out += card("Open findings", std::to_string(findings), findings > 0 ? "bad" : "");
  return out + "</div>";
}

std::string charts(const nlohmann::json& p) {
  std::string out;
  Chart usage{"Snapshots over time: bytes each alone holds, and bytes freed by deleting it with every older one",
              AxisUnit::bytes,
              {},
              std::nullopt};
  ChartSeries exclusive{ChartSeries::Kind::bars, "s-excl", {}};
  ChartSeries cumulative{ChartSeries::Kind::line, "s-cum", {}};
  for (const auto& s : p.value("snapshots", nlohmann::json::array())) {
    if (s.contains("exclusive_bytes")) {
      exclusive.points.push_back({number(s, "time_unix"), number(s, "exclusive_bytes")});
      cumulative.points.push_back({number(s, "time_unix"), number(s, "cumulative_bytes")});
    }
  }
  usage.series = {exclusive, cumulative};
  out += figure("Snapshots: what each holds alone, and with every older one", usage,
                legend({{"s-excl", "alone (freed by deleting just it)"}, {"s-cum", "it and every older one"}}));

  const nlohmann::json& space = p.value("space", nlohmann::json::object());
  Chart free{"Free space on the destination over time, with a projection", AxisUnit::bytes, {}, std::nullopt};
  ChartSeries readings{ChartSeries::Kind::line, "s-free", {}};
  for (const auto& point : space.value("points", nlohmann::json::array())) {
    readings.points.push_back({number(point, "time_unix"), number(point, "free_bytes")});
  }
  free.series.push_back(readings);
  const nlohmann::json& projection = space.value("projection", nlohmann::json::object());
  std::string projection_note;
  if (projection.value("full_at_unix", nlohmann::json()).is_number() && !readings.points.empty()) {
    const TimePoint last = readings.points.back();
    const double full_at = projection["full_at_unix"].get<double>();
    const double span = std::max(last.time - readings.points.front().time, 30.0 * 86400);
    ChartSeries line{ChartSeries::Kind::dashed, "s-proj", {last}};
    if (full_at - last.time <= span) {
      line.points.push_back({full_at, 0});
    } else {  // far away: drawn as far as the history reaches back
      line.points.push_back({last.time + span, last.value + number(projection, "bytes_per_day") * span / 86400});
      projection_note = fmt::format(R"(<p class="muted">At this rate the destination fills on {}.</p>)",
                                    html_escape(text(projection, "full_at").substr(0, 10)));
    }
    free.series.push_back(line);
  }
  out += figure("Free space on the destination", free,
                legend({{"s-free", "free"}, {"s-proj", "projection at the current rate"}}) + projection_note);

  Chart durations{"Backup durations", AxisUnit::seconds, {}, std::nullopt};
  ChartSeries seconds{ChartSeries::Kind::bars, "s-dur", {}};
  for (const auto& b : p.value("backups", nlohmann::json::array())) {
    seconds.points.push_back({number(b, "time_unix"), number(b, "seconds")});
  }
  durations.series = {seconds};
  out += figure("Backup durations", durations, legend({{"s-dur", "seconds per backup"}}));

  const nlohmann::json& coverage = p.value("coverage", nlohmann::json::object());
  Chart scrub{"Scrub coverage over time", AxisUnit::share, {}, 1.0};
  ChartSeries share{ChartSeries::Kind::line, "s-cov", {}};
  for (const auto& s : p.value("scrubs", nlohmann::json::array())) {
    share.points.push_back({number(s, "time_unix"), number(s, "coverage")});
  }
  if (!share.points.empty()) {
    // The line ends at the report's moment, at the figure the card above shows.
    share.points.push_back({number(p, "generated_unix"), number(coverage, "now")});
  }
  scrub.series = {share};
  out += figure(fmt::format("Scrub coverage: share of the content verified in the last {:.0f} days",
                            number(coverage, "window_days", 30)),
                scrub, legend({{"s-cov", "verified within the window, after each scrub, and now"}}));
  return out;
}

std::string findings(const nlohmann::json& p) {
  const nlohmann::json& list = p.value("findings", nlohmann::json::array());
  std::string out = "<h3>Open findings</h3>";
  if (list.empty()) {
    const nlohmann::json& coverage = p.value("coverage", nlohmann::json::object());
    return out + (coverage.value("last_scrub", nlohmann::json()).is_string()
                      ? "<p>None: the last scrub found no damage that is not repaired.</p>"
                      : "<p>No scrub has run yet.</p>");
  }
  out += R"(<ul class="findings">)";
  for (const auto& f : list) {
    const std::size_t shown = f.value("paths", nlohmann::json::array()).size();
    const std::uint64_t total = f.value("paths_total", std::uint64_t{shown});
    out += fmt::format("<li><strong>{}</strong>, {}, found {}, in {} snapshot(s):<ul class=\"paths\">",
                       html_escape(text(f, "status")), bytes(f, "size"), html_escape(text(f, "time")),
                       f.value("snapshots", nlohmann::json::array()).size());
    for (const auto& path : f.value("paths", nlohmann::json::array())) {
      out += fmt::format(R"(<li class="path">{}</li>)", html_escape(path.is_string() ? path.get<std::string>() : ""));
    }
    if (total > shown) {
      out += fmt::format("<li>… and {} more</li>", total - shown);
    }
    out += "</ul></li>";
  }
  return out + "</ul>";
}

std::string snapshot_table(const nlohmann::json& p) {
  const nlohmann::json& retention = p.value("retention", nlohmann::json::object());
  std::string keep = text(retention, "keep");
  std::string out = fmt::format(
      "<h3>Snapshots and the retention plan</h3><p class=\"muted\">keep = {}; what <code>snapkeep prune "
      "--dry-run</code> would do now.</p>",
      keep.empty() ? "(empty: every snapshot is kept)" : html_escape(keep));
  out +=
      R"(<table><colgroup><col class="c-id"><col class="c-size"><col class="c-plan"></colgroup><thead><tr><th>Snapshot</th><th>Alone holds</th><th>Plan</th></tr></thead><tbody>)";
  const nlohmann::json& snapshots = p.value("snapshots", nlohmann::json::array());
  for (auto it = snapshots.rbegin(); it != snapshots.rend(); ++it) {
    const nlohmann::json& s = *it;
    std::string reasons;
    for (const auto& r : s.value("reasons", nlohmann::json::array())) {
      reasons += (reasons.empty() ? "" : ", ") + (r.is_string() ? r.get<std::string>() : "");
    }
    const bool kept = s.value("keep", true);
    out += fmt::format(R"(<tr><td><code>{}</code>{}</td><td>{}</td><td><span class="{}">{}</span>{}</td></tr>)",
                       html_escape(text(s, "id")), s.value("latest", false) ? " (latest)" : "",
                       bytes(s, "exclusive_bytes"), kept ? "keep" : "delete", kept ? "keep" : "delete",
                       reasons.empty() ? "" : " <span class=\"muted\">(" + html_escape(reasons) + ")</span>");
  }
  return out + "</tbody></table>";
}

std::string drives(const nlohmann::json& p) {
  std::string out;
  for (const auto& d : p.value("drives", nlohmann::json::array())) {
    std::string seen = text(d, "last_seen");
    out +=
        fmt::format("{}drive <code>{}</code> {}", out.empty() ? "" : "; ", html_escape(text(d, "uuid")),
                    d.value("connected", false)
                        ? "(connected: shown here)"
                        : "(not connected" + (seen.empty() ? std::string() : ", last seen " + html_escape(seen)) + ")");
  }
  return out.empty() ? "" : "<p class=\"muted\">" + out + "</p>";
}

std::string preset_section(const nlohmann::json& p, std::size_t index) {
  const std::string name = text(p, "name");
  std::string out = fmt::format(R"(<section class="preset" id="preset-{}"><h2>{}</h2>)", index, html_escape(name));
  out += fmt::format(R"(<p class="muted">{} backend · <span class="path">{}</span></p>)",
                     html_escape(text(p, "backend")), html_escape(text(p, "destination")));
  const std::string status = text(p, "status");
  if (status != "ok") {
    out += fmt::format("<p><strong>{}</strong>: {}</p>", html_escape(status),
                       html_escape(text(p, status == "unavailable" ? "reason" : "error")));
    return out + drives(p) + "</section>";
  }
  out += drives(p);
  if (p.contains("usage_error")) {
    out += fmt::format("<p>Sizes unavailable: {}</p>", html_escape(text(p, "usage_error")));
  }
  out += cards(p);
  out += "<div class=\"charts\">" + charts(p) + "</div>";
  out += findings(p);
  out += snapshot_table(p);
  return out + "</section>";
}

}  // namespace

std::string render_report_html(const nlohmann::json& doc, std::time_t now) {
  const nlohmann::json& presets = doc.value("presets", nlohmann::json::array());
  std::string page = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  page += R"(<meta name="viewport" content="width=device-width, initial-scale=1">)";
  page += "<title>snapkeep report</title><style>";
  page += k_style;
  page += "</style></head><body><header><h1>snapkeep report</h1>";
  page += fmt::format(R"(<p class="muted">Made {} from each preset's history log and snapshots.</p>)",
                      html_escape(format_iso_local(now)));
  if (presets.size() > 1) {
    page += "<nav>";
    for (std::size_t i = 0; i < presets.size(); ++i) {
      page += fmt::format(R"(<a href="#preset-{}">{}</a>)", i, html_escape(text(presets[i], "name")));
    }
    page += "</nav>";
  }
  page += "</header><main>";
  for (std::size_t i = 0; i < presets.size(); ++i) {
    page += preset_section(presets[i], i);
  }
  page +=
      "</main><footer><p class=\"muted\">Exclusive sizes as <code>snapkeep du</code> measures them; "
      "free space and durations as each backup recorded them; coverage from each scrub's record.</p>"
      "</footer></body></html>\n";
  return page;
}

}  // namespace snapkeep
