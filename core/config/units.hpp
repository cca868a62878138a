#pragma once
// Parsing of the small value languages in config and arguments: sizes, durations, retention.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/base/format.hpp"

namespace snapkeep {

// A space target: an absolute byte count or a percentage of the filesystem.
struct SizeSpec {
  bool is_percent = false;
  std::uint64_t bytes = 0;  // when !is_percent
  double percent = 0;       // 0 < percent <= 100 when is_percent
};

// One retention rule of `keep`.
struct KeepRule {
  enum class Unit { newest, hour, day, week, month, year };
  Unit unit = Unit::newest;
  std::optional<std::uint64_t> count;  // nullopt means '*' (all buckets); never nullopt for newest
};

// The whole `keep` value; empty rules means keep everything.
struct KeepPolicy {
  std::vector<KeepRule> rules;
  std::string text;  // as written, for messages
};

// "1234", "50G", "1.5T", "512K" (binary units, optional trailing B/iB): bytes. Errors name the text.
Result<std::uint64_t> parse_bytes(std::string_view text);
// parse_bytes, or "10%" / "2.5%".
Result<SizeSpec> parse_size_spec(std::string_view text);
// "90" (seconds), "45s", "30m", "2h", "1d", "1h30m": seconds.
Result<std::uint64_t> parse_duration(std::string_view text);
// "3 24h 14d 8w 12m *y": whitespace-separated rules.
Result<KeepPolicy> parse_keep(std::string_view text);
// "yes/no/true/false/on/off/1/0", case-insensitive, like configparser.getboolean.
Result<bool> parse_bool(std::string_view text);

}  // namespace snapkeep
