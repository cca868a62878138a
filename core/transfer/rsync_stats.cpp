#include "core/transfer/rsync_stats.hpp"

#include <cctype>

namespace snapkeep {
namespace {

// The first number in `text` (digits, with ',' or '.' thousands separators skipped).
std::optional<std::uint64_t> first_number(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size() && !std::isdigit(static_cast<unsigned char>(text[i]))) {
    ++i;
  }
  if (i == text.size()) {
    return std::nullopt;
  }
  std::uint64_t v = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      v = v * 10 + static_cast<std::uint64_t>(c - '0');
    } else if (c != ',') {
      break;
    }
  }
  return v;
}

bool take_prefixed(std::string_view line, std::string_view prefix, std::uint64_t& out) {
  if (line.substr(0, prefix.size()) != prefix) {
    return false;
  }
  if (auto v = first_number(line.substr(prefix.size()))) {
    out = *v;
  }
  return true;
}

}  // namespace

void parse_rsync_stats_line(std::string_view line, RsyncStats& stats) {
  take_prefixed(line, "Number of files:", stats.files) ||
      take_prefixed(line, "Number of regular files transferred:", stats.files_transferred) ||
      take_prefixed(line, "Total file size:", stats.bytes_total) ||
      take_prefixed(line, "Total transferred file size:", stats.bytes_transferred);
}

std::optional<RsyncProgress> parse_rsync_progress_line(std::string_view line) {
  std::size_t percent = line.find('%');
  if (percent == std::string_view::npos) {
    return std::nullopt;
  }
  auto bytes = first_number(line.substr(0, percent));
  if (!bytes) {
    return std::nullopt;
  }
  RsyncProgress p;
  p.bytes = *bytes;
  if (auto xfr = line.find("xfr#"); xfr != std::string_view::npos) {
    p.files_transferred = first_number(line.substr(xfr + 4)).value_or(0);
  }
  std::size_t chk = line.find("to-chk=");
  if (chk == std::string_view::npos) {
    chk = line.find("ir-chk=");
  }
  if (chk != std::string_view::npos) {
    std::string_view rest = line.substr(chk + 7);
    std::uint64_t remaining = first_number(rest).value_or(0);
    std::size_t slash = rest.find('/');
    if (slash != std::string_view::npos) {
      p.files_total = first_number(rest.substr(slash + 1)).value_or(0);
      p.files_checked = p.files_total >= remaining ? p.files_total - remaining : 0;
    }
  }
  return p;
}

}  // namespace snapkeep
