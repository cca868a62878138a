#pragma once
// Small charts drawn as inline SVG for the report page: a time axis, one value axis, bars, lines
// and a dashed projection. No script and no external reference: the page works offline and in
// print. Colours come from the page's style sheet (class names).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/history/trends.hpp"

namespace snapkeep {

// What the value axis counts.
enum class AxisUnit { bytes, seconds, share };

// One series of a chart.
struct ChartSeries {
  enum class Kind { bars, line, dashed, dots };
  Kind kind = Kind::line;
  std::string css_class;          // its colour in the page's style sheet
  std::vector<TimePoint> points;  // time in seconds since the epoch, oldest first
};

// A chart: series over one time axis.
struct Chart {
  std::string title;  // read out by screen readers
  AxisUnit unit = AxisUnit::bytes;
  std::vector<ChartSeries> series;
  std::optional<double> y_max;  // a fixed top (shares: 1)
};

// The chart as an <svg> element that scales to the width it is given. A chart without points says so.
std::string render_chart(const Chart& chart);

// Text made safe inside HTML (and SVG) elements and quoted attributes; bytes that are not UTF-8
// (a file name) become U+FFFD.
std::string html_escape(std::string_view text);

// A value as the axis shows it: "1.5 GiB", "12 s", "80 %".
std::string format_axis_value(double value, AxisUnit unit);

}  // namespace snapkeep
