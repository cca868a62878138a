#pragma once
// A strict reader of the Prometheus text exposition format (0.0.4), as node_exporter's textfile
// collector reads it: the tests' check that metrics_file is well formed.

#include <map>
#include <string>
#include <vector>

namespace snapkeep::test {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string name;
  std::string help;
  std::string type;  // counter, gauge, histogram, summary or untyped
  std::vector<PromSample> samples;
};

// The families of `text`, or an error "line N: why" in `error`. Checks: every line ends with a
// newline; metric and label names; label values' escapes and UTF-8; one HELP and one TYPE per
// family, TYPE before its samples; each family's samples contiguous; no series twice; values
// and timestamps as Prometheus parses them.
std::vector<PromFamily> parse_prom_text(const std::string& text, std::string& error);

// The value of the sample of `family` whose labels include all of `labels`; NaN when none.
double prom_value(const std::vector<PromFamily>& families, const std::string& family,
                  const std::map<std::string, std::string>& labels);

}  // namespace snapkeep::test
