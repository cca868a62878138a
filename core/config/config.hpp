#pragma once
// snapkeep's configuration: presets read from INI files and validated (SPEC §1).

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/base/error.hpp"
#include "core/config/units.hpp"
#include "core/remote/location.hpp"
#include "core/remote/settings.hpp"

namespace snapkeep {

enum class ChecksumKind { xxh128, sha256, none };

// How the hard-link backend copies: its own engine, or rsync (docs/engine.md).
enum class TransferEngine { native, rsync };
// How a pull (a remote source) copies onto a btrfs drive: rsync into a working copy, or btrfs send on
// the source host through `snapkeep serve --source-only` (docs/remote.md).
enum class PullMethod { rsync, btrfs_send };
// `forget_drive_after` when not configured: 90 days.
inline constexpr std::uint64_t k_default_forget_drive_after = 90ULL * 24 * 3600;

// Monitoring and hooks of a preset (docs/monitoring.md). Commands are argv vectors, one per line of
// the value, split like systemd's ExecStart= (core/config/command_words.hpp); no shell ever runs.
struct PresetHooks {
  std::string healthcheck_url;                        // empty: no pings
  std::optional<std::filesystem::path> metrics_file;  // node_exporter textfile
  std::vector<std::vector<std::string>> before_backup;
  std::vector<std::vector<std::string>> after_backup;
  std::vector<std::vector<std::string>> on_success;
  std::vector<std::vector<std::string>> on_failure;
};

// One validated preset. Paths are absolute (relative ones were resolved against their file's folder).
struct Preset {
  std::string name;
  std::filesystem::path source;
  std::filesystem::path destination;
  std::string backend = "auto";  // "auto" or a backend's name (ConfigSchema::backend_values)
  KeepPolicy keep;               // empty = keep all
  std::optional<SizeSpec> min_free;
  std::vector<std::string> exclude;  // one rsync pattern each
  std::optional<std::filesystem::path> exclude_from;
  // Names of tag files: a folder holding one keeps only its tag files (native engine).
  std::vector<std::string> exclude_if_present;
  bool one_file_system = false;
  TransferEngine transfer = TransferEngine::native;
  ChecksumKind checksum = ChecksumKind::xxh128;
  std::optional<std::filesystem::path> snapshot_dir;
  bool allow_empty_source = false;
  bool allow_partial = false;           // rsync exit 23 counts as success with a warning
  bool min_free_overrides_keep = true;  // min_free may delete what `keep` would keep (docs/retention.md)
  // The destination must be a mount point or on another filesystem than / and the source (docs/drives.md).
  bool require_mount = true;
  std::vector<std::string> destination_uuids;  // filesystems the destination may be on (lower case); empty: any
  bool skip_if_unmounted = false;              // if_unmounted = skip: an absent drive is "skipped", exit 0
  PresetHooks hooks;                           // healthcheck_url, metrics_file and commands
  // source = [user@]host:/path: pulled over ssh with rsync (`source` then holds the remote path).
  std::optional<RemoteLocation> remote_source;
  PullMethod pull = PullMethod::rsync;  // `pull`: how a remote source is copied
  // destination = [user@]host:/path: pushed to `snapkeep serve` there (`destination` holds the remote path).
  std::optional<RemoteLocation> remote_destination;
  RemoteSettings remote;                       // ssh_identity, known_hosts, remote_command, bwlimit, compress
  std::string origin;                          // "FILE:LINE" of the [section] header, for messages
  std::map<std::string, std::string> origins;  // "FILE:LINE" where each key's value was written
  // Rotating drives: a drive not seen for this long (seconds) loses the btrfs source snapshot kept
  // as its next parent (its next backup is a full send); nullopt = never ("never").
  std::optional<std::uint64_t> forget_drive_after = k_default_forget_drive_after;

  // destination/<name>: where this preset's snapshots live.
  std::filesystem::path preset_dir() const { return destination / name; }
};

// Every preset of every config file, in order of first appearance.
struct Config {
  std::vector<Preset> presets;
  std::vector<std::filesystem::path> files;
};

// What config validation takes from outside core/: the values `backend` may have ("auto" and the
// names in backends/registry.cpp, which is the one table of them).
struct ConfigSchema {
  std::vector<std::string> backend_values;
};

// Reads, merges (later files override earlier ones per key) and validates config files.
// Any problem is a config error (exit 2) "FILE:LINE: message".
Result<Config> load_config(const std::vector<std::filesystem::path>& files, const ConfigSchema& schema);

// Loads each file on its own (no merging, no [DEFAULT] shared between files) and lists all their
// presets in file order: the old script's `snapkeep a.ini b.ini`, where a preset name in two files
// is two presets.
Result<Config> load_configs_separately(const std::vector<std::filesystem::path>& files, const ConfigSchema& schema);

// Validates an already parsed document; the unit under test for most config rules.
Result<Config> build_config(const struct IniDocument& doc, const ConfigSchema& schema);

// The files to read when no -c is given: $SNAPKEEP_CONFIG, else /etc/snapkeep/snapkeep.conf.
std::vector<std::filesystem::path> default_config_files();

// Every key a preset may have, in the order of the config reference.
std::vector<std::string> config_keys();

// Presets named in `names` (all when empty), in config order; an unknown name is a config error.
Result<std::vector<Preset>> select_presets(const Config& config, const std::vector<std::string>& names);

}  // namespace snapkeep
