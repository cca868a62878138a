#pragma once
// `snapkeep serve --restrict-path DIR`: every path a client names must stay inside DIR once symlinks
// are resolved. Paths come from the other end of an ssh connection and are hostile until checked.

#include <filesystem>
#include <string_view>

#include "core/base/error.hpp"

namespace snapkeep {

// The folder a serve instance may touch.
class Restriction {
 public:
  // The restriction to `root`, an existing directory (its real path is what paths are held to).
  static Result<Restriction> open(const std::filesystem::path& root);

  // A destination a client names: absolute, on one line, without '..' components or components led
  // by '-', existing, and inside the root after resolving symlinks. Returns the resolved path.
  Result<std::filesystem::path> destination(std::string_view text) const;

  // `destination/name`, the preset folder: fine when missing (a first backup makes it); when present
  // it must be a real directory (not a symlink) inside the root.
  Result<std::filesystem::path> preset_dir(const std::filesystem::path& destination, std::string_view name) const;

  const std::filesystem::path& root() const { return m_root; }

 private:
  explicit Restriction(std::filesystem::path root) : m_root(std::move(root)) {}
  std::filesystem::path m_root;
};

// A path relative to a snapshot (restore's PATH): on one line, not absolute, without '..' and without
// components led by '-'; "" and "." mean the whole snapshot. Errors say what was refused.
Result<std::filesystem::path> relative_client_path(std::string_view text);

}  // namespace snapkeep
