#include "core/store/local_state.hpp"

#include <fcntl.h>
#include <sys/file.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "core/base/fd.hpp"
#include "core/base/fsutil.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr const char* k_state_file = "state.json";
constexpr int k_state_format = 1;

fs::path state_path() {
  return local_state_dir() / k_state_file;
}

Result<nlohmann::json> parse_state(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) {
    return nlohmann::json::object();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return sys_error("cannot read the local state", path);
  }
  std::stringstream text;
  text << in.rdbuf();
  auto doc = nlohmann::json::parse(text.str(), nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return runtime_error(
        "the local state is damaged (not a JSON object); move it away and run again "
        "(snapkeep rebuilds what it can)",
        path);
  }
  return doc;
}

}  // namespace

fs::path local_state_dir() {
  const char* env = std::getenv("SNAPKEEP_STATE_DIR");
  if (env != nullptr && *env != '\0') {
    return fs::path(env);
  }
  return fs::path("/var/lib/snapkeep");
}

Result<nlohmann::json> read_local_state() {
  return parse_state(state_path());
}

Result<nlohmann::json> read_local_state_entry(const fs::path& preset_dir) {
  SNAPKEEP_TRY_ASSIGN(nlohmann::json doc, read_local_state());
  const auto presets = doc.find("presets");
  if (presets == doc.end() || !presets->is_object()) {
    return nlohmann::json::object();
  }
  const auto entry = presets->find(preset_dir.string());
  if (entry == presets->end() || !entry->is_object()) {
    return nlohmann::json::object();
  }
  return *entry;
}

Status update_local_state(const fs::path& preset_dir, const std::function<void(nlohmann::json& entry)>& change) {
  const fs::path dir = local_state_dir();
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return sys_error("cannot create the local state folder", dir, ec.value());
  }
  const fs::path lock_path = dir / "state.lock";
  Fd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!lock) {
    return sys_error("cannot open", lock_path);
  }
  if (::flock(lock.get(), LOCK_EX) != 0) {
    return sys_error("cannot lock", lock_path);
  }
  SNAPKEEP_TRY_ASSIGN(nlohmann::json doc, parse_state(state_path()));
  doc["format"] = k_state_format;
  nlohmann::json& entry = doc["presets"][preset_dir.string()];
  if (!entry.is_object()) {
    entry = nlohmann::json::object();
  }
  change(entry);
  return write_file_atomic(state_path(), doc.dump(2) + "\n");
}

}  // namespace snapkeep
