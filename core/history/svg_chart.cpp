#include "core/history/svg_chart.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>

#include <fmt/format.h>

#include "core/base/format.hpp"

namespace snapkeep {
namespace {

// The drawing's size in its own units; the page scales it to the width it has.
constexpr double k_width = 480;
constexpr double k_height = 220;
constexpr double k_left = 62;
constexpr double k_right = 10;
constexpr double k_top = 10;
constexpr double k_bottom = 30;

// A "nice" step (1, 2 or 5 times a power of ten) of at least `raw`.
double nice_step(double raw) {
  if (raw <= 0) {
    return 1;
  }
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw) {
      return m * power;
    }
  }
  return 10 * power;
}

// The value axis' ticks: a nice step in the unit users read (KiB, MiB, ...: powers of 1024).
double value_step(double top, AxisUnit unit) {
  if (unit == AxisUnit::share) {
    return 0.25;
  }
  double scale = 1;
  if (unit == AxisUnit::bytes) {
    while (top / scale >= 1024) {
      scale *= 1024;
    }
  }
  return nice_step(top / scale / 4) * scale;
}

std::string date_label(double when, bool with_time) {
  const auto t = static_cast<std::time_t>(when);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, with_time ? "%m-%d %H:%M" : "%Y-%m-%d", &tm);
  return text;
}

std::string num(double v) {
  return fmt::format("{:.1f}", v);
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '&':
        out += "&amp;";
        ++i;
        continue;
      case '<':
        out += "&lt;";
        ++i;
        continue;
      case '>':
        out += "&gt;";
        ++i;
        continue;
      case '"':
        out += "&quot;";
        ++i;
        continue;
      case '\'':
        out += "&#39;";
        ++i;
        continue;
      default: break;
    }
    // A whole UTF-8 sequence (no overlong forms, no surrogates), else U+FFFD for the byte.
    std::size_t length = c < 0x80                   ? 1
                         : (c >= 0xC2 && c <= 0xDF) ? 2
                         : (c >= 0xE0 && c <= 0xEF) ? 3
                         : (c >= 0xF0 && c <= 0xF4) ? 4
                                                    : 0;
    bool valid = length > 0 && i + length <= text.size();
    for (std::size_t k = 1; valid && k < length; ++k) {
      valid = (static_cast<unsigned char>(text[i + k]) & 0xC0) == 0x80;
    }
    if (valid && length >= 3) {
      const auto c1 = static_cast<unsigned char>(text[i + 1]);
      valid = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0) && !(c == 0xF0 && c1 < 0x90) &&
              !(c == 0xF4 && c1 >= 0x90);
    }
    if (valid && (c >= 0x20 || c == '\t' || c == '\n')) {
      out.append(text.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

std::string format_axis_value(double value, AxisUnit unit) {
  switch (unit) {
    case AxisUnit::bytes: return format_bytes(static_cast<std::uint64_t>(std::max(0.0, value)));
    case AxisUnit::share: return fmt::format("{:.0f} %", value * 100);
    case AxisUnit::seconds:
      if (value < 1) {
        return fmt::format("{:.2f} s", value);
      }
      if (value < 10) {
        return fmt::format("{:.1f} s", value);
      }
      if (value < 120) {
        return fmt::format("{:.0f} s", value);
      }
      if (value < 7200) {
        return fmt::format("{:.0f} min", value / 60);
      }
      return fmt::format("{:.1f} h", value / 3600);
  }
  return "";
}

std::string render_chart(const Chart& chart) {
  double x_min = 0;
  double x_max = 0;
  double y_top = 0;
  bool any = false;
  for (const auto& s : chart.series) {
    for (const auto& p : s.points) {
      x_min = any ? std::min(x_min, p.time) : p.time;
      x_max = any ? std::max(x_max, p.time) : p.time;
      y_top = std::max(y_top, p.value);
      any = true;
    }
  }
  std::string svg = fmt::format(R"(<svg viewBox="0 0 {} {}" role="img" aria-label="{}">)", k_width, k_height,
                                html_escape(chart.title));
  if (!any) {
    svg += fmt::format(R"(<text class="empty" x="{}" y="{}" text-anchor="middle">nothing recorded yet</text></svg>)",
                       k_width / 2, k_height / 2);
    return svg;
  }
  if (x_max - x_min < 86400) {  // one moment, or a short span: a day around it
    const double middle = (x_min + x_max) / 2;
    x_min = middle - 43200;
    x_max = middle + 43200;
  }
  const double pad = (x_max - x_min) * 0.04;
  x_min -= pad;
  x_max += pad;
  if (chart.y_max) {
    y_top = *chart.y_max;
  }
  const double step = value_step(y_top > 0 ? y_top : 1, chart.unit);
  y_top = chart.y_max ? *chart.y_max : std::max(step, std::ceil(y_top / step) * step);
  const double plot_w = k_width - k_left - k_right;
  const double plot_h = k_height - k_top - k_bottom;
  auto x_of = [&](double t) { return k_left + (t - x_min) / (x_max - x_min) * plot_w; };
  auto y_of = [&](double v) { return k_top + plot_h - std::clamp(v / y_top, 0.0, 1.0) * plot_h; };

  svg += R"(<g class="axis">)";
  for (double v = 0; v <= y_top * 1.0001; v += step) {
    svg += fmt::format(R"(<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/>)", k_left, k_width - k_right,
                       num(y_of(v)), num(y_of(v)));
    svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="end">{}</text>)", k_left - 4, num(y_of(v) + 4),
                       html_escape(format_axis_value(v, chart.unit)));
  }
  const bool with_time = x_max - x_min < 3 * 86400;
  for (int i = 0; i < 4; ++i) {
    const double t = x_min + pad + (x_max - x_min - 2 * pad) * i / 3.0;
    const char* anchor = i == 0 ? "start" : (i == 3 ? "end" : "middle");
    svg += fmt::format(R"(<text x="{}" y="{}" text-anchor="{}">{}</text>)", num(x_of(t)), k_height - 10, anchor,
                       html_escape(date_label(t, with_time)));
  }
  svg += fmt::format(R"(<line class="base" x1="{}" x2="{}" y1="{}" y2="{}"/></g>)", k_left, k_width - k_right,
                     num(y_of(0)), num(y_of(0)));

  for (const auto& s : chart.series) {
    const std::string css = html_escape(s.css_class);
    if (s.kind == ChartSeries::Kind::bars) {
      const double width = std::clamp(plot_w / (static_cast<double>(s.points.size()) * 1.6), 1.5, 18.0);
      svg += fmt::format(R"(<g class="{}">)", css);
      for (const auto& p : s.points) {
        const double top = y_of(p.value);
        svg += fmt::format(R"(<rect x="{}" y="{}" width="{}" height="{}"/>)", num(x_of(p.time) - width / 2), num(top),
                           num(width), num(y_of(0) - top));
      }
      svg += "</g>";
    } else if (s.kind == ChartSeries::Kind::dots) {
      svg += fmt::format(R"(<g class="{}">)", css);
      for (const auto& p : s.points) {
        svg += fmt::format(R"(<circle cx="{}" cy="{}" r="3"/>)", num(x_of(p.time)), num(y_of(p.value)));
      }
      svg += "</g>";
    } else {
      std::string path;
      for (const auto& p : s.points) {
        path += fmt::format("{}{},{}", path.empty() ? "M" : " L", num(x_of(p.time)), num(y_of(p.value)));
      }
      if (s.points.size() == 1) {
        svg += fmt::format(R"(<circle class="{}" cx="{}" cy="{}" r="3"/>)", css, num(x_of(s.points[0].time)),
                           num(y_of(s.points[0].value)));
      } else if (!path.empty()) {
        svg += fmt::format(R"(<path class="{}" d="{}"/>)", css, path);
      }
    }
  }
  svg += "</svg>";
  return svg;
}

}  // namespace snapkeep
