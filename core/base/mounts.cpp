#include "core/base/mounts.hpp"

#include <blkid/blkid.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash).
std::string unescape(std::string_view field) {
  std::string out;
  for (std::size_t i = 0; i < field.size(); ++i) {
    if (field[i] == '\\' && i + 3 < field.size() && field[i + 1] >= '0' && field[i + 1] <= '3' && field[i + 2] >= '0' &&
        field[i + 2] <= '7' && field[i + 3] >= '0' && field[i + 3] <= '7') {
      out += static_cast<char>((field[i + 1] - '0') * 64 + (field[i + 2] - '0') * 8 + (field[i + 3] - '0'));
      i += 3;
    } else {
      out += field[i];
    }
  }
  return out;
}

std::vector<std::string_view> split_spaces(std::string_view line) {
  std::vector<std::string_view> out;
  std::size_t pos = 0;
  while (pos < line.size()) {
    std::size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) {
      end = line.size();
    }
    if (end > pos) {
      out.push_back(line.substr(pos, end - pos));
    }
    pos = end + 1;
  }
  return out;
}

// Is `inner` the same as or below `outer` (both absolute, normal)?
bool is_within(const fs::path& inner, const fs::path& outer) {
  auto i = inner.begin();
  for (auto o = outer.begin(); o != outer.end(); ++o, ++i) {
    if (o->empty()) {
      continue;  // a trailing separator
    }
    if (i == inner.end() || *i != *o) {
      return false;
    }
  }
  return true;
}

struct FreeProbe {
  void operator()(blkid_probe probe) const { blkid_free_probe(probe); }
};

}  // namespace

std::vector<MountEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountEntry> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    std::vector<std::string_view> f = split_spaces(text.substr(pos, end - pos));
    pos = end + 1;
    // ID PARENT MAJOR:MINOR ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS
    std::size_t dash = 6;
    while (dash < f.size() && f[dash] != "-") {
      ++dash;
    }
    if (f.size() < 6 || dash + 2 >= f.size()) {
      continue;
    }
    MountEntry entry;
    entry.device_id = std::string(f[2]);
    entry.root = unescape(f[3]);
    entry.mount_point = unescape(f[4]);
    std::string options = "," + std::string(f[5]) + ",";
    entry.read_only = options.find(",ro,") != std::string::npos;
    entry.fs_type = std::string(f[dash + 1]);
    entry.source = unescape(f[dash + 2]);
    out.push_back(std::move(entry));
  }
  return out;
}

Result<MountEntry> mount_of(const fs::path& path) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) {
    return sys_error("cannot resolve", path, ec.value());
  }
  std::ifstream in("/proc/self/mountinfo");
  if (!in) {
    return sys_error("cannot read", "/proc/self/mountinfo");
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::optional<MountEntry> best;
  std::size_t best_depth = 0;
  for (auto& entry : parse_mountinfo(text)) {
    if (!is_within(real, entry.mount_point)) {
      continue;
    }
    std::size_t depth = static_cast<std::size_t>(std::distance(entry.mount_point.begin(), entry.mount_point.end()));
    if (!best || depth >= best_depth) {  // later entries stack on earlier ones at the same point
      best = std::move(entry);
      best_depth = depth;
    }
  }
  if (!best) {
    return runtime_error("no mounted filesystem holds it (/proc/self/mountinfo)", real);
  }
  return *best;
}

Result<bool> is_mount_point(const fs::path& path) {
  SNAPKEEP_TRY_ASSIGN(MountEntry entry, mount_of(path));
  std::error_code ec;
  return fs::canonical(path, ec) == entry.mount_point;
}

Result<DeviceFilesystem> probe_device(const std::string& device) {
  errno = 0;
  std::unique_ptr<blkid_struct_probe, FreeProbe> probe(blkid_new_probe_from_filename(device.c_str()));
  if (!probe) {
    int err = errno != 0 ? errno : EIO;
    return sys_error(err == EACCES || err == EPERM ? "cannot read the filesystem UUID (reading the device needs root)"
                                                   : "cannot read the filesystem UUID",
                     device, err);
  }
  blkid_probe_enable_superblocks(probe.get(), 1);
  blkid_probe_set_superblocks_flags(probe.get(), BLKID_SUBLKS_UUID | BLKID_SUBLKS_TYPE);
  int rc = blkid_do_safeprobe(probe.get());
  if (rc < 0) {
    return runtime_error("cannot read the filesystem UUID (no superblock libblkid knows, or two)", device);
  }
  DeviceFilesystem out;
  const char* value = nullptr;
  if (rc == 0 && blkid_probe_lookup_value(probe.get(), "UUID", &value, nullptr) == 0 && value != nullptr) {
    out.uuid = normalize_uuid(value);
  }
  value = nullptr;
  if (rc == 0 && blkid_probe_lookup_value(probe.get(), "TYPE", &value, nullptr) == 0 && value != nullptr) {
    out.type = value;
  }
  return out;
}

Result<std::optional<std::string>> filesystem_uuid_of_device(const std::string& device) {
  SNAPKEEP_TRY_ASSIGN(DeviceFilesystem found, probe_device(device));
  return found.uuid;
}

Result<std::string> filesystem_uuid(const fs::path& path) {
  SNAPKEEP_TRY_ASSIGN(MountEntry mount, mount_of(path));
  if (mount.source.rfind("/dev/", 0) != 0) {
    return runtime_error("the filesystem holding " + path.string() + " has no block device (" + mount.source +
                         "), so no filesystem UUID");
  }
  SNAPKEEP_TRY_ASSIGN(DeviceFilesystem found, probe_device(mount.source));
  if (!found.uuid) {
    return runtime_error("no filesystem UUID found on " + mount.source + " (holding " + path.string() + ")");
  }
  return *found.uuid;
}

std::string normalize_uuid(std::string_view uuid) {
  std::string out;
  for (char c : uuid) {
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

}  // namespace snapkeep
