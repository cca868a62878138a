#pragma once
// The typed contents of snapkeep's remote protocol (docs/remote.md): the preset a client sends with a
// request, and the results of the use cases (list, du, prune, scrub, check, restore, backup) as
// JSON, both ways. Decoders check every field's type and fail with "malformed" rather than throw.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/backup/backup.hpp"
#include "core/backup/check.hpp"
#include "core/backup/restore.hpp"
#include "core/integrity/scrub_json.hpp"  // the scrub report travels in its --json form
#include "core/retention/prune.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// The preset name rules of the config reference (docs/configuration.md), for names a client sends.
Status check_preset_name(const std::string& name);

// "0c5f1a2b-...": a btrfs uuid in its text form (36 characters, hex digits and four dashes).
bool is_uuid_text(const std::string& text);

// What `list` shows of a preset folder.
struct RemoteListing {
  std::string backend;
  std::vector<SnapshotInfo> snapshots;
  std::vector<InterruptedWork> interrupted;
};

// What `check` found on the destination host.
struct RemoteCheck {
  std::string backend;
  CheckReport report;
};

// The preset as a client sends it: name, destination (a path on the server), the source's path for
// messages, and the settings a destination needs (backend, keep, min_free, drive checks, checksum,
// excludes with exclude_from's lines, transfer settings). No paths of the client's machine but the source's.
nlohmann::json preset_to_json(const Preset& preset);
// The preset a server acts for; `exclude_from_lines` receives exclude_from's lines (written to a file
// by the caller). Values are checked as config checks them (keep, checksum, uuids, name rules);
// paths are the caller's to check against its restriction.
Result<Preset> preset_from_json(const nlohmann::json& json, const ConfigSchema& schema,
                                std::vector<std::string>& exclude_from_lines);

nlohmann::json listing_to_json(const RemoteListing& listing);
Result<RemoteListing> listing_from_json(const nlohmann::json& json);

nlohmann::json usage_to_json(const UsageReport& usage);
Result<UsageReport> usage_from_json(const nlohmann::json& json);

nlohmann::json prune_entries_to_json(const std::vector<PruneEntry>& entries);
Result<std::vector<PruneEntry>> prune_entries_from_json(const nlohmann::json& json);

nlohmann::json scrub_options_to_json(const ScrubOptions& options);
Result<ScrubOptions> scrub_options_from_json(const nlohmann::json& json);

nlohmann::json check_to_json(const RemoteCheck& check);
Result<RemoteCheck> check_from_json(const nlohmann::json& json);

nlohmann::json restore_outcome_to_json(const RestoreOutcome& outcome);
Result<RestoreOutcome> restore_outcome_from_json(const nlohmann::json& json);

// A backup run without its lock (which stays on the server).
nlohmann::json backup_run_to_json(const BackupRun& run);
Result<BackupRun> backup_run_from_json(const nlohmann::json& json);

}  // namespace snapkeep
