#pragma once
// rsync as a copy engine: the one argv builder and runner shared by both backends and restore.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/progress.hpp"
#include "core/store/backend.hpp"

namespace snapkeep {

// The far end of a transfer on another machine: rsync starts the rsync there through `rsh`.
struct RsyncRemoteEnd {
  std::vector<std::string> rsh;            // rsync -e: ssh with snapkeep's options, or serve's relay
  std::string host;                        // what goes before the ':' of the far path ("nas", "[::1]")
  std::map<std::string, std::string> env;  // for rsh
  std::optional<RemoteLocation> where;     // the ssh location (none for serve's relay), for messages
  RemoteSettings settings;                 // its ssh settings, for messages
};

// One rsync transfer from a source folder (or its contents) into a target folder.
struct RsyncTransfer {
  std::filesystem::path source;                   // its contents are copied (or itself, see contents)
  std::filesystem::path target;                   // made to mirror source
  std::vector<std::filesystem::path> link_dests;  // --link-dest candidates, best first
  bool dry_run = false;
  bool in_place = false;  // --inplace --no-whole-file: rewrite only changed blocks (btrfs)
  // The target is new and empty, so every file is a fresh copy: --sparse even with in_place (rsync's
  // --sparse rewrites blocks of files it updates in place; see docs/btrfs.md "Sparse files").
  bool fresh_target = false;
  // --modify-window=-1: compare and set mtimes to the nanosecond, so a file rewritten within the
  // second of the last backup is not taken as unchanged. Only where the target keeps nanoseconds.
  bool exact_mtimes = false;
  // A backup: --delete and the preset's filters (exclude, exclude_from, one_file_system). A restore
  // copies what the snapshot holds into a folder and deletes nothing.
  bool mirror = true;
  // Copy the contents of source (SOURCE/), or source itself by name (a single file or folder).
  bool contents = true;
  // What the transfer is for, in messages ("backup failed: ...").
  std::string operation = "backup";
  // Every non-zero exit is a failure (restore: a snapshot does not change while it is read).
  bool strict = false;
  // Source or target is a path on another machine (at most one of them). Remote transfers also
  // take the preset's bwlimit and compress.
  std::optional<RsyncRemoteEnd> remote_source;
  std::optional<RsyncRemoteEnd> remote_target;
  // Only the paths listed in this file (NUL-separated, relative to source): --files-from --from0.
  std::optional<std::filesystem::path> files_from;
};

// How rsync reaches `where` for `preset`: ssh with snapkeep's options (core/remote/ssh_command.hpp),
// or, on a serve host, the relay to the client's rsync that serve set in preset.remote.relay.
RsyncRemoteEnd rsync_remote_end(const Preset& preset, const RemoteLocation& where);

// A pulled source (`source = host:/path`): reachable over ssh, a folder, and not empty unless
// allow_empty_source, found by listing its top level with rsync (which rrsync -ro allows too). The
// error names the ssh problem (cannot connect, host key, permission) or what rsync said.
Status check_remote_source(const Preset& preset);

// Words joined into one rsync -e value: split again by rsync at blanks, so words holding blanks or
// quotes are single-quoted (a quote inside doubled, as rsync reads it).
std::string rsync_rsh_value(const std::vector<std::string>& words);

// One end of a transfer run as rsync's server (`rsync --server`), facing an rsync that another
// snapkeep started with rsync_argv and the same settings: what the other rsync would tell it.
struct RsyncServerRole {
  bool sender = false;  // --sender: reads `path` (a push's source); else writes into it (a restore's target)
  bool dry_run = false;
  bool one_file_system = false;
  bool compress = false;
  bool exact_mtimes = false;  // receiver only: --modify-window=-1
  bool in_place = false;      // --inplace: the receiver rewrites files in place (a btrfs working copy)
  bool sparse = true;         // -S: the receiver makes holes (not for files rewritten in place)
  std::optional<std::uint64_t> bwlimit_kib;
  std::string capabilities;  // the letters after "-e." the other rsync offered ("iLsfxCIvu")
  std::filesystem::path path;
};

// `rsync --server [--sender] -lHogDtpAXrS...e.CAPS --numeric-ids ... . PATH/` (argv, no shell).
std::vector<std::string> rsync_server_argv(const RsyncServerRole& role);

// The options of a server argv as a set to compare two of them: single letters of option clusters
// (up to the capabilities), long options, "-@N" spelt --modify-window=N; without "--server", ".",
// the path and "--stats" (which changes nothing on the wire).
std::set<std::string> rsync_server_options(const std::vector<std::string>& server_args);

// The capability letters after "-e." in a server argv ("" when none).
std::string rsync_server_capabilities(const std::vector<std::string>& server_args);

// The argv for a transfer (no shell): `rsync -aHAX --numeric-ids ... -- SOURCE/ TARGET/`.
std::vector<std::string> rsync_argv(const Preset& preset, const RsyncTransfer& transfer, bool show_progress);

// Runs rsync for a transfer, shows progress, classifies its exit status (warnings go into the stats).
// The error names rsync's status and meaning, and the tail of its stderr.
Result<BackupStats> run_rsync(const Preset& preset, const RsyncTransfer& transfer, Progress& progress);

}  // namespace snapkeep
