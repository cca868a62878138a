#include "core/integrity/scrub_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>

#include "core/base/fsutil.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_state_file = "scrub-state";

// Parses "KEY TIME STATUS"; false for anything else.
bool parse_line(std::string_view line, std::uint64_t& key, ContentRecord& record) {
  if (line.size() < 16 + 1 + 1 + 1 + 1 || line[16] != ' ' || line[line.size() - 2] != ' ') {
    return false;
  }
  auto [k_end, k_ec] = std::from_chars(line.data(), line.data() + 16, key, 16);
  if (k_ec != std::errc() || k_end != line.data() + 16) {
    return false;
  }
  std::string_view time = line.substr(17, line.size() - 17 - 2);
  auto [t_end, t_ec] = std::from_chars(time.data(), time.data() + time.size(), record.verified_ns);
  if (t_ec != std::errc() || t_end != time.data() + time.size()) {
    return false;
  }
  char status = line.back();
  if (status != 'o' && status != 'd') {
    return false;
  }
  record.damaged = status == 'd';
  return true;
}

std::string format_line(std::uint64_t key, const ContentRecord& record) {
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%016llx %lld %c\n", static_cast<unsigned long long>(key),
                        static_cast<long long>(record.verified_ns), record.damaged ? 'd' : 'o');
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

Result<ScrubState> ScrubState::open(const fs::path& state_dir) {
  ScrubState state;
  state.m_path = state_dir / k_state_file;
  int fd = ::open(state.m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return sys_error("cannot open the scrub state", state.m_path);
  }
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      Error e = sys_error("cannot read the scrub state", state.m_path);
      ::close(fd);
      return e;
    }
    if (n == 0) {
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  // A run killed in the middle of a write leaves a torn last line: cut it off.
  std::size_t keep = text.rfind('\n');
  keep = keep == std::string::npos ? 0 : keep + 1;
  if (keep != text.size() && ::ftruncate(fd, static_cast<off_t>(keep)) != 0) {
    Error e = sys_error("cannot repair the scrub state", state.m_path);
    ::close(fd);
    return e;
  }
  ::close(fd);
  std::string_view all(text.data(), keep);
  std::size_t pos = 0;
  while (pos < all.size()) {
    std::size_t end = all.find('\n', pos);
    std::string_view line = all.substr(pos, end - pos);
    pos = end + 1;
    std::uint64_t key = 0;
    ContentRecord record;
    if (parse_line(line, key, record)) {
      state.m_records[key] = record;
      ++state.m_lines;
    }
  }
  SNAPKEEP_TRY(state.open_for_append());
  return state;
}

Status ScrubState::open_for_append() {
  m_fd = ::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (m_fd < 0) {
    return sys_error("cannot open the scrub state", m_path);
  }
  return {};
}

ScrubState::ScrubState(ScrubState&& other) noexcept
    : m_path(std::move(other.m_path)), m_fd(other.m_fd), m_records(std::move(other.m_records)), m_lines(other.m_lines) {
  other.m_fd = -1;
}

ScrubState::~ScrubState() {
  if (m_fd >= 0) {
    ::close(m_fd);
  }
}

const ContentRecord* ScrubState::find(std::uint64_t key) const {
  auto it = m_records.find(key);
  return it == m_records.end() ? nullptr : &it->second;
}

Status ScrubState::record(std::uint64_t key, std::int64_t verified_ns, bool damaged) {
  ContentRecord record{verified_ns, damaged};
  std::string line = format_line(key, record);
  ssize_t n;
  do {
    n = ::write(m_fd, line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line.size())) {
    return sys_error("cannot write the scrub state", m_path, n < 0 ? errno : EIO);
  }
  m_records[key] = record;
  ++m_lines;
  return {};
}

Status ScrubState::sync() {
  if (m_fd >= 0 && ::fdatasync(m_fd) != 0) {
    return sys_error("cannot sync the scrub state", m_path);
  }
  return {};
}

Status ScrubState::compact(const std::unordered_set<std::uint64_t>& live) {
  if (m_lines <= 2 * live.size() + 1024) {
    return {};
  }
  std::string text;
  std::unordered_map<std::uint64_t, ContentRecord> kept;
  for (const auto& [key, record] : m_records) {
    if (live.count(key) != 0) {
      text += format_line(key, record);
      kept.emplace(key, record);
    }
  }
  SNAPKEEP_TRY(write_file_atomic(m_path, text));
  ::close(m_fd);
  m_fd = -1;
  m_records = std::move(kept);
  m_lines = m_records.size();
  return open_for_append();
}

}  // namespace snapkeep
