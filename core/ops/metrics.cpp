#include "core/ops/metrics.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// The families snapkeep writes, in the order they appear, with their help text (all gauges).
struct Family {
  const char* name;
  const char* help;
};
constexpr std::array k_families = {
    Family{"snapkeep_last_success_timestamp_seconds", "Unix time the last backup that made its snapshot ended."},
    Family{"snapkeep_last_backup_timestamp_seconds", "Unix time the last backup run ended, whatever its result."},
    Family{"snapkeep_last_backup_failed", "1 when the last backup run failed, else 0."},
    Family{"snapkeep_last_backup_skipped", "1 when the last backup run was skipped (drive absent), else 0."},
    Family{"snapkeep_last_backup_duration_seconds", "How long the last backup run took."},
    Family{"snapkeep_last_backup_bytes_transferred", "Bytes the last backup run copied or sent."},
    Family{"snapkeep_snapshots", "Complete snapshots of the preset on its destination, when last measured."},
    Family{"snapkeep_destination_free_bytes", "Room left on the destination filesystem, when last measured."},
    Family{"snapkeep_destination_size_bytes", "Size of the destination filesystem, when last measured."},
    Family{"snapkeep_scrub_last_timestamp_seconds", "Unix time the last scrub ended."},
    Family{"snapkeep_scrub_damaged_contents", "Contents the last scrub found damaged and could not repair."},
    Family{"snapkeep_scrub_last_bytes_read", "Bytes the last scrub read to verify contents."},
    Family{"snapkeep_scrub_contents_unverified", "Contents no scrub has verified yet (a budget stopped it)."},
};

// Valid UTF-8 is kept; any other byte becomes '?' (the format is UTF-8).
std::string utf8_only(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = n != 0 && i + n <= text.size() && !(n == 2 && c < 0xc2);
    for (std::size_t k = 1; ok && k < n; ++k) {
      ok = (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80;
    }
    if (ok) {
      out.append(text, i, n);
      i += n;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

std::string escape_label(const std::string& value) {
  std::string out;
  for (char c : utf8_only(value)) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string sample_line(const MetricSample& s) {
  std::string line = s.name;
  if (!s.labels.empty()) {
    line += '{';
    for (std::size_t i = 0; i < s.labels.size(); ++i) {
      line += (i == 0 ? "" : ",") + s.labels[i].first + "=\"" + escape_label(s.labels[i].second) + "\"";
    }
    line += '}';
  }
  return line + " " + s.value;
}

bool name_char(char c, bool first) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' || (!first && c >= '0' && c <= '9');
}

// One sample line; nullopt when it is not one.
std::optional<MetricSample> parse_sample(const std::string& line) {
  MetricSample s;
  std::size_t i = 0;
  while (i < line.size() && name_char(line[i], i == 0)) {
    s.name += line[i++];
  }
  if (s.name.empty()) {
    return std::nullopt;
  }
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      std::string key;
      while (i < line.size() && name_char(line[i], key.empty()) && line[i] != ':') {
        key += line[i++];
      }
      if (key.empty() || i + 1 >= line.size() || line[i] != '=' || line[i + 1] != '"') {
        return std::nullopt;
      }
      i += 2;
      std::string value;
      while (i < line.size() && line[i] != '"') {
        if (line[i] == '\\' && i + 1 < line.size()) {
          const char e = line[i + 1];
          value += e == 'n' ? '\n' : e;
          i += 2;
        } else {
          value += line[i++];
        }
      }
      if (i >= line.size()) {
        return std::nullopt;
      }
      ++i;  // the closing quote
      s.labels.emplace_back(std::move(key), std::move(value));
      if (i < line.size() && line[i] == ',') {
        ++i;
      }
    }
    if (i >= line.size()) {
      return std::nullopt;
    }
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') {
    return std::nullopt;
  }
  s.value = line.substr(i + 1);
  if (s.value.empty() || s.value.find(' ') != std::string::npos) {
    return std::nullopt;
  }
  return s;
}

std::string label_of(const MetricSample& s, const std::string& key) {
  for (const auto& [k, v] : s.labels) {
    if (k == key) {
      return v;
    }
  }
  return "";
}

std::string number(double value) {
  return fmt::format("{}", value);
}

}  // namespace

std::vector<MetricSample> preset_metrics(const Preset& preset, const PresetRecord& record) {
  const std::vector<std::pair<std::string, std::string>> labels = {{"preset", preset.name},
                                                                   {"destination", preset.preset_dir().string()}};
  std::vector<MetricSample> out;
  auto add = [&](const char* name, const std::string& value) { out.push_back({name, labels, value}); };
  if (record.last_success) {
    add("snapkeep_last_success_timestamp_seconds", std::to_string(record.last_success->time));
  }
  if (const auto& b = record.last_backup) {
    add("snapkeep_last_backup_timestamp_seconds", std::to_string(b->time));
    add("snapkeep_last_backup_failed", b->result == RunResult::failed ? "1" : "0");
    add("snapkeep_last_backup_skipped", b->result == RunResult::skipped ? "1" : "0");
    add("snapkeep_last_backup_duration_seconds", number(b->seconds));
    add("snapkeep_last_backup_bytes_transferred", std::to_string(b->bytes_transferred));
  }
  if (const auto& d = record.destination) {
    add("snapkeep_snapshots", std::to_string(d->snapshots));
    if (d->free_bytes) {
      add("snapkeep_destination_free_bytes", std::to_string(*d->free_bytes));
    }
    if (d->size_bytes) {
      add("snapkeep_destination_size_bytes", std::to_string(*d->size_bytes));
    }
  }
  if (const auto& s = record.last_scrub) {
    add("snapkeep_scrub_last_timestamp_seconds", std::to_string(s->time));
    add("snapkeep_scrub_damaged_contents", std::to_string(s->damaged_contents));
    add("snapkeep_scrub_last_bytes_read", std::to_string(s->bytes_read));
    add("snapkeep_scrub_contents_unverified", std::to_string(s->contents_unverified));
  }
  return out;
}

Result<std::vector<MetricSample>> parse_metric_samples(const std::string& text) {
  std::vector<MetricSample> out;
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    auto sample = parse_sample(line);
    if (!sample) {
      return runtime_error("line " + std::to_string(number) + " is not a sample: " + line);
    }
    out.push_back(std::move(*sample));
  }
  return out;
}

std::string render_metrics(const std::vector<MetricSample>& samples) {
  std::vector<std::string> names;
  for (const auto& family : k_families) {
    names.emplace_back(family.name);
  }
  for (const auto& s : samples) {
    if (std::find(names.begin(), names.end(), s.name) == names.end()) {
      names.push_back(s.name);
    }
  }
  std::string out;
  for (const auto& name : names) {
    std::vector<std::string> lines;
    for (const auto& s : samples) {
      if (s.name == name) {
        lines.push_back(sample_line(s));
      }
    }
    if (lines.empty()) {
      continue;
    }
    std::sort(lines.begin(), lines.end());
    lines.erase(std::unique(lines.begin(), lines.end()), lines.end());
    const auto known =
        std::find_if(k_families.begin(), k_families.end(), [&](const Family& f) { return name == f.name; });
    if (known != k_families.end()) {
      out += "# HELP " + name + " " + known->help + "\n# TYPE " + name + " gauge\n";
    }
    for (const auto& line : lines) {
      out += line + "\n";
    }
  }
  return out;
}

Status update_metrics_file(const fs::path& file, const Preset& preset, const std::vector<MetricSample>& samples) {
  const fs::path lock_path = file.parent_path() / ("." + file.filename().string() + ".lock");
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!lock) {
    return sys_error("cannot open the metrics lock", lock_path);
  }
  if (::flock(lock.get(), LOCK_EX) != 0) {
    return sys_error("cannot lock", lock_path);
  }
  std::vector<MetricSample> merged;
  std::error_code ec;
  if (fs::exists(file, ec)) {
    std::ifstream in(file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    auto earlier = parse_metric_samples(text.str());
    if (!earlier) {
      spdlog::warn("{}: {}: {}; writing it anew", preset.name, file.string(), earlier.error().describe());
    } else {
      const std::string ours = preset.preset_dir().string();
      for (auto& s : *earlier) {
        // Only snapkeep's own samples of other presets stay.
        if (s.name.starts_with("snapkeep_") && label_of(s, "destination") != utf8_only(ours)) {
          merged.push_back(std::move(s));
        }
      }
    }
  }
  merged.insert(merged.end(), samples.begin(), samples.end());
  return write_file_atomic(file, render_metrics(merged));
}

}  // namespace snapkeep
