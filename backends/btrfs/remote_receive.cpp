#include "backends/btrfs/remote_receive.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <set>

#include <spdlog/spdlog.h>

#include "backends/btrfs/btrfs_backend.hpp"
#include "backends/btrfs/parent_pins.hpp"
#include "backends/btrfs/snapshot_remake.hpp"
#include "core/base/fsutil.hpp"
#include "core/base/progress.hpp"
#include "core/base/signals.hpp"
#include "core/config/units.hpp"
#include "core/remote/frame.hpp"
#include "core/remote/ssh_errors.hpp"
#include "core/remote/stream_copy.hpp"
#include "core/serve/client.hpp"
#include "core/store/damage.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

using nlohmann::json;

// The other end is offered at most this many parents (the newest copies): the relay's argv and the
// request stay small.
constexpr std::size_t k_max_offered_parents = 16;
// The host name serve's relay is started for (the relay skips it, as it skips rsync's).
constexpr std::string_view k_client_host = "snapkeep-client";

// What a killed run left in the preset folder: its receive cannot be checked against a source
// here, so it goes (the next send carries it again), with what a killed scrub --repair left.
Status remove_unfinished_receives(const BackupJob& job) {
  std::error_code ec;
  std::vector<fs::path> leftovers;
  for (const auto& entry : fs::directory_iterator(job.preset_dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(k_incoming_prefix, 0) == 0 || name.rfind(k_remake_prefix, 0) == 0) {
      leftovers.push_back(entry.path());
    }
  }
  for (const auto& path : leftovers) {
    spdlog::info("{}: removing {}, left by an interrupted run", job.preset->name, path.string());
    SNAPKEEP_TRY(btrfs::delete_subvolume(path));
  }
  return {};
}

// The received uuids of the preset's complete snapshots, newest first: the copies the sending end
// may send incrementally against. Snapshots scrub recorded damaged are left out (known damage never
// spreads: an incremental receive shares every unchanged extent of its parent).
Result<std::vector<std::string>> offered_parents(const BackupJob& job, std::vector<std::string>& warnings) {
  SNAPKEEP_TRY_ASSIGN(DamageRecord damage, read_damage_record(job.state_dir));
  std::vector<std::string> out;
  for (auto it = job.snapshots.rbegin(); it != job.snapshots.rend() && out.size() < k_max_offered_parents; ++it) {
    auto info = btrfs::subvolume_info(it->path);
    if (!info || !info->read_only || btrfs::is_null(info->received_uuid)) {
      continue;
    }
    if (damage.snapshot_damaged(it->id)) {
      if (out.empty()) {
        warnings.push_back("the snapshot " + it->id + " is not offered as a parent: scrub recorded damage in it (" +
                           describe_damage(damage, it->id) + "), and the new snapshot would share its damaged data");
      }
      continue;
    }
    out.push_back(btrfs::uuid_text(info->received_uuid));
  }
  return out;
}

// The id of the preset's snapshot whose uuid is `uuid` (what an incremental receive snapshotted).
std::string snapshot_with_uuid(const BackupJob& job, const btrfs::Uuid& uuid) {
  if (btrfs::is_null(uuid)) {
    return {};
  }
  for (const auto& snapshot : job.snapshots) {
    auto info = btrfs::subvolume_info(snapshot.path);
    if (info && info->uuid == uuid) {
      return snapshot.id;
    }
  }
  return {};
}

// Names in a folder.
std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    out.insert(entry.path().filename().string());
  }
  return out;
}

// `btrfs receive` of one subvolume into the preset folder: it stops at the stream's first END (a
// second subvolume in the stream is not received), confined to the folder by chroot.
std::vector<std::string> receive_argv(const BackupJob& job) {
  return {"btrfs", "receive", "-e", "-C", "--", job.preset_dir.string()};
}

// Deletes what a receive made under another name than `expected` (a stream names its subvolume
// itself): anything new in the preset folder since `before`.
void remove_strays(const BackupJob& job, const std::set<std::string>& before, const std::string& expected) {
  for (const auto& name : names_in(job.preset_dir)) {
    if (before.count(name) == 0 && name != expected) {
      const fs::path stray = job.preset_dir / name;
      auto subvolume = btrfs::is_subvolume(stray);
      spdlog::warn("{}: removing {}, which the stream made instead of {}", job.preset->name, stray.string(), expected);
      if (subvolume && *subvolume) {
        if (auto deleted = btrfs::delete_subvolume(stray); !deleted) {
          spdlog::warn("{}: {}", job.preset->name, deleted.error().describe());
        }
      }
    }
  }
}

// Why a client's stream cannot be kept although btrfs receive took it: not read whole, another
// subvolume than asked for, or data taken from a subvolume that is not one of the preset's own
// snapshots (btrfs receive finds clone sources anywhere on the filesystem by received uuid: a
// client could copy another preset's files into its own snapshot, then restore them). "" if none.
std::string stream_refusal(const btrfs::SendStreamChanges& stream, const std::string& expected,
                           const std::vector<std::string>& parents) {
  if (!stream.well_formed()) {
    return "its stream could not be read whole: " + stream.failure();
  }
  if (stream.subvolume_name() != expected) {
    return "its stream makes the subvolume '" + stream.subvolume_name().substr(0, 100) + "', not " + expected;
  }
  for (const auto& uuid : stream.referenced_uuids()) {
    if (uuid != stream.subvolume_uuid() && std::find(parents.begin(), parents.end(), uuid) == parents.end()) {
      return "its stream takes data from the subvolume " + uuid + ", which is not one of this preset's snapshots";
    }
  }
  return {};
}

// Deletes a receive that did not complete.
void discard(const fs::path& incoming) {
  std::error_code ec;
  if (fs::exists(fs::symlink_status(incoming, ec))) {
    if (auto removed = btrfs::delete_subvolume(incoming); !removed) {
      spdlog::warn("{}", removed.error().describe());
    }
  }
}

// Puts a completed receive in place under its id, durably.
Status keep_receive(const BackupJob& job, const fs::path& incoming) {
  SNAPKEEP_TRY(sync_filesystem(incoming));
  SNAPKEEP_TRY(rename_path(incoming, job.preset_dir / job.id));
  return fsync_dir(job.preset_dir);
}

// The request that asks the source host to send (or, probing, whether it would).
json send_request(const Preset& preset, const std::string& id) {
  return {{"type", "send"}, {"name", preset.name}, {"source", preset.source.string()}, {"id", id}};
}

BackupStats dry_run_stats(const Preset& preset, std::string_view where) {
  BackupStats stats;
  stats.warnings.push_back("a dry run of a btrfs send copies and lists nothing: " + std::string(where) +
                           " sends the whole subvolume of " + preset.source.string() +
                           ", incrementally when a parent is at both ends");
  return stats;
}

}  // namespace

std::optional<TreeChanges> changes_from_parent(const Preset& preset,
                                               const std::optional<btrfs::SendStreamChanges>& stream,
                                               const fs::path& received, const std::string& parent_id) {
  if (!stream || parent_id.empty()) {
    return std::nullopt;
  }
  if (!stream->usable()) {
    spdlog::info("{}: the manifest is written in full: {}", preset.name, stream->failure());
    return std::nullopt;
  }
  const fs::path parent_copy = received.parent_path() / parent_id;
  auto made = btrfs::subvolume_info(received);
  auto from = btrfs::subvolume_info(parent_copy);
  if (!made || !from || made->parent_uuid != from->uuid) {
    spdlog::info("{}: the manifest is written in full: {} was not received as a snapshot of {}", preset.name,
                 received.string(), parent_copy.string());
    return std::nullopt;
  }
  return stream->changes(parent_id);
}

Result<BackupStats> receive_from_client(const BackupJob& job) {
  const Preset& preset = *job.preset;
  if (job.dry_run) {
    return dry_run_stats(preset, "the client");
  }
  if (preset.remote.relay.argv.empty()) {
    return runtime_error("internal error: no relay to the client").in(preset.name);
  }
  SNAPKEEP_TRY(remove_unfinished_receives(job));
  std::vector<std::string> warnings;
  SNAPKEEP_TRY_ASSIGN(std::vector<std::string> parents, offered_parents(job, warnings));
  // The relay hands the client "btrfs-send ID UUID...": send snapshot ID, incrementally from a source
  // snapshot whose copy here has one of these received uuids.
  std::vector<std::string> relay = preset.remote.relay.argv;
  relay.emplace_back(k_client_host);
  relay.emplace_back("btrfs");
  relay.emplace_back("btrfs-send");
  relay.push_back(job.id);
  relay.insert(relay.end(), parents.begin(), parents.end());
  const std::set<std::string> before = names_in(job.preset_dir);
  std::optional<btrfs::SendStreamChanges> stream(std::in_place);
  auto piped = run_pipeline(
      relay, receive_argv(job),
      [&](std::uint64_t bytes) {
        job.progress->update(format_bytes(bytes) + " received", {0, bytes});
      },
      [&](std::string_view bytes) { stream->feed(bytes); }, preset.remote.relay.env);
  job.progress->finish();
  const fs::path incoming = job.preset_dir / incoming_name(job.id);
  remove_strays(job, before, incoming.filename().string());
  if (piped && piped->second.succeeded()) {
    if (const std::string why = stream_refusal(*stream, incoming.filename().string(), parents); !why.empty()) {
      discard(incoming);
      return config_error("refused what the client sent: " + why + "; nothing was kept").in(preset.name);
    }
  }
  if (!piped || !piped->succeeded()) {
    discard(incoming);
    if (!piped) {
      return std::move(piped).error();
    }
    std::string why;
    if (!piped->first.succeeded()) {
      why += "the client's stream did not arrive whole (" + piped->first.status_text() +
             (piped->first.stderr_tail.empty() ? "" : ": " + piped->first.stderr_tail) + ")";
    }
    if (!piped->second.succeeded()) {
      why += (why.empty() ? "" : "; ") + describe_failure("btrfs receive", piped->second);
    }
    Error e = runtime_error("backup failed: " + why).in(preset.name);
    e.full = reports_full_filesystem(piped->second.stderr_tail);
    return e;
  }
  auto made = btrfs::subvolume_info(incoming);
  if (!made || !made->read_only || btrfs::is_null(made->received_uuid)) {
    discard(incoming);
    return runtime_error("btrfs receive finished but " + incoming.string() +
                         " is not a complete received snapshot (read-only, with a received uuid); nothing was kept")
        .in(preset.name);
  }
  SNAPKEEP_TRY(keep_receive(job, incoming));
  BackupStats stats;
  stats.bytes_transferred = piped->bytes;
  stats.counts_from_manifest = true;
  stats.changes =
      changes_from_parent(preset, stream, job.preset_dir / job.id, snapshot_with_uuid(job, made->parent_uuid));
  stats.warnings = std::move(warnings);
  return stats;
}

Status probe_source(const Preset& preset) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open_at(preset, *preset.remote_source));
  json request = send_request(preset, "2000-01-01_00-00-00");
  request["probe"] = true;
  auto answer = connection.call(request);
  if (!answer) {
    return std::move(answer).error().in(preset.name);
  }
  return {};
}

Result<BackupStats> pull_from_source(const BackupJob& job) {
  const Preset& preset = *job.preset;
  const RemoteLocation& where = *preset.remote_source;
  if (job.dry_run) {
    SNAPKEEP_TRY(probe_source(preset));
    return dry_run_stats(preset, where.bracketed_host());
  }
  SNAPKEEP_TRY(remove_unfinished_receives(job));
  std::vector<std::string> warnings;
  SNAPKEEP_TRY_ASSIGN(std::vector<std::string> parents, offered_parents(job, warnings));
  const std::string drive = btrfs_backup_drive(job);
  // Source snapshots other drives keep as their parents (rotating drives); unknown: delete none.
  const auto pinned = pinned_source_uuids(preset, drive, std::time(nullptr), warnings);
  json request = send_request(preset, job.id);
  request["received"] = parents;
  request["pinned"] = nullptr;
  if (pinned) {
    request["pinned"] = std::vector<std::string>(pinned->begin(), pinned->end());
  }
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open_at(preset, where, preset.remote.compress));
  SNAPKEEP_TRY(connection.send(request));
  SNAPKEEP_TRY_ASSIGN(json announced, connection.receive());
  const std::string uuid = announced.value("uuid", std::string());
  const std::string parent = announced.value("parent", std::string());
  if (message_type(announced) != "stream" || !is_uuid_text(uuid) || (!parent.empty() && !parse_snapshot_id(parent))) {
    return runtime_error("snapkeep serve on " + connection.peer() + " answered a send with " +
                         announced.dump().substr(0, 200))
        .in(preset.name);
  }
  if (parent.empty()) {
    spdlog::info("{}: full send from {} (no snapshot pair at both ends yet)", preset.name, connection.peer());
  } else {
    spdlog::info("{}: incremental send from {}, parent {}", preset.name, connection.peer(), parent);
  }

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return sys_error("cannot make a pipe", {});
  }
  Fd to_receive(pipe_fds[1]);
  Fd receive_in(pipe_fds[0]);
  Fd null(::open("/dev/null", O_WRONLY | O_CLOEXEC));
  const std::set<std::string> before = names_in(job.preset_dir);
  SNAPKEEP_TRY_ASSIGN(RunningProcess receive, start_process(receive_argv(job), receive_in.get(), null.get()));
  receive_in.reset();
  std::optional<btrfs::SendStreamChanges> stream(std::in_place);
  std::optional<std::uint64_t> rate;
  if (preset.remote.bwlimit_kib) {
    rate = *preset.remote.bwlimit_kib * 1024;
  }
  std::uint64_t seen = 0;
  const StreamCopy copied = copy_stream(connection.from_fd(), to_receive.get(), rate, [&](std::string_view piece) {
    stream->feed(piece);
    seen += piece.size();
    job.progress->update(format_bytes(seen) + " received", {0, seen});
  });
  const std::uint64_t bytes = copied.bytes;
  job.progress->finish();
  to_receive.reset();
  const ProcessResult received = receive.wait();
  const ProcessResult ssh = connection.close_and_wait();
  const fs::path incoming = job.preset_dir / incoming_name(job.id);
  remove_strays(job, before, incoming.filename().string());
  if (!ssh.succeeded() || !received.succeeded() || stop_signal() != 0) {
    discard(incoming);
    std::string why;
    if (!ssh.succeeded()) {
      why = ssh_failure_error(where, preset.remote, ssh, "snapkeep serve").message;
    }
    if (!received.succeeded()) {
      why += (why.empty() ? "" : "; ") + describe_failure("btrfs receive", received);
    }
    Error e = runtime_error("backup failed: " + (why.empty() ? std::string("interrupted") : why)).in(preset.name);
    e.full = reports_full_filesystem(received.stderr_tail);
    return e;
  }
  auto made = btrfs::subvolume_info(incoming);
  if (!made || !made->read_only || btrfs::uuid_text(made->received_uuid) != uuid) {
    discard(incoming);
    return runtime_error("btrfs receive finished but " + incoming.string() + " is not a complete copy of " +
                         connection.peer() + "'s snapshot " + uuid + "; nothing was kept")
        .in(preset.name);
  }
  SNAPKEEP_TRY(keep_receive(job, incoming));
  BackupStats stats;
  stats.bytes_transferred = bytes;
  stats.counts_from_manifest = true;
  stats.changes = changes_from_parent(preset, stream, job.preset_dir / job.id, parent);
  record_parent_pair(preset, drive, job.id, uuid, warnings);
  stats.warnings = std::move(warnings);
  return stats;
}

}  // namespace snapkeep
