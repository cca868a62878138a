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

// Length of the valid UTF-8 sequence starting at text[i] (0 when there is none).
std::size_t utf8_length(const std::string& text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char c = byte(i);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
  if (n == 0 || i + n > text.size() || (n == 2 && c < 0xc2)) {
    return 0;
  }
  for (std::size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) {
      return 0;
    }
  }
  // Overlong forms, surrogates and code points past U+10FFFF are not valid UTF-8.
  if ((n == 3 && c == 0xe0 && byte(i + 1) < 0xa0) || (n == 3 && c == 0xed && byte(i + 1) >= 0xa0) ||
      (n == 4 && c == 0xf0 && byte(i + 1) < 0x90) || (n == 4 && (c > 0xf4 || (c == 0xf4 && byte(i + 1) >= 0x90)))) {
    return 0;
  }
  return n;
}

}  // namespace

std::string local_state_key(const fs::path& preset_dir) {
  const std::string& text = preset_dir.native();
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = text[i] == '%' ? 0 : utf8_length(text, i);
    if (n == 0) {
      static constexpr char k_hex[] = "0123456789ABCDEF";
      const auto c = static_cast<unsigned char>(text[i]);
      out += '%';
      out += k_hex[c >> 4];
      out += k_hex[c & 0xf];
      ++i;
    } else {
      out.append(text, i, n);
      i += n;
    }
  }
  return out;
}

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

namespace {

// Runs `change` on the whole document under the state's lock and writes it back atomically.
Status change_local_state(const std::function<void(nlohmann::json& doc)>& change) {
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
  change(doc);
  // Values that are not UTF-8 (a preset name) are written with U+FFFD; keys are kept exact.
  return write_file_atomic(state_path(), doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace

Status update_local_state(const fs::path& preset_dir, const std::function<void(nlohmann::json& entry)>& change) {
  return change_local_state([&](nlohmann::json& doc) {
    nlohmann::json& entry = doc["presets"][local_state_key(preset_dir)];
    if (!entry.is_object()) {
      entry = nlohmann::json::object();
    }
    change(entry);
  });
}

Status rename_local_state(const fs::path& from_dir, const fs::path& to_dir) {
  return change_local_state([&](nlohmann::json& doc) {
    nlohmann::json& presets = doc["presets"];
    if (!presets.is_object()) {
      return;
    }
    auto it = presets.find(local_state_key(from_dir));
    if (it == presets.end()) {
      return;
    }
    presets[local_state_key(to_dir)] = *it;
    presets.erase(local_state_key(from_dir));
  });
}

}  // namespace snapkeep
