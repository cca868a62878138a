#pragma once
// Numbers as users read them in messages and progress lines.

#include <cstdint>
#include <string>

namespace snapkeep {

// 1536 -> "1.5 KiB" (binary units, one decimal; below 1 KiB in bytes).
std::string format_bytes(std::uint64_t bytes);

}  // namespace snapkeep
