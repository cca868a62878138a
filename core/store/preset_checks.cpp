#include "core/store/preset_checks.hpp"

#include <sys/stat.h>

#include "core/base/fsutil.hpp"
#include "core/base/process.hpp"

namespace snapkeep {

Status check_source(const Preset& preset) {
  struct stat st {};
  if (::stat(preset.source.c_str(), &st) != 0) {
    return sys_error("source " + preset.source.string() + " is not reachable (" + preset.origin + ")", {})
        .in(preset.name);
  }
  if (!S_ISDIR(st.st_mode)) {
    return runtime_error("source " + preset.source.string() + " is not a directory").in(preset.name);
  }
  auto empty = dir_is_empty(preset.source);
  if (!empty) {
    Error e = std::move(empty).error();
    e.preset = preset.name;
    return e;
  }
  if (*empty && !preset.allow_empty_source) {
    return runtime_error("source " + preset.source.string() +
                         " is empty; refusing to back it up (is its drive mounted?). "
                         "Set allow_empty_source = yes if an empty source is expected")
        .in(preset.name);
  }
  return {};
}

Status check_destination(const Preset& preset) {
  struct stat st {};
  if (::stat(preset.destination.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return runtime_error("destination " + preset.destination.string() +
                           " does not exist (is the backup drive mounted?); snapkeep never creates it")
          .in(preset.name);
    }
    return sys_error("destination " + preset.destination.string() + " is not reachable", {}, err).in(preset.name);
  }
  if (!S_ISDIR(st.st_mode)) {
    return runtime_error("destination " + preset.destination.string() + " is not a directory").in(preset.name);
  }
  return {};
}

Status check_overlap(const Preset& preset) {
  std::filesystem::path preset_dir = preset.preset_dir();
  if (path_is_within(preset_dir, preset.source)) {
    return runtime_error("destination " + preset_dir.string() + " is inside source " + preset.source.string() +
                         ": each backup would contain the previous ones")
        .in(preset.name);
  }
  if (path_is_within(preset.source, preset_dir)) {
    return runtime_error("source " + preset.source.string() + " is inside the backup folder " + preset_dir.string())
        .in(preset.name);
  }
  return {};
}

Status check_tool(const Preset& preset, std::string_view tool) {
  auto version = run_process({std::string(tool), "--version"});
  if (!version) {
    Error e = std::move(version).error();
    e.preset = preset.name;
    return e;
  }
  return {};
}

Status check_preset(const Preset& preset) {
  SNAPKEEP_TRY(check_destination(preset));
  SNAPKEEP_TRY(check_source(preset));
  return check_overlap(preset);
}

}  // namespace snapkeep
