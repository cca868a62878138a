#include "core/base/error.hpp"

#include <cstring>

namespace snapkeep {

std::string Error::describe() const {
  std::string out = preset.empty() ? message : preset + ": " + message;
  if (!path.empty() && message.find(path.string()) == std::string::npos) {
    out += ": " + path.string();
  }
  if (err != 0) {
    out += ": ";
    out += std::strerror(err);
  }
  return out;
}

ExitStatus Error::exit_status() const {
  switch (kind) {
    case ErrorKind::runtime: return ExitStatus::failed;
    case ErrorKind::config: return ExitStatus::usage;
    case ErrorKind::locked: return ExitStatus::locked;
    case ErrorKind::damage: return ExitStatus::damage;
  }
  return ExitStatus::failed;
}

int Error::exit_code() const {
  return snapkeep::exit_code(exit_status());
}

Error&& Error::in(const std::string& preset_name) && {
  if (preset.empty()) {
    preset = preset_name;
  }
  return std::move(*this);
}

namespace {

int severity(ExitStatus status) {
  switch (status) {
    case ExitStatus::ok: return 0;
    case ExitStatus::locked: return 1;
    case ExitStatus::failed: return 2;
    case ExitStatus::damage: return 3;
    case ExitStatus::usage: return 4;
  }
  return 2;
}

}  // namespace

ExitStatus worse(ExitStatus a, ExitStatus b) {
  return severity(a) >= severity(b) ? a : b;
}

bool reports_full_filesystem(const std::string& text) {
  return text.find(std::strerror(ENOSPC)) != std::string::npos || text.find(std::strerror(EDQUOT)) != std::string::npos;
}

Error make_error(ErrorKind kind, std::string message, int err, std::filesystem::path path) {
  Error e;
  e.kind = kind;
  e.message = std::move(message);
  e.err = err;
  e.path = std::move(path);
  e.full = err == ENOSPC || err == EDQUOT;
  return e;
}

Error sys_error(std::string message, const std::filesystem::path& path, int err) {
  return make_error(ErrorKind::runtime, std::move(message), err, path);
}

Error runtime_error(std::string message, std::filesystem::path path) {
  return make_error(ErrorKind::runtime, std::move(message), 0, std::move(path));
}

Error config_error(std::string message, std::filesystem::path path) {
  return make_error(ErrorKind::config, std::move(message), 0, std::move(path));
}

}  // namespace snapkeep
