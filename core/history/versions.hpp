#pragma once
// `snapkeep versions`: every distinct version of one file or folder across a preset's snapshots,
// from their manifests (a snapshot without a usable manifest is read directly, and said so), and
// bringing one back. docs/history.md describes what makes two versions the same.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backup/restore.hpp"
#include "core/base/error.hpp"
#include "core/config/config.hpp"
#include "core/store/manifest_entry.hpp"

namespace snapkeep {

// One distinct version of the path.
struct PathVersion {
  EntryType type = EntryType::file;
  std::uint64_t size = 0;              // a file's size; a folder's: the bytes of the files in it
  std::int64_t mtime_ns = 0;           // as in the newest snapshot holding it
  std::string hash;                    // a file's content hash ("" unknown); a folder's: the digest of its listing
  std::uint64_t entries = 0;           // a folder: the entries in it
  std::vector<std::string> snapshots;  // ids holding it, oldest first
};

// A snapshot that was read from its tree, and why.
struct TreeRead {
  std::string id;
  std::string reason;  // "no manifest", "manifest damaged (...)"
};

// What `versions` found.
struct VersionsReport {
  std::string path;                      // relative to the snapshot root
  std::vector<PathVersion> versions;     // newest first
  std::vector<std::string> absent;       // snapshots without the path
  std::vector<TreeRead> read_from_tree;  // snapshots without a usable manifest, read directly
  std::uint64_t snapshots = 0;           // snapshots looked at
};

// The path as the snapshots hold it: PATH relative to the snapshot root, or absolute under the
// preset's source or inside one of its snapshots. A path elsewhere, or leaving the snapshot
// (".."), is a usage error.
Result<std::string> path_in_snapshots(const Preset& preset, const std::string& path);

// Every distinct version of `rel` (path_in_snapshots) in the preset's snapshots, newest first.
// Versions are the same when a file's type, size, mtime and content hash are, or a folder's listing
// (every entry's relative path, type, size and mtime) is. Memory grows with the snapshots, not with
// the files. Fails when the preset folder cannot be read.
Result<VersionsReport> find_versions(const Preset& preset, const std::string& rel);

// The restore of version `number` (1 = newest) of report.path from the newest snapshot holding it
// into `target`. A number out of range is a usage error.
Result<RestoreRequest> version_restore_request(const VersionsReport& report, std::size_t number,
                                               const std::filesystem::path& target, bool force);

// Carries out version_restore_request with restore_snapshot's rules.
Result<RestoreOutcome> restore_version(const Preset& preset, const VersionsReport& report, std::size_t number,
                                       const std::filesystem::path& target, bool force);

// The report as `versions --json` prints it (docs/json.md), which is also what serve sends; and back.
nlohmann::json versions_to_json(const VersionsReport& report);
Result<VersionsReport> versions_from_json(const nlohmann::json& json);

}  // namespace snapkeep
