#include "core/store/damage.hpp"

#include <fstream>
#include <iterator>

#include "core/base/fsutil.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// NUL-separated "ID\0PATH\0" records (a path may hold any byte but NUL), after a header line.
constexpr std::string_view k_header = "snapkeep-damage 1\n";

fs::path record_path(const fs::path& state_dir) {
  return state_dir / "damaged";
}

}  // namespace

bool DamageRecord::snapshot_damaged(const std::string& id) const {
  auto it = entries.lower_bound({id, ""});
  return it != entries.end() && it->first == id;
}

bool DamageRecord::path_damaged(const std::string& id, const std::string& rel) const {
  return entries.count({id, rel}) > 0 || entries.count({id, ""}) > 0;
}

std::string describe_damage(const DamageRecord& record, const std::string& id, std::size_t max_paths) {
  if (record.entries.count({id, ""}) > 0) {
    return "the whole snapshot";
  }
  std::string out;
  std::size_t named = 0;
  std::size_t more = 0;
  for (auto it = record.entries.lower_bound({id, ""}); it != record.entries.end() && it->first == id; ++it) {
    if (named < max_paths) {
      out += (named == 0 ? "" : ", ") + it->second;
      ++named;
    } else {
      ++more;
    }
  }
  if (more > 0) {
    out += " and " + std::to_string(more) + " more";
  }
  return out;
}

Result<DamageRecord> read_damage_record(const fs::path& state_dir) {
  DamageRecord record;
  const fs::path path = record_path(state_dir);
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) {
    return record;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return sys_error("cannot read the damage record", path);
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.rfind(k_header, 0) != 0) {
    return runtime_error("the damage record is not in a format this snapkeep knows; run snapkeep scrub to remake it",
                         path);
  }
  std::size_t pos = k_header.size();
  while (pos < text.size()) {
    std::size_t id_end = text.find('\0', pos);
    std::size_t path_end = id_end == std::string::npos ? std::string::npos : text.find('\0', id_end + 1);
    if (path_end == std::string::npos) {
      return runtime_error("the damage record is cut short; run snapkeep scrub to remake it", path);
    }
    record.entries.emplace(text.substr(pos, id_end - pos), text.substr(id_end + 1, path_end - id_end - 1));
    pos = path_end + 1;
  }
  return record;
}

Status write_damage_record(const fs::path& state_dir, const DamageRecord& record) {
  const fs::path path = record_path(state_dir);
  if (record.empty()) {
    std::error_code ec;
    fs::remove(path, ec);
    if (ec) {
      return sys_error("cannot remove the damage record", path, ec.value());
    }
    return fsync_dir(state_dir);
  }
  std::string text(k_header);
  for (const auto& [id, rel] : record.entries) {
    text += id;
    text += '\0';
    text += rel;
    text += '\0';
  }
  return write_file_atomic(path, text);
}

}  // namespace snapkeep
