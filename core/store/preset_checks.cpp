#include "core/store/preset_checks.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/mounts.hpp"
#include "core/base/process.hpp"

namespace fs = std::filesystem;

namespace snapkeep {

namespace {
std::string where(const Preset& preset, const std::string& key);
}  // namespace

Status check_source(const Preset& preset) {
  if (preset.remote_source) {
    return {};  // on another machine: core/transfer's check_remote_source looks at it
  }
  struct stat st {};
  if (::stat(preset.source.c_str(), &st) != 0) {
    return sys_error("source " + preset.source.string() + " is not reachable (" + where(preset, "source") + ")", {})
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
      } else if (struct stat st{}; !preset.remote_source && ::stat(preset.source.c_str(), &st) == 0) {
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

bool destination_read_only(const Preset& preset) {
  struct statvfs st {};
  return ::statvfs(preset.destination.c_str(), &st) == 0 && (st.f_flag & ST_RDONLY) != 0;
}

Status check_destination_filesystem(const Preset& preset) {
  if (destination_read_only(preset)) {
    return runtime_error("destination " + preset.destination.string() +
                         " is mounted read-only: list, du, scrub (without --repair) and restore work, a backup "
                         "needs it mounted read-write")
        .in(preset.name);
  }
  std::string type = "unknown";
  if (auto mount = mount_of(preset.destination)) {
    type = mount->fs_type;
    if (auto device = probe_device(mount->source); device && !device->type.empty() && device->type != type) {
      type = device->type + " (" + mount->fs_type + ")";  // exfat mounted through FUSE: "exfat (fuseblk)"
    }
  }
  const fs::path probe = preset.destination / (".snapkeep-probe-" + std::to_string(::getpid()));
  // Whatever happens below, the probe goes.
  struct Remove {
    const fs::path& path;
    ~Remove() { (void)remove_tree(path); }
  } remove{probe};
  (void)remove_tree(probe);  // a killed probe's leftovers
  if (::mkdir(probe.c_str(), 0700) != 0) {
    return sys_error("cannot write to the destination", probe).in(preset.name);
  }
  const fs::path file = probe / "file";
  Fd fd(::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!fd) {
    return sys_error("cannot write to the destination", file).in(preset.name);
  }
  fd.close();
  std::vector<std::string> lacks;
  // A full filesystem fails every probe: that is a full destination, not a missing feature.
  const auto full = [&](const fs::path& where) {
    return (errno == ENOSPC || errno == EDQUOT)
               ? std::optional<Error>(sys_error("cannot write to the destination", where))
               : std::nullopt;
  };
  if (::link(file.c_str(), (probe / "link").c_str()) != 0) {
    if (auto e = full(probe / "link")) {
      return std::move(*e).in(preset.name);
    }
    lacks.push_back("hard links (" + std::string(std::strerror(errno)) + ")");
  }
  if (::symlink("file", (probe / "symlink").c_str()) != 0) {
    if (auto e = full(probe / "symlink")) {
      return std::move(*e).in(preset.name);
    }
    lacks.push_back("symlinks (" + std::string(std::strerror(errno)) + ")");
  }
  if (::geteuid() == 0) {
    // Another owner, and a mode a FAT-like filesystem cannot keep.
    constexpr uid_t k_probe_id = 54321;
    struct stat st {};
    if (::lchown(file.c_str(), k_probe_id, k_probe_id) != 0 || ::stat(file.c_str(), &st) != 0 ||
        st.st_uid != k_probe_id || st.st_gid != k_probe_id) {
      lacks.push_back("file owners");
    }
    if (::chmod(file.c_str(), 04751) != 0 || ::stat(file.c_str(), &st) != 0 || (st.st_mode & 07777) != 04751) {
      lacks.push_back("file modes");
    }
  }
  if (!lacks.empty()) {
    std::string what;
    for (std::size_t i = 0; i < lacks.size(); ++i) {
      what += (i == 0 ? "" : (i + 1 == lacks.size() ? " and " : ", ")) + lacks[i];
    }
    return runtime_error("destination " + preset.destination.string() + " is on a " + type +
                         " filesystem, which cannot hold a snapshot: it lacks " + what +
                         ". Use a drive formatted with ext4, xfs or btrfs (docs/drives.md)")
        .in(preset.name);
  }
  return {};
}

Status check_overlap(const Preset& preset) {
  if (preset.remote_source || preset.remote_destination) {
    return {};  // on two machines
  }
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

bool skipped_for_absent_drive(const Preset& preset, const Error& error) {
  return error.drive_absent && preset.skip_if_unmounted;
}

}  // namespace snapkeep
