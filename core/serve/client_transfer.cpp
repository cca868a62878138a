// The client's end of transfers through snapkeep serve (docs/remote.md): push backups and restores
// from a remote destination. serve's rsync runs the transfer there; this machine's rsync runs as its
// server end (rsync --server, argv built here from the same settings) on a second ssh connection
// that serve's relay takes over.

#include <condition_variable>
#include <csignal>
#include <fstream>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/base/fsutil.hpp"
#include "core/base/signals.hpp"
#include "core/remote/frame.hpp"
#include "core/serve/client.hpp"
#include "core/store/preset_checks.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep {
namespace {

using nlohmann::json;

constexpr std::size_t k_max_server_args = 64;
// How long after a finished transfer to wait for the session's result before attaching again (a
// second transfer in one session is rare: rsync run again after a hard-link limit).
constexpr auto k_reattach_pause = std::chrono::seconds(1);

// The server argv serve's rsync asked the relay for, checked to be plain words.
Result<std::vector<std::string>> server_args_of(const json& attached) {
  const auto args = attached.find("server_args");
  if (args == attached.end() || !args->is_array() || args->size() > k_max_server_args) {
    return runtime_error("serve's relay answered without rsync's arguments");
  }
  std::vector<std::string> out;
  for (const auto& arg : *args) {
    if (!arg.is_string()) {
      return runtime_error("serve's relay sent a malformed rsync argument");
    }
    const std::string text = arg.get<std::string>();
    for (char c : text) {
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
        return runtime_error("serve's relay sent an rsync argument with a control character");
      }
    }
    out.push_back(text);
  }
  return out;
}

std::string joined(const std::set<std::string>& options) {
  std::string out;
  for (const auto& o : options) {
    out += (out.empty() ? "" : " ") + o;
  }
  return out;
}

// The transfers of one session, each on a second ssh connection, on a thread of their own while
// the first connection waits for the session's result.
class TransferWorker {
 public:
  TransferWorker(const Preset& preset, RsyncServerRole role, SubvolumeSender* sender, std::string session,
                 std::string token, ServeConnection& control)
      : m_preset(preset),
        m_role(std::move(role)),
        m_sender(sender),
        m_session(std::move(session)),
        m_token(std::move(token)),
        m_control(control) {
    m_thread = std::thread([this] { run(); });
  }
  ~TransferWorker() { finish(); }

  // The session's result came: attach no more (an attach still waiting is ended).
  void finish() {
    {
      std::lock_guard lock(m_mutex);
      m_stop = true;
      if (m_attaching > 0) {
        ::kill(m_attaching, SIGTERM);
      }
    }
    m_cv.notify_all();
    if (m_thread.joinable()) {
      m_thread.join();
    }
  }
  // The first failure of a transfer on this side, if one failed (after finish()).
  const std::optional<Error>& error() const { return m_error; }

 private:
  void run() {
    for (;;) {
      auto done = transfer_once();
      if (!done) {
        m_error = std::move(done).error();
        m_control.hang_up();  // serve stops waiting for data that will not come
        return;
      }
      std::unique_lock lock(m_mutex);
      if (!*done || m_cv.wait_for(lock, k_reattach_pause, [this] { return m_stop; })) {
        return;
      }
    }
  }

  bool stopping() {
    std::lock_guard lock(m_mutex);
    return m_stop;
  }

  // One transfer: false when stopped before it began.
  Result<bool> transfer_once() {
    // A btrfs stream is not compressed by rsync: ssh does it (compress = yes).
    SNAPKEEP_TRY_ASSIGN(ServeConnection data,
                        ServeConnection::open(m_preset, m_sender != nullptr && m_preset.remote.compress));
    {
      std::lock_guard lock(m_mutex);
      if (m_stop) {
        return false;
      }
      m_attaching = data.ssh_pid();
    }
    SNAPKEEP_TRY(data.send({{"type", "attach"}, {"session", m_session}, {"token", m_token}}));
    auto attached = data.receive();
    {
      std::lock_guard lock(m_mutex);
      m_attaching = -1;
    }
    if (!attached) {
      if (stopping()) {
        return false;
      }
      return std::move(attached).error();
    }
    if (message_type(*attached) != "attached") {
      return runtime_error(data.peer() + " answered an attach with '" + message_type(*attached) + "'");
    }
    SNAPKEEP_TRY_ASSIGN(std::vector<std::string> theirs, server_args_of(*attached));
    if (!theirs.empty() && theirs.front() == "btrfs-send") {
      return send_subvolume(data, theirs);
    }
    RsyncServerRole role = m_role;
    role.capabilities.clear();
    for (char c : rsync_server_capabilities(theirs)) {
      if (std::isalpha(static_cast<unsigned char>(c)) != 0) {
        role.capabilities += c;  // only letters: what the other rsync offers, never an option
      }
    }
    const auto asked = rsync_server_options(theirs);
    if (role.sender) {
      // How the server's backend writes (a btrfs working copy: in place, holes only in new copies)
      // is its choice; either way this end only reads the source.
      role.in_place = asked.count("--inplace") > 0;
      role.sparse = asked.count("-S") > 0;
    }
    const std::vector<std::string> ours = rsync_server_argv(role);
    const auto wanted = rsync_server_options(std::vector<std::string>(ours.begin() + 1, ours.end()));
    if (wanted != asked) {
      return runtime_error("rsync on " + data.peer() + " asks for other options than this snapkeep sends (" +
                           joined(asked) + " instead of " + joined(wanted) +
                           "); are rsync and snapkeep the same versions on both hosts?");
    }
    SNAPKEEP_TRY_ASSIGN(RunningProcess rsync, start_process(ours, data.from_fd(), data.to_fd()));
    const ProcessResult ssh_ended = data.close_and_wait();
    const ProcessResult rsync_ended = rsync.wait();
    if (!rsync_ended.succeeded() && stop_signal() == 0) {
      return runtime_error("rsync on this machine (the " + std::string(m_role.sender ? "sending" : "receiving") +
                           " end) failed: " + describe_failure("rsync", rsync_ended) +
                           (ssh_ended.stderr_tail.empty() ? "" : "\n(ssh: " + ssh_ended.stderr_tail + ")"));
    }
    return true;
  }

  // serve's btrfs receive asked for "btrfs-send ID UUID...": a snapshot of the source subvolume,
  // incrementally from a source snapshot whose copy there has one of those received uuids.
  Result<bool> send_subvolume(ServeConnection& data, const std::vector<std::string>& theirs) {
    if (m_sender == nullptr || !m_role.sender) {
      return runtime_error(data.peer() + " asked for a btrfs stream, but this run offered none");
    }
    if (theirs.size() < 2 || !parse_snapshot_id(theirs[1])) {
      return runtime_error(data.peer() + " asked for a btrfs stream without a snapshot id");
    }
    std::set<std::string> received;
    for (std::size_t i = 2; i < theirs.size(); ++i) {
      if (!is_uuid_text(theirs[i])) {
        return runtime_error(data.peer() + " named a parent that is not a uuid: " + theirs[i]);
      }
      received.insert(theirs[i]);
    }
    SNAPKEEP_TRY_ASSIGN(SubvolumeSend send, m_sender->prepare(m_preset, theirs[1], received, std::set<std::string>{}));
    if (send.parent.empty()) {
      spdlog::info("{}: full send to {} (no snapshot pair at both ends yet)", m_preset.name, data.peer());
    } else {
      spdlog::info("{}: incremental send to {}, parent {}", m_preset.name, data.peer(), send.parent);
    }
    std::uint64_t sent = 0;
    std::optional<std::uint64_t> rate;
    if (m_preset.remote.bwlimit_kib) {
      rate = *m_preset.remote.bwlimit_kib * 1024;
    }
    auto streamed = m_sender->stream(send, data.to_fd(), rate, sent);
    const ProcessResult ssh_ended = data.close_and_wait();
    if (!streamed) {
      return std::move(streamed).error();
    }
    if (!streamed->succeeded() && stop_signal() == 0) {
      return runtime_error("btrfs send on this machine failed: " + describe_failure("btrfs send", *streamed) +
                           (ssh_ended.stderr_tail.empty() ? "" : "\n(ssh: " + ssh_ended.stderr_tail + ")"));
    }
    return true;
  }

  const Preset& m_preset;
  RsyncServerRole m_role;
  SubvolumeSender* m_sender = nullptr;
  std::string m_session;
  std::string m_token;
  ServeConnection& m_control;
  std::mutex m_mutex;
  std::condition_variable m_cv;
  bool m_stop = false;
  pid_t m_attaching = -1;
  std::optional<Error> m_error;
  std::thread m_thread;  // last: started once everything above is ready
};

// Sends `request` and answers "transfer" messages with a worker until the result: its fields, or
// the error (serve's, with this side's failure added when there was one).
Result<json> run_session(const Preset& preset, ServeConnection& connection, const json& request,
                         const RsyncServerRole& role, SubvolumeSender* sender = nullptr) {
  SNAPKEEP_TRY(connection.send(request));
  std::unique_ptr<TransferWorker> worker;
  Result<json> answer = runtime_error("no answer");
  for (;;) {
    answer = connection.receive();
    if (!answer || message_type(*answer) == "result") {
      break;
    }
    if (message_type(*answer) == "transfer" && !worker) {
      const auto text = [&](const char* key) {
        const auto it = answer->find(key);
        return it != answer->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      worker = std::make_unique<TransferWorker>(preset, role, sender, text("session"), text("token"), connection);
    }
  }
  if (worker) {
    worker->finish();
    if (worker->error()) {
      Error e = *worker->error();
      if (!answer) {
        e.message += "\n(" + answer.error().message + ")";
      }
      return e;
    }
  }
  return answer;
}

}  // namespace

Result<BackupRun> remote_backup(const Preset& preset, const BackupOptions& options, SubvolumeSender* sender) {
  SNAPKEEP_TRY(check_source(preset));
  SNAPKEEP_TRY(check_tool(preset, "rsync"));
  // A source subvolume can be sent with btrfs send, if the server's drive is btrfs too (it asks).
  bool subvolume = false;
  if (sender != nullptr) {
    auto is = sender->is_subvolume(preset.source);
    subvolume = is && *is;
  }
  if (subvolume && (!preset.exclude.empty() || preset.exclude_from || preset.one_file_system)) {
    spdlog::warn(
        "{}: exclude, exclude_from and one_file_system do not apply if the server's drive is btrfs: the whole "
        "subvolume is sent then (use a plain folder as the source to filter)",
        preset.name);
  }
  std::vector<std::string> exclude_lines;
  if (preset.exclude_from) {
    std::ifstream in(*preset.exclude_from);
    if (!in) {
      return sys_error("cannot read exclude_from", *preset.exclude_from).in(preset.name);
    }
    for (std::string line; std::getline(in, line);) {
      exclude_lines.push_back(line);
    }
  }
  json request = remote_request(
      preset, "backup",
      {{"dry_run", options.dry_run}, {"wait", options.wait_for_lock}, {"switch_backend", options.switch_backend}});
  request["preset"]["exclude_from_lines"] = exclude_lines;
  request["source_subvolume"] = subvolume;
  RsyncServerRole role;
  role.sender = true;
  role.dry_run = options.dry_run;
  role.one_file_system = preset.one_file_system;
  role.compress = preset.remote.compress;
  role.bwlimit_kib = preset.remote.bwlimit_kib;
  role.path = preset.source;
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  // Monitoring's /start ping and before_backup (core/ops/monitored_run): the server is reached, and
  // nothing is copied yet.
  if (options.before_copy && !options.dry_run) {
    SNAPKEEP_TRY(options.before_copy());
  }
  spdlog::info("{}: backing up {} -> {}:{}", preset.name, preset.source.string(), connection.peer(),
               preset.preset_dir().string());
  SNAPKEEP_TRY_ASSIGN(json answer, run_session(preset, connection, request, role, subvolume ? sender : nullptr));
  return backup_run_from_json(answer);
}

Result<RestoreOutcome> remote_restore(const Preset& preset, const RestoreRequest& request) {
  SNAPKEEP_TRY_ASSIGN(std::filesystem::path target, prepare_restore_target(preset, request.target, request.force));
  std::string inside = request.inside.string();
  while (!inside.empty() && inside.front() == '/') {
    inside.erase(0, 1);  // a path inside the snapshot, as the user may write it locally
  }
  RsyncServerRole role;
  role.exact_mtimes = keeps_nanosecond_mtimes(target);
  role.compress = preset.remote.compress;
  role.bwlimit_kib = preset.remote.bwlimit_kib;
  role.path = target;
  json fields{{"snapshot", request.snapshot}, {"inside", inside}, {"exact_mtimes", role.exact_mtimes}};
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer, run_session(preset, connection, remote_request(preset, "restore", fields), role));
  return restore_outcome_from_json(answer);
}

}  // namespace snapkeep
