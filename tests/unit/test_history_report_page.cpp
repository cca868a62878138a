// Unit tests for the report page (core/history/report_html, svg_chart): escaping, charts, and a page
// that references nothing outside itself.

#include <algorithm>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "core/history/report_html.hpp"
#include "core/history/svg_chart.hpp"

namespace snapkeep {
namespace {

TEST(ReportPage, EscapesTextAndReplacesBytesThatAreNotUtf8) {
  EXPECT_EQ(html_escape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(html_escape("caf\xc3\xa9 \xe2\x82\xac"), "caf\xc3\xa9 \xe2\x82\xac");
  EXPECT_EQ(html_escape("a\xffz"), "a\xEF\xBF\xBDz");
  EXPECT_EQ(html_escape("\xc3"), "\xEF\xBF\xBD") << "a sequence cut short";
  EXPECT_EQ(html_escape("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD") << "a surrogate";
  EXPECT_EQ(html_escape(std::string("a\0b", 3)),
            "a\xEF\xBF\xBD"
            "b")
      << "control bytes";
}

TEST(ReportPage, ChartsAreInlineSvgWithAxesAndNoReference) {
  Chart chart{"free <space>", AxisUnit::bytes, {}, std::nullopt};
  chart.series.push_back({ChartSeries::Kind::line, "s-free", {{0, 1 << 20}, {86400 * 10, 1 << 19}}});
  chart.series.push_back({ChartSeries::Kind::bars, "s-excl", {{0, 4096}, {86400 * 10, 8192}}});
  const std::string svg = render_chart(chart);
  EXPECT_EQ(svg.rfind("<svg viewBox=", 0), 0u) << svg;
  EXPECT_NE(svg.find("aria-label=\"free &lt;space&gt;\""), std::string::npos) << svg;
  EXPECT_NE(svg.find("<path class=\"s-free\""), std::string::npos) << svg;
  EXPECT_EQ(static_cast<std::size_t>(std::count(svg.begin(), svg.end(), '<') - std::count(svg.begin(), svg.end(), '>')),
            0u);
  EXPECT_NE(svg.find("<rect "), std::string::npos) << svg;
  EXPECT_NE(svg.find("1.0 MiB"), std::string::npos) << "the value axis reaches the largest value:\n" << svg;
  EXPECT_EQ(svg.find("xmlns"), std::string::npos) << "inline SVG needs no namespace URL";
  EXPECT_EQ(svg.find("href"), std::string::npos);
  EXPECT_NE(render_chart(Chart{"empty", AxisUnit::share, {}, 1.0}).find("nothing recorded yet"), std::string::npos);
}

TEST(ReportPage, IsOneDocumentWithoutExternalReferences) {
  nlohmann::json preset = {
      {"name", "home<1>"},
      {"status", "ok"},
      {"backend", "rsync"},
      {"destination", "/mnt/backup/home"},
      {"snapshots",
       {{{"id", "2026-01-01_00-00-00"},
         {"time_unix", 1767225600},
         {"exclusive_bytes", 4096},
         {"cumulative_bytes", 4096},
         {"keep", false},
         {"reasons", nlohmann::json::array()}}}},
      {"findings",
       {{{"status", "corrupted"},
         {"size", 10},
         {"snapshots", {"2026-01-01_00-00-00"}},
         {"paths", {"2026-01-01_00-00-00/a\xff.txt"}},
         {"paths_total", 3},
         {"time", "2026-01-02T00:00:00+00:00"}}}},
  };
  nlohmann::json unavailable = {{"name", "usb"}, {"status", "unavailable"}, {"reason", "drive not mounted"}};
  const std::string page = render_report_html({{"presets", {preset, unavailable}}}, 1767225600);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("name=\"viewport\""), std::string::npos);
  EXPECT_NE(page.find("@media print"), std::string::npos);
  EXPECT_NE(page.find("home&lt;1&gt;"), std::string::npos);
  EXPECT_NE(page.find("a\xEF\xBF\xBD.txt"), std::string::npos) << "the finding's path, made safe";
  EXPECT_NE(page.find("and 2 more"), std::string::npos);
  EXPECT_NE(page.find("drive not mounted"), std::string::npos);
  EXPECT_NE(page.find(">delete<"), std::string::npos);
  // Nothing the page could fetch: no URL scheme, no src, no link, no import, no script.
  const std::regex fetch(R"((://|\bsrc\s*=|<link|@import|url\(|<script|<iframe|<img))", std::regex::icase);
  std::smatch m;
  EXPECT_FALSE(std::regex_search(page, m, fetch)) << "found " << m.str(0);
}

}  // namespace
}  // namespace snapkeep
