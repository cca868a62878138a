#include "core/store/preset_checks.hpp"

#include <sys/stat.h>

#include <algorithm>

#include "core/base/fsutil.hpp"
#include "core/base/mounts.hpp"
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

namespace {

// An error that means the wanted drive is not there.
Error absent(std::string message, const Preset& preset) {
  Error e = runtime_error(std::move(message)).in(preset.name);
  e.drive_absent = true;
  return e;
}

// "FILE:LINE" where `key` was set for the preset, or its section header.
std::string where(const Preset& preset, const std::string& key) {
  auto it = preset.origins.find(key);
  return it != preset.origins.end() ? it->second : preset.origin;
}

std::string joined(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    out += (out.empty() ? "" : ", ") + w;
  }
  return out;
}

}  // namespace

Status check_destination(const Preset& preset) {
  struct stat st {};
  if (::stat(preset.destination.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT) {
      return absent("destination " + preset.destination.string() +
                        " does not exist (is the backup drive mounted?); snapkeep never creates it",
                    preset);
    }
    return sys_error("destination " + preset.destination.string() + " is not reachable", {}, err).in(preset.name);
  }
  if (!S_ISDIR(st.st_mode)) {
    return runtime_error("destination " + preset.destination.string() + " is not a directory").in(preset.name);
  }
  return check_destination_drive(preset);
}

Status check_destination_drive(const Preset& preset) {
  if (!preset.require_mount && preset.destination_uuids.empty()) {
    return {};
  }
  SNAPKEEP_TRY_ASSIGN(MountEntry dest, mount_of(preset.destination));
  if (preset.require_mount) {
    SNAPKEEP_TRY_ASSIGN(bool mount_point, is_mount_point(preset.destination));
    if (!mount_point) {
      SNAPKEEP_TRY_ASSIGN(MountEntry root, mount_of("/"));
      std::string shared_with;
      if (dest.device_id == root.device_id) {
        shared_with = "the system disk (/)";
      } else if (struct stat st{}; ::stat(preset.source.c_str(), &st) == 0) {
        SNAPKEEP_TRY_ASSIGN(MountEntry source, mount_of(preset.source));
        if (source.device_id == dest.device_id) {
          shared_with = "the source " + preset.source.string();
        }
      }
      if (!shared_with.empty()) {
        return absent("destination " + preset.destination.string() + " is not a mount point and lies on the same " +
                          "filesystem as " + shared_with + " (" + dest.source + ", mounted at " +
                          dest.mount_point.string() +
                          "): is the backup drive mounted? To back up to a folder there on purpose, set "
                          "require_mount = no (" +
                          where(preset, "require_mount") + ")",
                      preset);
      }
    }
  }
  if (!preset.destination_uuids.empty()) {
    SNAPKEEP_TRY_ASSIGN(auto uuid, filesystem_uuid_of_device(dest.source));
    const auto& wanted = preset.destination_uuids;
    if (!uuid || std::find(wanted.begin(), wanted.end(), *uuid) == wanted.end()) {
      return absent("destination " + preset.destination.string() + " is on the filesystem " +
                        (uuid ? "with UUID " + *uuid : "without a UUID") + " (" + dest.source + ", mounted at " +
                        dest.mount_point.string() + "), not on one of destination_uuid = " + joined(wanted) + " (" +
                        where(preset, "destination_uuid") + "): another drive is mounted there",
                    preset);
    }
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
