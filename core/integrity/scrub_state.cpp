#include "core/integrity/scrub_state.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <xxhash.h>

#include "core/base/fsutil.hpp"
#include "core/integrity/hashing.hpp"
#include "core/integrity/record_bytes.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_state_file = "scrub-state";
constexpr std::size_t k_chunk = 1u << 20;

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

// Calls `on_record` for every well-formed line of the log open at `fd`, from its start; returns
// the bytes up to and including the last newline (what follows is a torn line).
Result<std::uint64_t> read_log(int fd, const fs::path& path,
                               const std::function<void(std::uint64_t key, const ContentRecord&)>& on_record) {
  std::string chunk;
  std::string carry;  // a line split between two chunks
  std::uint64_t offset = 0;
  std::uint64_t complete = 0;
  chunk.resize(k_chunk);
  for (;;) {
    ssize_t n = ::pread(fd, chunk.data(), chunk.size(), static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read the scrub state", path);
    }
    if (n == 0) {
      return complete;
    }
    std::string_view data(chunk.data(), static_cast<std::size_t>(n));
    std::size_t pos = 0;
    for (std::size_t end = data.find('\n'); end != std::string_view::npos; end = data.find('\n', pos)) {
      std::string_view line = data.substr(pos, end - pos);
      if (!carry.empty()) {
        carry.append(line);
        line = carry;
      }
      std::uint64_t key = 0;
      ContentRecord record;
      if (parse_line(line, key, record)) {
        on_record(key, record);
      }
      carry.clear();
      pos = end + 1;
      complete = offset + pos;
    }
    carry.append(data.substr(pos));
    offset += static_cast<std::uint64_t>(n);
  }
}

}  // namespace

std::uint64_t state_key_of(const ManifestEntry& e, ChecksumKind kind, ContentSharing sharing) {
  std::string text = std::to_string(e.ino) + ":" + std::to_string(e.size) + ":" + std::to_string(e.mtime_ns) + ":" +
                     std::string(checksum_name(kind)) + ":" + e.hash;
  if (sharing == ContentSharing::extent_lineage) {
    text += ":" + std::to_string(e.ctime_ns);
  }
  return XXH3_64bits(text.data(), text.size());
}

Result<bool> ScrubStateRecords::next(std::uint64_t& key, ContentRecord& record) {
  auto read = [&](std::uint64_t& k, ContentRecord& r) -> Result<bool> {
    std::string_view bytes;
    SNAPKEEP_TRY_ASSIGN(bool more, m_records->next(bytes));
    if (!more) {
      return false;
    }
    RecordParser parser(bytes);
    k = parser.u64();
    parser.var();  // the line number
    r.verified_ns = parser.i64();
    r.damaged = parser.u8() != 0;
    return true;
  };
  if (!m_has_pending) {
    SNAPKEEP_TRY_ASSIGN(bool any, read(m_pending_key, m_pending));
    if (!any) {
      return false;
    }
  }
  key = m_pending_key;
  record = m_pending;
  for (;;) {
    std::uint64_t k = 0;
    ContentRecord r;
    SNAPKEEP_TRY_ASSIGN(bool more, read(k, r));
    if (!more) {
      m_has_pending = false;  // the next call finds the stream at its end
      return true;
    }
    if (k != key) {
      m_pending_key = k;
      m_pending = r;
      m_has_pending = true;
      return true;
    }
    record = r;  // a later line for the same key wins
  }
}

Result<ScrubState> ScrubState::open_read_only(const fs::path& state_dir, const fs::path& work_dir) {
  ScrubState state;
  state.m_path = state_dir / k_state_file;
  state.m_work_dir = work_dir;
  state.m_read_only = true;
  Fd fd(::open(state.m_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd && errno == ENOENT) {
    return state;
  }
  if (!fd) {
    return sys_error("cannot open the scrub state", state.m_path);
  }
  SNAPKEEP_TRY(read_log(fd.get(), state.m_path, [&](std::uint64_t, const ContentRecord&) { ++state.m_lines; }));
  return state;
}

Result<ScrubState> ScrubState::open(const fs::path& state_dir) {
  ScrubState state;
  state.m_path = state_dir / k_state_file;
  state.m_work_dir = state_dir;
  Fd fd(::open(state.m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return sys_error("cannot open the scrub state", state.m_path);
  }
  std::uint64_t lines = 0;
  SNAPKEEP_TRY_ASSIGN(std::uint64_t complete,
                      read_log(fd.get(), state.m_path, [&](std::uint64_t, const ContentRecord&) { ++lines; }));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return sys_error("cannot stat the scrub state", state.m_path);
  }
  // A run killed in the middle of a write leaves a torn last line: cut it off.
  if (static_cast<std::uint64_t>(st.st_size) != complete && ::ftruncate(fd.get(), static_cast<off_t>(complete)) != 0) {
    return sys_error("cannot repair the scrub state", state.m_path);
  }
  state.m_lines = lines;
  SNAPKEEP_TRY(state.open_for_append());
  return state;
}

Status ScrubState::open_for_append() {
  m_fd.reset(::open(m_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!m_fd) {
    return sys_error("cannot open the scrub state", m_path);
  }
  return {};
}

ScrubState::ScrubState(ScrubState&& other) noexcept = default;
ScrubState::~ScrubState() = default;

Result<ScrubStateRecords> ScrubState::records() const {
  ScrubStateRecords out;
  out.m_sorter = std::make_unique<ExternalSorter>(m_work_dir);
  Fd fd(::open(m_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd && m_read_only && errno == ENOENT) {
    SNAPKEEP_TRY(out.m_sorter->finish());
    SNAPKEEP_TRY_ASSIGN(SortedRecords sorted, out.m_sorter->stream());
    out.m_records = std::make_unique<SortedRecords>(std::move(sorted));
    return out;
  }
  if (!fd) {
    return sys_error("cannot open the scrub state", m_path);
  }
  std::uint64_t line = 0;
  Status added;
  RecordBuilder builder;
  SNAPKEEP_TRY(read_log(fd.get(), m_path, [&](std::uint64_t key, const ContentRecord& record) {
    if (!added) {
      return;
    }
    builder.clear();
    builder.u64(key);
    builder.var(line++);
    builder.i64(record.verified_ns);
    builder.u8(record.damaged ? 1 : 0);
    added = out.m_sorter->add(builder.view());
  }));
  SNAPKEEP_TRY(added);
  SNAPKEEP_TRY(out.m_sorter->finish());
  SNAPKEEP_TRY_ASSIGN(SortedRecords sorted, out.m_sorter->stream());
  out.m_records = std::make_unique<SortedRecords>(std::move(sorted));
  return out;
}

Status ScrubState::record(std::uint64_t key, std::int64_t verified_ns, bool damaged) {
  ContentRecord record{verified_ns, damaged};
  if (m_read_only) {
    if (m_loaded) {
      (*m_loaded)[key] = record;
    }
    return {};
  }
  std::string line = format_line(key, record);
  ssize_t n;
  do {
    n = ::write(m_fd.get(), line.data(), line.size());
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(line.size())) {
    return sys_error("cannot write the scrub state", m_path, n < 0 ? errno : EIO);
  }
  ++m_lines;
  if (m_loaded) {
    (*m_loaded)[key] = record;
  }
  return {};
}

Status ScrubState::sync() {
  if (m_fd && ::fdatasync(m_fd.get()) != 0) {
    return sys_error("cannot sync the scrub state", m_path);
  }
  return {};
}

Status ScrubState::compact(std::uint64_t live_keys, const NextKey& next_live) {
  if (m_read_only || m_lines <= 2 * live_keys + 1024) {
    return {};
  }
  SNAPKEEP_TRY_ASSIGN(ScrubStateRecords records, this->records());
  fs::path temp = m_path;
  temp += ".tmp";
  std::uint64_t kept = 0;
  {
    Fd out(::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!out) {
      return sys_error("cannot create", temp);
    }
    std::string buffer;
    auto flush = [&]() -> Status {
      std::size_t done = 0;
      while (done < buffer.size()) {
        ssize_t n = ::write(out.get(), buffer.data() + done, buffer.size() - done);
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n < 0) {
          return sys_error("cannot write", temp);
        }
        done += static_cast<std::size_t>(n);
      }
      buffer.clear();
      return {};
    };
    std::uint64_t key = 0;
    ContentRecord record;
    std::uint64_t live = 0;
    SNAPKEEP_TRY_ASSIGN(bool have_record, records.next(key, record));
    SNAPKEEP_TRY_ASSIGN(bool have_live, next_live(live));
    while (have_record && have_live) {
      if (key < live) {
        SNAPKEEP_TRY_ASSIGN(have_record, records.next(key, record));
      } else if (live < key) {
        SNAPKEEP_TRY_ASSIGN(have_live, next_live(live));
      } else {
        buffer += format_line(key, record);
        ++kept;
        if (buffer.size() >= k_chunk) {
          SNAPKEEP_TRY(flush());
        }
        SNAPKEEP_TRY_ASSIGN(have_record, records.next(key, record));
        SNAPKEEP_TRY_ASSIGN(have_live, next_live(live));
      }
    }
    SNAPKEEP_TRY(flush());
    if (::fsync(out.get()) != 0) {
      return sys_error("cannot fsync", temp);
    }
  }
  SNAPKEEP_TRY(rename_path(temp, m_path));
  SNAPKEEP_TRY(fsync_dir(m_path.parent_path()));
  m_lines = kept;
  m_loaded.reset();
  return open_for_append();
}

Status ScrubState::compact(const std::unordered_set<std::uint64_t>& live) {
  std::vector<std::uint64_t> keys(live.begin(), live.end());
  std::sort(keys.begin(), keys.end());
  std::size_t next = 0;
  return compact(keys.size(), [&](std::uint64_t& key) -> Result<bool> {
    if (next == keys.size()) {
      return false;
    }
    key = keys[next++];
    return true;
  });
}

const std::unordered_map<std::uint64_t, ContentRecord>& ScrubState::loaded() const {
  if (!m_loaded) {
    m_loaded = std::make_unique<std::unordered_map<std::uint64_t, ContentRecord>>();
    Fd fd(::open(m_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd) {
      (void)read_log(fd.get(), m_path,
                     [&](std::uint64_t key, const ContentRecord& record) { (*m_loaded)[key] = record; });
    }
  }
  return *m_loaded;
}

const ContentRecord* ScrubState::find(std::uint64_t key) const {
  const auto& all = loaded();
  auto it = all.find(key);
  return it == all.end() ? nullptr : &it->second;
}

std::size_t ScrubState::size() const {
  return loaded().size();
}

}  // namespace snapkeep
