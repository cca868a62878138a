#pragma once
// `snapkeep serve`: the remote end of push backups (docs/remote.md). One ssh connection carries one
// typed request (list, du, prune, scrub, check, restore, versions, diff, report, backup, attach) and
// its answer; serve runs the same use cases a local run would, on its own destination, and builds
// every argv itself.

#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include "core/config/config.hpp"
#include "core/store/backend.hpp"
#include "core/store/subvolume_sender.hpp"

namespace snapkeep {

// What serve takes from the layers above core/: the backend a preset uses (backends/registry) and
// the values `backend` may have.
struct ServeEnvironment {
  std::function<Result<std::unique_ptr<Backend>>(const Preset&)> backend_for;
  ConfigSchema schema;
  // Sends source subvolumes (--source-only: `pull = btrfs-send` from this host).
  std::function<std::unique_ptr<SubvolumeSender>()> subvolume_sender;
};

// How serve was started (from authorized_keys' forced command, so trusted).
struct ServeOptions {
  std::filesystem::path restrict_path;  // --restrict-path: every path a client names stays inside it
  bool append_only = false;             // --append-only: nothing is deleted or overwritten for a client
  // --source-only: this host is a pull's source; only `send` requests (btrfs send of a source
  // subvolume inside restrict_path) are served, and nothing is written but the source snapshots.
  bool source_only = false;
  // The server's own presets: in append-only mode keep, min_free and the drive checks of a preset
  // with the client's preset name and destination come from here (none: keep everything).
  std::vector<Preset> own_presets;
  std::filesystem::path self_exe;  // this program, which serve's rsync starts as the relay
};

// Serves one connection on in_fd/out_fd (ssh's stdin and stdout): the hello, one request and its
// answer. Returns the process exit status; errors are sent to the client and logged on stderr.
int serve_connection(int in_fd, int out_fd, const ServeOptions& options, const ServeEnvironment& environment);

// The relay serve's rsync starts as its remote shell (`snapkeep __relay SESSION ...`): waits for the
// client's second ssh connection (attach) to hand over its descriptors, answers "attached" with the
// server argv rsync asked for (`rsync_words`), then copies bytes both ways until the client's end is
// done. The session's secret comes in $SNAPKEEP_RELAY_TOKEN. Returns the exit status.
int run_relay(const std::string& session, const std::vector<std::string>& rsync_words);

}  // namespace snapkeep
