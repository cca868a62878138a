#include "core/base/fsuuid.hpp"

#include <blkid/blkid.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// Owns a libblkid probe.
struct FreeProbe {
  void operator()(blkid_probe probe) const { blkid_free_probe(probe); }
};

// Undoes the octal escapes (\040 for a space, \011, \012, \134) of a mountinfo field.
std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      const std::string digits = text.substr(i + 1, 3);
      if (digits.find_first_not_of("01234567") == std::string::npos) {
        out += static_cast<char>(std::stoi(digits, nullptr, 8));
        i += 3;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

// Is `path` the mount point `mount` or below it (both absolute, normal)?
bool below(const fs::path& path, const fs::path& mount) {
  auto p = path.begin();
  for (auto m = mount.begin(); m != mount.end(); ++m, ++p) {
    if (m->empty()) {
      continue;  // the trailing "" of "/"
    }
    if (p == path.end() || *p != *m) {
      return false;
    }
  }
  return true;
}

// The source (device) of the innermost mount holding `path`, per /proc/self/mountinfo; "" when
// none is found. Of mounts stacked on one point, the last listed is the one seen.
Result<std::string> mount_source_of(const fs::path& path) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) {
    return sys_error("cannot read", "/proc/self/mountinfo");
  }
  std::string best_source;
  std::size_t best_depth = 0;
  bool found = false;
  for (std::string line; std::getline(in, line);) {
    // ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER_OPTIONS
    std::istringstream fields(line);
    std::vector<std::string> words;
    for (std::string word; fields >> word;) {
      words.push_back(word);
    }
    std::size_t dash = 6;
    while (dash < words.size() && words[dash] != "-") {
      ++dash;
    }
    if (words.size() < 5 || dash + 2 >= words.size()) {
      continue;
    }
    fs::path mount_point = unescape(words[4]);
    if (!below(path, mount_point)) {
      continue;
    }
    std::size_t depth = static_cast<std::size_t>(std::distance(mount_point.begin(), mount_point.end()));
    if (!found || depth >= best_depth) {
      best_depth = depth;
      best_source = unescape(words[dash + 2]);
      found = true;
    }
  }
  return best_source;
}

}  // namespace

Result<std::string> filesystem_uuid(const fs::path& path) {
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) {
    return sys_error("cannot resolve", path, ec.value());
  }
  SNAPKEEP_TRY_ASSIGN(std::string device, mount_source_of(real));
  if (device.rfind("/dev/", 0) != 0) {
    return runtime_error("the filesystem holding " + path.string() + " has no block device (" +
                         (device.empty() ? std::string("no mount found") : device) + "), so no filesystem UUID");
  }
  std::unique_ptr<blkid_struct_probe, FreeProbe> probe(blkid_new_probe_from_filename(device.c_str()));
  if (!probe) {
    return sys_error("cannot read the filesystem UUID of " + path.string() + " from", device);
  }
  blkid_probe_enable_superblocks(probe.get(), 1);
  blkid_probe_set_superblocks_flags(probe.get(), BLKID_SUBLKS_UUID);
  const char* value = nullptr;
  if (blkid_do_safeprobe(probe.get()) != 0 || blkid_probe_lookup_value(probe.get(), "UUID", &value, nullptr) != 0 ||
      value == nullptr) {
    return runtime_error("no filesystem UUID found on " + device + " (holding " + path.string() + ")");
  }
  return std::string(value);
}

}  // namespace snapkeep
