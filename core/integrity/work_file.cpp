#include "core/integrity/work_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <string_view>
#include <vector>

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_named_prefix = ".work-";

}  // namespace

Result<WorkFile> WorkFile::create(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
    return sys_error("cannot make a temporary file in", dir);
  }
  if (!fd) {
    std::string pattern = (dir / (std::string(k_named_prefix) + "XXXXXX")).string();
    std::vector<char> name(pattern.begin(), pattern.end());
    name.push_back('\0');
    fd.reset(::mkostemp(name.data(), O_CLOEXEC));
    if (!fd) {
      return sys_error("cannot make a temporary file in", dir);
    }
    if (::unlink(name.data()) != 0) {
      return sys_error("cannot unlink the temporary file", name.data());
    }
  }
  return WorkFile(std::move(fd), dir);
}

Status WorkFile::append(const void* data, std::size_t size) {
  const char* bytes = static_cast<const char*>(data);
  std::size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(m_fd.get(), bytes + done, size - done, static_cast<off_t>(m_size + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot write a temporary file in", m_dir);
    }
    done += static_cast<std::size_t>(n);
  }
  m_size += size;
  return {};
}

Result<std::size_t> WorkFile::read_at(std::uint64_t offset, void* data, std::size_t size) const {
  for (;;) {
    ssize_t n = ::pread(m_fd.get(), data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return sys_error("cannot read a temporary file in", m_dir);
    }
    return static_cast<std::size_t>(n);
  }
}

void remove_stale_work_files(const fs::path& dir) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().rfind(k_named_prefix, 0) == 0) {
      std::error_code rec;
      fs::remove(entry.path(), rec);
    }
  }
}

}  // namespace snapkeep
