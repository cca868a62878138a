// Remaking a damaged read-only snapshot (scrub --repair): a clean full copy is received from the
// source snapshot it was received from, verified, and swapped into the snapshot's place.

#include "backends/btrfs/snapshot_remake.hpp"

#include <ctime>
#include <optional>
#include <string>

#include <spdlog/spdlog.h>

#include "backends/btrfs/btrfs_backend.hpp"
#include "backends/btrfs/subvolume.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/process.hpp"
#include "core/store/drives.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// The read-only source snapshot in `root` whose uuid is `uuid`, if any.
std::optional<fs::path> find_source_snapshot(const fs::path& root, const btrfs::Uuid& uuid) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (entry.path().filename().string().rfind('.', 0) == 0) {
      continue;
    }
    auto info = btrfs::subvolume_info(entry.path());
    if (info && info->read_only && info->uuid == uuid) {
      return entry.path();
    }
  }
  return std::nullopt;
}

// Deletes a subvolume left by an earlier attempt (none is a success).
Status remove_leftover(const fs::path& path) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) {
    return {};
  }
  return btrfs::delete_subvolume(path);
}

class BtrfsSnapshotRemaker final : public SnapshotRemaker {
 public:
  RemakeResult remake(const Preset& preset, const SnapshotInfo& snapshot,
                      const std::function<Status(const fs::path& copy)>& verify) const override {
    RemakeResult out;
    auto made = attempt(preset, snapshot, verify, out);
    if (!made) {
      out.remade = false;
      out.note = made.error().describe();
    }
    return out;
  }

 private:
  Status attempt(const Preset& preset, const SnapshotInfo& snapshot,
                 const std::function<Status(const fs::path& copy)>& verify, RemakeResult& out) const;
};

Status BtrfsSnapshotRemaker::attempt(const Preset& preset, const SnapshotInfo& snapshot,
                                     const std::function<Status(const fs::path& copy)>& verify,
                                     RemakeResult& out) const {
  SNAPKEEP_TRY_ASSIGN(auto info, btrfs::subvolume_info(snapshot.path));
  if (!info.read_only || btrfs::is_null(info.received_uuid)) {
    return runtime_error(
        "it was not received from a source snapshot (the source is a plain folder, synced with "
        "rsync), so there is no source snapshot to receive a clean copy from");
  }
  const fs::path source_root = source_snapshot_root(preset);
  auto source = find_source_snapshot(source_root, info.received_uuid);
  if (!source) {
    return runtime_error("its source snapshot (uuid " + btrfs::uuid_text(info.received_uuid) + ") is no longer in " +
                         source_root.string() + ", so no clean copy can be received");
  }
  const std::string dot_name = std::string(k_remake_prefix) + snapshot.id;
  const fs::path source_copy = source_root / dot_name;  // a snapshot of the source snapshot, sent under the dot-name
  const fs::path clean = preset.preset_dir() / dot_name;
  SNAPKEEP_TRY(remove_leftover(clean));
  SNAPKEEP_TRY(remove_leftover(source_copy));
  auto cleanup = [&] {
    (void)remove_leftover(clean);
    (void)remove_leftover(source_copy);
  };
  // A receive takes its name from the stream, so the sent snapshot carries the dot-name.
  SNAPKEEP_TRY(btrfs::snapshot(*source, source_copy, true));
  spdlog::info("{}: receiving a clean copy of {} from {}", preset.name, snapshot.id, source->string());
  auto piped = run_pipeline({"btrfs", "send", "-q", "--", source_copy.string()},
                            {"btrfs", "receive", "--", preset.preset_dir().string()});
  if (!piped || !piped->succeeded()) {
    cleanup();
    if (!piped) {
      return std::move(piped).error();
    }
    return runtime_error("receiving a clean copy failed: " + (piped->first.succeeded()
                                                                  ? describe_failure("btrfs receive", piped->second)
                                                                  : describe_failure("btrfs send", piped->first)));
  }
  auto copy_info = btrfs::subvolume_info(source_copy);
  if (!copy_info || !btrfs::is_verified_copy(clean, copy_info->uuid)) {
    cleanup();
    return runtime_error("the clean copy " + clean.string() + " is not a read-only copy of " + source_copy.string());
  }
  if (auto verified = verify(clean); !verified) {
    cleanup();
    return runtime_error("the clean copy did not verify: " + verified.error().describe());
  }
  SNAPKEEP_TRY(sync_filesystem(clean));
  // Swap: the id names the clean copy in one step (no moment without the snapshot), and its source
  // snapshot is the one it was received from, so the pair stays a verified parent pair.
  if (auto swapped = btrfs::exchange_names(snapshot.path, clean); !swapped) {
    cleanup();
    return swapped;
  }
  SNAPKEEP_TRY(fsync_dir(preset.preset_dir()));
  const std::string old_source_uuid = btrfs::uuid_text(info.received_uuid);
  const std::string new_source_uuid = btrfs::uuid_text(copy_info->uuid);
  if (auto swapped = btrfs::exchange_names(*source, source_copy); !swapped) {
    // The clean copy is in place; only its pairing is lost: the next backup may be a full send.
    spdlog::warn("{}: {}", preset.name, swapped.error().describe());
  } else if (auto drives = read_drives(preset.preset_dir()); drives) {
    // A drive keeping this pair as its parent keeps it under the new source snapshot's uuid.
    for (const auto& drive : *drives) {
      if (drive.parent && drive.parent->snapshot == snapshot.id && drive.parent->source_uuid == old_source_uuid) {
        (void)record_drive_parent(preset.preset_dir(), drive.uuid, DriveParent{snapshot.id, new_source_uuid});
      }
    }
  }
  cleanup();  // now the damaged snapshot and the old source snapshot
  // Wait until btrfs has freed the damaged snapshot's blocks, so that the filesystem's own scrub
  // no longer finds them once this repair is done (a sync wakes the cleaner that frees them).
  (void)btrfs::sync_and_clean(preset.preset_dir());
  auto cleaned =
      run_process({"btrfs", "subvolume", "sync", "--", preset.preset_dir().string(), std::to_string(info.id)});
  if (!cleaned || !cleaned->succeeded()) {
    spdlog::warn("{}: cannot wait for btrfs to free the damaged copy of {}: {}", preset.name, snapshot.id,
                 cleaned ? describe_failure("btrfs subvolume sync", *cleaned) : cleaned.error().describe());
  }
  out.remade = true;
  out.note = "a clean copy received from the source snapshot " + source->string() + ", verified";
  return {};
}

}  // namespace

const SnapshotRemaker& btrfs_snapshot_remaker() {
  static const BtrfsSnapshotRemaker remaker;
  return remaker;
}

}  // namespace snapkeep
