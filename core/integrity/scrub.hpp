#pragma once
// scrub (SPEC §6): verify every snapshot of a preset against its manifest, reading each unique
// content once; bounded runs that continue with what was verified longest ago; repair from a good
// copy; the destination filesystem's own scrub where the backend offers one. docs/scrub.md describes the rules.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// The statuses of SPEC §2.
enum class FindingStatus {
  corrupted,         // content differs from the manifest, mtime unchanged
  unreadable,        // reading failed with an I/O error (EIO: e.g. a btrfs checksum failure)
  missing,           // a manifest entry is gone from the snapshot
  modified,          // content (or the entry's type) differs and the mtime changed too
  manifest_damaged,  // the manifest failed its format or checksum check; the snapshot is unverified
};

// "corrupted", "unreadable", ...
std::string_view finding_status_name(FindingStatus status);

// One piece of damage: a content (or an entry, or a manifest) and every snapshot path it affects.
struct ScrubFinding {
  FindingStatus status = FindingStatus::corrupted;
  std::vector<std::filesystem::path> paths;  // every snapshot path affected (the snapshot folder for manifest_damaged)
  std::vector<std::string> snapshots;        // ids of the snapshots affected
  std::uint64_t size = 0;                    // size per the manifest
  std::string expected_hash;                 // per the manifest
  std::string actual_hash;                   // what the data hashes to now ("" when not read)
  std::string detail;                        // the error, or why the manifest is damaged
  bool repaired = false;
  std::string repaired_from;  // the verified good copy used
  std::string repair_note;    // why not repaired, or what would be done (read-only snapshots)
  // Other names of the damaged inode in snapshots without a manifest (the old script's, before
  // `adopt`): never verified, but they hold the same damaged data (hard-link trees only).
  std::vector<std::filesystem::path> unverified_paths;
};

// Filesystems whose own scrub already ran in one `snapkeep scrub` run: filesystem id -> the preset
// whose report holds its figures. Shared by the presets of the run, so each filesystem is scrubbed
// once however many presets live on it.
struct FsScrubsDone {
  std::map<std::string, std::string> by_filesystem;
};

// What to do.
struct ScrubOptions {
  std::optional<std::string> snapshot;       // only this snapshot (an id or "latest")
  bool repair = false;                       // rewrite damaged content from a verified good copy
  bool init = false;                         // first make manifests for snapshots that lack one
  std::optional<std::uint64_t> max_bytes;    // stop before reading more than this (at least one content)
  std::optional<std::uint64_t> max_seconds;  // start no new content after this long (at least one is read)
  bool wait_for_lock = false;
  bool fs_scrub = true;  // on btrfs, run the filesystem's scrub on unbounded runs of all snapshots
  // The run's record of filesystems scrubbed so far (null: every preset scrubs its filesystem).
  FsScrubsDone* fs_scrubs_done = nullptr;
};

// One attempt of `scrub --repair` to remake a damaged snapshot as a whole (btrfs).
struct SnapshotRepair {
  std::string snapshot;   // its id
  bool repaired = false;  // the id now names a clean, verified copy
  std::string note;       // where the clean copy came from, or why the snapshot stays damaged
};

// The result of one scrub of one preset.
struct ScrubReport {
  std::uint64_t snapshots_checked = 0;        // snapshots whose manifest was read and checked
  std::uint64_t entries_checked = 0;          // manifest entries whose existence and metadata were checked
  std::uint64_t files_checked = 0;            // snapshot paths (files, symlinks) whose content was verified this run
  std::uint64_t contents_total = 0;           // unique contents (hashed files) across the snapshots checked
  std::uint64_t contents_verified = 0;        // of them, read and compared this run
  std::uint64_t contents_unverified = 0;      // of them, never verified by any run yet
  std::uint64_t bytes_total = 0;              // size of all unique contents
  std::uint64_t bytes_read = 0;               // data read to verify (each unique content once)
  std::uint64_t mismatches = 0;               // contents whose hash did not match
  std::uint64_t repair_bytes_read = 0;        // data read to find, stage and check good copies
  bool budget_reached = false;                // --max-bytes/--max-time stopped the run early
  std::vector<std::string> initialized;       // snapshots given a manifest by --init (first seen, not verified)
  std::vector<std::string> without_manifest;  // snapshots with no manifest (run scrub --init)
  std::vector<ScrubFinding> findings;
  std::vector<SnapshotRepair> snapshot_repairs;  // whole-snapshot repairs tried by --repair
  std::optional<FsScrubCounters> fs_scrub;       // btrfs only
  std::string fs_scrub_note;                     // why the filesystem scrub did not run, or its failure
  std::string fs_scrub_reported_by;              // the preset of this run whose report holds the figures
  double seconds = 0;

  // Damage not repaired: findings not repaired, or uncorrectable filesystem scrub errors.
  bool damage_remains() const;
};

// Scrubs one preset under its lock (held: ErrorKind::locked), reading each unique content once,
// with the content sharing of `backend`'s snapshots. Fails (exit 1) when the run cannot be carried
// out (the caller has checked that the destination exists); damage is a successful report with
// findings. Memory does not grow with the files checked (work files go to the preset's .snapkeep/),
// only with the damage found; docs/scrub.md says what a run costs.
Result<ScrubReport> run_scrub(const Preset& preset, const Backend& backend, const ScrubOptions& options);

}  // namespace snapkeep
