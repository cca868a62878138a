#pragma once
// metrics_file: the preset's figures in node_exporter's textfile format (docs/monitoring.md#metrics_file).
// Several presets may share one file: each run replaces only its own preset's samples.

#include <filesystem>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/ops/run_record.hpp"

namespace snapkeep {

// One sample line: a metric name, its labels in order, and its value as written.
struct MetricSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  std::string value;
};

// The samples of one preset (labels preset and destination = its folder) for what `record` holds;
// figures that were never measured are left out rather than written as 0.
std::vector<MetricSample> preset_metrics(const Preset& preset, const PresetRecord& record);

// The samples of a file written by render_metrics (comments skipped). Fails on a line that is not
// a sample in the exposition format, naming its number.
Result<std::vector<MetricSample>> parse_metric_samples(const std::string& text);

// The text exposition format: for each family a HELP and a TYPE line, then its samples, families in
// a fixed order, samples sorted by their labels; families snapkeep does not know keep their samples
// untyped.
std::string render_metrics(const std::vector<MetricSample>& samples);

// Replaces the samples of `preset` (matched by its destination label) in `file` with `samples`,
// under an flock on a hidden lock file beside it, written atomically (temporary file, fsync, rename).
// A file that cannot be read as our format is replaced (with a warning), never an error.
Status update_metrics_file(const std::filesystem::path& file, const Preset& preset,
                           const std::vector<MetricSample>& samples);

}  // namespace snapkeep
