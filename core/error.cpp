#include "core/error.hpp"

#include <cstring>

namespace snapkeep {

std::string Error::describe() const {
  std::string out = message;
  if (!path.empty() && message.find(path.string()) == std::string::npos) {
    out += ": " + path.string();
  }
  if (err != 0) {
    out += ": ";
    out += std::strerror(err);
  }
  return out;
}

int Error::exit_code() const {
  switch (kind) {
    case ErrorKind::runtime: return 1;
    case ErrorKind::config: return 2;
    case ErrorKind::locked: return 3;
    case ErrorKind::damage: return 4;
  }
  return 1;
}

bool Error::full_filesystem() const {
  return err == ENOSPC || err == EDQUOT || reports_full_filesystem(message);
}

bool reports_full_filesystem(const std::string& text) {
  return text.find(std::strerror(ENOSPC)) != std::string::npos || text.find(std::strerror(EDQUOT)) != std::string::npos;
}

Error sys_error(std::string message, const std::filesystem::path& path, int err) {
  return Error{ErrorKind::runtime, std::move(message), err, path};
}

Error runtime_error(std::string message, std::filesystem::path path) {
  return Error{ErrorKind::runtime, std::move(message), 0, std::move(path)};
}

Error config_error(std::string message, std::filesystem::path path) {
  return Error{ErrorKind::config, std::move(message), 0, std::move(path)};
}

}  // namespace snapkeep
