#include "core/serve/restriction.hpp"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <memory>

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

bool has_control_characters(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// Refuses what no honest client sends: line breaks and control characters, '..', option-like parts.
Status check_words(std::string_view text, std::string_view what) {
  if (has_control_characters(text)) {
    return config_error("refused: " + std::string(what) + " holds a line break or control character");
  }
  for (const auto& part : fs::path(std::string(text))) {
    const std::string s = part.string();
    if (s == "..") {
      return config_error("refused: " + std::string(what) + " '" + std::string(text) + "' contains '..'");
    }
    if (!s.empty() && s.front() == '-') {
      return config_error("refused: " + std::string(what) + " '" + std::string(text) +
                          "' has a part that starts with '-'");
    }
  }
  return {};
}

// realpath(3) with an error naming the path.
Result<fs::path> real_path(const fs::path& path) {
  std::unique_ptr<char, decltype(&::free)> resolved(::realpath(path.c_str(), nullptr), &::free);
  if (!resolved) {
    return sys_error("cannot resolve", path);
  }
  return fs::path(resolved.get());
}

// Is `inner` the root or below it (both real paths)?
bool inside(const fs::path& inner, const fs::path& root) {
  auto i = inner.begin();
  for (auto r = root.begin(); r != root.end(); ++r, ++i) {
    if (i == inner.end() || *i != *r) {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<Restriction> Restriction::open(const fs::path& root) {
  if (root.empty() || root.is_relative()) {
    return config_error("--restrict-path needs an absolute folder");
  }
  SNAPKEEP_TRY_ASSIGN(fs::path real, real_path(root));
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return config_error("--restrict-path " + root.string() + " is not a directory");
  }
  return Restriction(real);
}

Result<fs::path> Restriction::destination(std::string_view text) const {
  SNAPKEEP_TRY(check_words(text, "the destination"));
  const fs::path path{std::string(text)};
  if (path.is_relative()) {
    return config_error("refused: the destination '" + std::string(text) + "' is not an absolute path");
  }
  auto real = real_path(path);
  if (!real) {
    Error e = std::move(real).error();
    if (e.err == ENOENT) {
      e.message = "destination " + path.string() + " does not exist (is the backup drive mounted?)";
      e.path.clear();
      e.drive_absent = true;
    }
    return e;
  }
  if (!inside(*real, m_root)) {
    return config_error("refused: the destination " + path.string() + " is outside the folder this key may use (" +
                        m_root.string() + ")");
  }
  return *real;
}

Result<fs::path> Restriction::preset_dir(const fs::path& destination, std::string_view name) const {
  const fs::path dir = destination / std::string(name);
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno == ENOENT) {
      return dir;
    }
    return sys_error("cannot examine", dir);
  }
  if (!S_ISDIR(st.st_mode)) {
    return config_error("refused: " + dir.string() + " is not a directory (a symlink?)");
  }
  SNAPKEEP_TRY_ASSIGN(fs::path real, real_path(dir));
  if (!inside(real, m_root)) {
    return config_error("refused: " + dir.string() + " is outside the folder this key may use");
  }
  return dir;
}

Result<fs::path> relative_client_path(std::string_view text) {
  SNAPKEEP_TRY(check_words(text, "the path"));
  const fs::path path{std::string(text)};
  if (path.is_absolute()) {
    return config_error("refused: the path '" + std::string(text) + "' must be relative to the snapshot");
  }
  return path.lexically_normal() == "." ? fs::path() : path.lexically_normal();
}

}  // namespace snapkeep
