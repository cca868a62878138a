#pragma once
// The client side of snapkeep serve: what `list`, `du`, `prune`, `scrub`, `check`, `restore` and
// `backup` do when a preset's destination is on another host (docs/remote.md). Each opens an ssh
// connection running the preset's remote_command, says hello, sends one typed request and returns the
// same result types the local use cases return.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/base/process.hpp"
#include "core/history/diff.hpp"
#include "core/history/report_data.hpp"
#include "core/history/versions.hpp"
#include "core/serve/codec.hpp"
#include "core/store/subvolume_sender.hpp"

namespace snapkeep {

// One connection to snapkeep serve through ssh, after the hello.
class ServeConnection {
 public:
  // Starts ssh with the preset's remote_command on its destination host and exchanges hellos. The
  // error separates cannot connect, host key problems, permission denied and the remote's failure,
  // with the remote's stderr tail.
  // `compress_link`: ssh compresses (a btrfs stream, which rsync's -z does not reach).
  static Result<ServeConnection> open(const Preset& preset, bool compress_link = false);
  // The same to another host of the preset's (`where`): the source host of `pull = btrfs-send`.
  static Result<ServeConnection> open_at(const Preset& preset, const RemoteLocation& where, bool compress_link = false);

  ServeConnection(ServeConnection&&) noexcept = default;
  ServeConnection& operator=(ServeConnection&&) noexcept = default;
  ~ServeConnection();

  Status send(const nlohmann::json& message);
  // The next message; an "error" message becomes its Error (kind kept: locked is exit 3, ...), and a
  // broken connection the error ssh's exit explains.
  Result<nlohmann::json> receive();
  // Sends a request and returns the fields of its "result".
  Result<nlohmann::json> call(const nlohmann::json& request);
  // "nas": how messages name the other end.
  const std::string& peer() const { return m_peer; }
  // Whether serve runs with --append-only.
  bool append_only() const { return m_append_only; }

  // A data connection, once attached: the descriptors rsync takes over (to ssh, from ssh).
  int to_fd() const { return m_to.get(); }
  int from_fd() const { return m_from.get(); }
  pid_t ssh_pid() const { return m_ssh.pid(); }
  // Closes our ends (rsync holds its own copies) and waits for ssh to end.
  ProcessResult close_and_wait();
  // Tells serve we are gone (it sees end of file and stops), from any thread.
  void hang_up();

 private:
  ServeConnection() = default;
  // The error for a connection that broke: ssh's own failure if it had one, else `broken`.
  Error failure(Error broken);

  const Preset* m_preset = nullptr;
  RemoteLocation m_where;
  RunningProcess m_ssh;
  pid_t m_ssh_pid = -1;  // for hang_up from another thread
  Fd m_to;
  Fd m_from;
  std::string m_peer;
  bool m_append_only = false;
};

// A request for `preset` of type `type` with `fields` added.
nlohmann::json remote_request(const Preset& preset, std::string_view type, nlohmann::json fields = {});

Result<RemoteListing> remote_list(const Preset& preset);
Result<UsageReport> remote_usage(const Preset& preset);
Result<RemoteCheck> remote_check(const Preset& preset);
Result<std::vector<PruneEntry>> remote_prune(const Preset& preset, const PruneOptions& options);
// The report and the backend the server used.
Result<std::pair<ScrubReport, std::string>> remote_scrub(const Preset& preset, const ScrubOptions& options);
// `report` made on the server from its drive and history log, written into `entry` as
// gather_report writes a local one (options.now is the server's clock).
Status remote_report(const Preset& preset, const ReportOptions& options, nlohmann::json& entry);

// `versions` of `rel` (a path inside the snapshots), read by the server from its manifests.
Result<VersionsReport> remote_versions(const Preset& preset, const std::string& rel);

// `diff` run by the server on its manifests: the changes are handed to `sink` as they arrive.
Result<DiffSummary> remote_diff(const Preset& preset, const DiffRequest& request, DiffSink& sink);

// Restores from a remote destination into a local folder (prepare_restore_target's checks here):
// serve's rsync sends, this machine's rsync --server receives.
Result<RestoreOutcome> remote_restore(const Preset& preset, const RestoreRequest& request);

// A push backup: the source is checked here, serve makes the snapshot there (checks, lock, id,
// rename, latest, manifest, prune) while this machine's rsync --server --sender sends the source, or,
// for a source subvolume going to a btrfs drive, `sender` sends its snapshots with btrfs send.
Result<BackupRun> remote_backup(const Preset& preset, const BackupOptions& options, SubvolumeSender* sender = nullptr);

}  // namespace snapkeep
