#pragma once
// The damage record: what the last scrub found damaged and did not repair, so backups never build
// on it (a hard-link backup copies such files instead of linking them; a btrfs backup never sends
// incrementally from a damaged parent). DEST/<preset>/.snapkeep/damaged, replaced atomically by
// each scrub that checked the snapshots concerned; see docs/scrub.md.

#include <filesystem>
#include <set>
#include <string>
#include <utility>

#include "core/base/error.hpp"

namespace snapkeep {

// Damaged (snapshot id, path relative to the snapshot) pairs; a path of "" means the snapshot as a
// whole (e.g. a btrfs snapshot whose blocks fail their checksums).
struct DamageRecord {
  std::set<std::pair<std::string, std::string>> entries;

  bool empty() const { return entries.empty(); }
  // Is anything recorded damaged in snapshot `id`?
  bool snapshot_damaged(const std::string& id) const;
  // Is this path of snapshot `id` (or the snapshot as a whole) recorded damaged?
  bool path_damaged(const std::string& id, const std::string& rel) const;
};

// Names the damage recorded in snapshot `id` for messages: "a.bin, dir/b.bin and 3 more", or "the
// whole snapshot".
std::string describe_damage(const DamageRecord& record, const std::string& id, std::size_t max_paths = 5);

// The record in state_dir (empty when there is none). A damaged record file is an error naming it.
Result<DamageRecord> read_damage_record(const std::filesystem::path& state_dir);

// Replaces the record in state_dir atomically (an empty record removes the file).
Status write_damage_record(const std::filesystem::path& state_dir, const DamageRecord& record);

}  // namespace snapkeep
