#include "core/base/format.hpp"

#include <array>
#include <cstdio>

namespace snapkeep {

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024) {
    return std::to_string(bytes) + " B";
  }
  constexpr std::array<const char*, 4> k_units = {"KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes) / 1024.0;
  std::size_t unit = 0;
  // 1023.95 would print as "1024.0": move up a unit instead.
  while (value >= 1023.95 && unit + 1 < k_units.size()) {
    value /= 1024.0;
    ++unit;
  }
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.1f %s", value, k_units[unit]);
  return buffer;
}

}  // namespace snapkeep
