#pragma once
// One function per command: parse nothing, decide nothing beyond printing; logic lives in core/.

#include <string>
#include <vector>

#include "core/config/config.hpp"

namespace CLI {
class App;
}

namespace snapkeep::cli {

// Options every command shares.
struct GlobalOptions {
  std::vector<std::string> config_files;
  int verbosity = 0;
  bool json = false;
  std::string command;           // the command being run ("backup", ...)
  int progress_fd = -1;          // --progress-fd: the JSON-lines event stream, -1 when none
  double progress_interval = 1;  // --progress-interval: seconds between progress events

  // Human result lines on stdout: not with --json, and with -q only when there is trouble (a
  // warning, a failure, damage), so a cron job mails only then.
  bool show(bool trouble = false) const { return !json && (verbosity >= 0 || trouble); }
};

struct BackupArgs {
  std::vector<std::string> presets;
  bool dry_run = false;
  bool wait = false;
  bool switch_backend = false;
  bool new_folder = false;
};

struct DeleteArgs {
  std::string preset;
  std::vector<std::string> ids;
  bool dry_run = false;
  bool wait = false;
};

struct AdoptArgs {
  std::string preset;
  bool dry_run = false;
  bool wait = false;
};

struct RenameArgs {
  std::string old_name;
  std::string new_name;
  bool wait = false;
};

struct RestoreArgs {
  std::string preset;
  std::string snapshot;
  std::string inside;
  std::string target;
  bool force = false;
};

struct PruneArgs {
  std::vector<std::string> presets;
  bool dry_run = false;
  bool wait = false;
  std::string free;  // --free SIZE, empty when not given
};

struct ScrubArgs {
  std::vector<std::string> presets;
  std::string snapshot;  // empty: every snapshot
  bool repair = false;
  bool init = false;
  std::string max_time;   // DURATION, empty when not given
  std::string max_bytes;  // SIZE, empty when not given
  bool wait = false;
};

struct StatusArgs {
  std::vector<std::string> presets;
  std::string max_age;  // DURATION, empty when not given
};

// The hidden `_complete WHAT [COMMAND]` that bash completion runs.
struct CompleteArgs {
  std::string what;     // commands, options, presets, keys
  std::string command;  // for options: the command whose options (empty: the global ones)
};

// snapkeep serve (docs/remote.md).
struct ServeArgs {
  std::string restrict_path;
  bool append_only = false;
  bool source_only = false;
};

// snapkeep trust HOST.
struct TrustArgs {
  std::string host;         // a preset name, [user@]host, host:/path or ssh://host:port/path
  std::string known_hosts;  // --known-hosts, empty: the preset's or the default
  bool yes = false;
};

struct VersionsArgs {
  std::string preset;
  std::string path;
  std::size_t restore = 0;  // --restore N (1 = newest); 0 when not given
  std::string target;       // --to DIR
  bool force = false;
};

struct DiffArgs {
  std::string preset;
  std::string from;  // "" = the second newest
  std::string to;    // "" = the newest
};

struct ReportArgs {
  std::vector<std::string> presets;
  std::string html;    // --html FILE, empty when not given
  std::string window;  // --coverage-window DURATION, empty for the default
};

// Each returns the process exit status (SPEC §2).
int cmd_backup(const GlobalOptions& global, const Config& config, const BackupArgs& args);
int cmd_list(const GlobalOptions& global, const Config& config, const std::vector<std::string>& presets);
int cmd_restore(const GlobalOptions& global, const Config& config, const RestoreArgs& args);
int cmd_prune(const GlobalOptions& global, const Config& config, const PruneArgs& args);
int cmd_scrub(const GlobalOptions& global, const Config& config, const ScrubArgs& args);
int cmd_du(const GlobalOptions& global, const Config& config, const std::vector<std::string>& presets);
int cmd_check(const GlobalOptions& global, const Config& config, const std::vector<std::string>& presets);
int cmd_versions(const GlobalOptions& global, const Config& config, const VersionsArgs& args);
int cmd_diff(const GlobalOptions& global, const Config& config, const DiffArgs& args);
int cmd_report(const GlobalOptions& global, const Config& config, const ReportArgs& args);
int cmd_delete(const GlobalOptions& global, const Config& config, const DeleteArgs& args);
int cmd_adopt(const GlobalOptions& global, const Config& config, const AdoptArgs& args);
int cmd_rename(const GlobalOptions& global, const Config& config, const RenameArgs& args);
int cmd_status(const GlobalOptions& global, const Config& config, const StatusArgs& args);
// Prints one word per line for bash completion (no config needed; errors print nothing).
int cmd_complete(const CLI::App& app, const GlobalOptions& global, const CompleteArgs& args);

// Opens the --progress-fd stream when one was given; a descriptor not open for writing is a usage error.
Status open_progress_stream(const GlobalOptions& global);
// serve and trust read no config unless -c names one (a serve host needs none).
int cmd_serve(const GlobalOptions& global, const ServeArgs& args);
int cmd_trust(const GlobalOptions& global, const TrustArgs& args);
// The relay serve's rsync starts (`snapkeep __relay SESSION ...`), before any argument parsing.
int cmd_relay(int argc, char** argv);

}  // namespace snapkeep::cli
