#include "core/integrity/content_verify.hpp"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <deque>

#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/integrity/hashing.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A content taken from the index, with its file open and its reading from the disk started.
struct Opened {
  IndexedContent content;
  fs::path path;
  Fd fd;
  std::optional<Error> error;  // why it could not be opened
  std::uint64_t ahead = 0;     // bytes asked of the disk ahead of time
};

// Keeps the next contents of a stream open, their cached pages dropped (so what is read comes from
// the disk) and their reading started, within k_read_ahead_files and k_read_ahead_bytes.
class ReadAhead {
 public:
  ReadAhead(ContentStream stream, const std::vector<VerifiedSnapshot>& snapshots)
      : m_stream(std::move(stream)), m_snapshots(snapshots) {}
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  ~ReadAhead() {
    for (auto& opened : m_window) {
      if (opened.fd) {
        ::posix_fadvise(opened.fd.get(), 0, 0, POSIX_FADV_DONTNEED);  // read ahead, never used
      }
    }
  }

  // The next content; false after the last. Fails when the index cannot be read.
  Result<bool> next(Opened& out) {
    SNAPKEEP_TRY(fill());
    if (m_window.empty()) {
      return false;
    }
    out = std::move(m_window.front());
    m_window.pop_front();
    m_bytes -= out.ahead;
    SNAPKEEP_TRY(fill());  // the next files are on their way while this one is hashed
    return true;
  }

 private:
  Status fill() {
    while (!m_end && m_window.size() < k_read_ahead_files && m_bytes < k_read_ahead_bytes) {
      Opened opened;
      SNAPKEEP_TRY_ASSIGN(bool more, m_stream.next(opened.content));
      if (!more) {
        m_end = true;
        break;
      }
      opened.path = m_snapshots[opened.content.first_snapshot].info.path / opened.content.first_path;
      auto fd = open_for_reading(opened.path);
      if (fd) {
        opened.fd = std::move(fd).value();
        // Clean cached pages are dropped, so what is read comes from the device (dirty pages cannot
        // be dropped; snapshots are synced when they are made).
        ::posix_fadvise(opened.fd.get(), 0, 0, POSIX_FADV_DONTNEED);
        opened.ahead = std::min(opened.content.live_size, k_read_ahead_bytes);
        ::posix_fadvise(opened.fd.get(), 0, static_cast<off_t>(opened.ahead), POSIX_FADV_WILLNEED);
      } else {
        opened.error = std::move(fd).error();
      }
      m_bytes += opened.ahead;
      m_window.push_back(std::move(opened));
    }
    return {};
  }

  ContentStream m_stream;
  const std::vector<VerifiedSnapshot>& m_snapshots;
  std::deque<Opened> m_window;
  std::uint64_t m_bytes = 0;
  bool m_end = false;
};

// Reads one opened content through a hasher per algorithm its expectations use. Returns the digest
// per expectation, or the error reading it; `bytes` counts what was read.
Result<std::vector<std::string>> read_content(Opened& opened, std::uint64_t& bytes) {
  if (opened.error) {
    return std::move(*opened.error);
  }
  const auto& expectations = opened.content.expectations;
  std::vector<Hasher> hashers;
  std::vector<ChecksumKind> kinds;
  for (const auto& e : expectations) {
    if (std::find(kinds.begin(), kinds.end(), e.kind) == kinds.end()) {
      kinds.push_back(e.kind);
      hashers.emplace_back(e.kind);
    }
  }
  HashReadOptions how;
  how.on_bytes = [&](std::uint64_t n) { bytes += n; };
  auto read = hash_fd(opened.fd.get(), hashers, how, opened.path);
  ::posix_fadvise(opened.fd.get(), 0, 0, POSIX_FADV_DONTNEED);  // leave the user's page cache alone
  if (!read) {
    return std::move(read).error();
  }
  std::vector<std::string> digests;
  for (auto& h : hashers) {
    digests.push_back(h.hex_digest());
  }
  std::vector<std::string> actual;
  for (const auto& e : expectations) {
    actual.push_back(digests[static_cast<std::size_t>(std::find(kinds.begin(), kinds.end(), e.kind) - kinds.begin())]);
  }
  return actual;
}

// Reads one content and compares it with what its manifests expect: the damage found, or nullopt
// when intact. An I/O error reading the data is damage (unreadable); another error fails.
Result<std::optional<DamagedContent>> check_content(Opened& opened, std::uint64_t& bytes) {
  auto actual = read_content(opened, bytes);
  DamagedContent found;
  if (!actual) {
    const Error& err = actual.error();
    if (err.err != EIO && err.err != EUCLEAN && err.err != ENODATA) {
      return err;
    }
    found.unreadable = true;
    found.error = err.describe();
  } else {
    bool intact = true;
    for (std::size_t x = 0; x < opened.content.expectations.size(); ++x) {
      intact = intact && verdict_of(opened.content, *actual, x) == Verdict::intact;
    }
    if (intact) {
      return std::optional<DamagedContent>();
    }
    found.actual = std::move(actual).value();
  }
  found.content = std::move(opened.content);
  return std::optional<DamagedContent>(std::move(found));
}

// Whether the budget stops the run before `content` (never before the first content counted).
bool budget_spent(const VerifyBudget& budget, std::chrono::steady_clock::time_point started, bool started_counting,
                  std::uint64_t counted_bytes, const IndexedContent& content) {
  if (!started_counting) {
    return false;
  }
  if (budget.max_seconds && std::chrono::steady_clock::now() - started >=
                                std::chrono::seconds(static_cast<std::chrono::seconds::rep>(*budget.max_seconds))) {
    return true;
  }
  return budget.max_bytes && counted_bytes + content.live_size > *budget.max_bytes;
}

}  // namespace

Result<VerifyOutcome> verify_contents(const ContentIndex& index, const std::vector<VerifiedSnapshot>& snapshots,
                                      const VerifyBudget& budget, ScrubState& state, Progress& progress,
                                      ScrubReport& report) {
  VerifyOutcome outcome;
  SNAPKEEP_TRY_ASSIGN(ContentStream stream, index.in_order());
  ReadAhead ahead(std::move(stream), snapshots);
  auto started = std::chrono::steady_clock::now();
  auto last_sync = started;
  std::uint64_t counted_bytes = 0;  // bytes counted against --max-bytes
  bool started_counting = false;    // a content counted against the budgets was read: progress is made
  std::uint64_t done_bytes = 0;
  Opened opened;
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(bool more, ahead.next(opened));
    if (!more) {
      break;
    }
    if (stop_signal() != 0) {
      return runtime_error("interrupted by signal " + std::to_string(stop_signal()));
    }
    const IndexedContent& c = opened.content;
    // Contents found damaged before are read again outside the budget: damage is never forgotten.
    bool recheck = c.before && c.before->damaged;
    if (!recheck && budget_spent(budget, started, started_counting, counted_bytes, c)) {
      report.budget_reached = true;
      break;
    }
    if (progress.enabled()) {
      progress.update("scrub " + std::to_string(outcome.verified) + "/" + std::to_string(report.contents_total) +
                      " contents, " + format_bytes(done_bytes) + " of " + format_bytes(report.bytes_total));
    }
    std::uint64_t read_bytes = 0;
    std::uint64_t state_key = c.state_key;
    bool first_time = !c.before;
    report.files_checked += c.paths;
    done_bytes += c.live_size;
    SNAPKEEP_TRY_ASSIGN(std::optional<DamagedContent> found, check_content(opened, read_bytes));
    report.bytes_read += read_bytes;
    if (!recheck) {
      counted_bytes += read_bytes;
      started_counting = true;
    }
    ++outcome.verified;
    outcome.first_verified += first_time ? 1 : 0;
    ++report.contents_verified;
    report.mismatches += found && !found->unreadable ? 1 : 0;
    SNAPKEEP_TRY(state.record(state_key, now_ns(), found.has_value()));
    if (found) {
      outcome.damaged.push_back(std::move(*found));
    }
    if (std::chrono::steady_clock::now() - last_sync > std::chrono::seconds(5)) {
      SNAPKEEP_TRY(state.sync());
      last_sync = std::chrono::steady_clock::now();
    }
  }
  progress.finish();
  SNAPKEEP_TRY(state.sync());
  return outcome;
}

}  // namespace snapkeep
