#include "core/history/history_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "core/base/fd.hpp"
#include "core/store/catalog.hpp"

namespace fs = std::filesystem;

namespace snapkeep {

fs::path history_log_path(const fs::path& preset_dir) {
  return preset_dir / k_state_dir_name / k_history_file_name;
}

Status append_history(const fs::path& preset_dir, const nlohmann::json& record) {
  const fs::path path = history_log_path(preset_dir);
  // One line: no raw newline can appear in a dumped JSON value; bytes that are not UTF-8 (a path)
  // become U+FFFD rather than failing the record.
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  Fd fd(::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return sys_error("cannot open the history log", path);
  }
  // Where this line starts (runs of one preset rarely finish in the same instant; O_APPEND keeps
  // whole lines apart even then).
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return sys_error("cannot read the history log", path);
  }
  char last = '\n';
  if (st.st_size > 0 && ::pread(fd.get(), &last, 1, st.st_size - 1) == 1 && last != '\n') {
    line.insert(line.begin(), '\n');  // a line torn by a power cut stays alone, skipped by readers
  }
  const ssize_t written = ::write(fd.get(), line.data(), line.size());
  if (written < 0 || static_cast<std::size_t>(written) != line.size()) {
    const int saved = written < 0 ? errno : ENOSPC;
    // No torn line left behind (a full drive): the log ends where it did.
    if (written > 0 && ::ftruncate(fd.get(), st.st_size) != 0) {
      return sys_error("cannot take a short write back from the history log", path);
    }
    return sys_error(written < 0 ? "cannot write the history log"
                                 : "short write to the history log (" + std::to_string(written) + " of " +
                                       std::to_string(line.size()) + " bytes)",
                     path, saved);
  }
  if (fd.close() != 0) {
    return sys_error("cannot write the history log", path);
  }
  return {};
}

Result<HistoryReadStats> read_history(const fs::path& preset_dir,
                                      const std::function<void(const nlohmann::json& record)>& each) {
  const fs::path path = history_log_path(preset_dir);
  HistoryReadStats stats;
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) {
    if (errno == ENOENT) {
      return stats;
    }
    return sys_error("cannot read the history log", path);
  }
  auto handle = [&](std::string_view line) {
    if (line.empty()) {
      return;
    }
    nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      ++stats.skipped;
      return;
    }
    ++stats.records;
    each(record);
  };
  std::string pending;  // the start of a line whose end is not read yet
  char buffer[1 << 16];
  for (;;) {
    const ssize_t got = ::read(fd.get(), buffer, sizeof buffer);
    if (got < 0) {
      if (errno == EINTR) {
        continue;
      }
      return sys_error("cannot read the history log", path);
    }
    if (got == 0) {
      break;
    }
    std::string_view chunk(buffer, static_cast<std::size_t>(got));
    for (std::size_t newline = chunk.find('\n'); newline != std::string_view::npos; newline = chunk.find('\n')) {
      if (pending.empty()) {
        handle(chunk.substr(0, newline));
      } else {
        pending.append(chunk.substr(0, newline));
        handle(pending);
        pending.clear();
      }
      chunk.remove_prefix(newline + 1);
    }
    pending.append(chunk);
  }
  handle(pending);  // a last line without its newline: whole if it parses, else torn
  return stats;
}

}  // namespace snapkeep
