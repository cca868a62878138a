#include "core/serve/client.hpp"

#include <fcntl.h>

#include <unistd.h>
#include <csignal>

#include <spdlog/spdlog.h>

#include "core/history/diff_wire.hpp"
#include "core/remote/frame.hpp"
#include "core/remote/ssh_command.hpp"
#include "core/remote/ssh_errors.hpp"

namespace snapkeep {
namespace {

using nlohmann::json;

// A pipe with close-on-exec ends.
Status make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return sys_error("cannot make a pipe", {});
  }
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return {};
}

}  // namespace

Result<ServeConnection> ServeConnection::open(const Preset& preset, bool compress_link) {
  if (!preset.remote_destination) {
    return runtime_error("internal error: " + preset.name + " has no remote destination");
  }
  return open_at(preset, *preset.remote_destination, compress_link);
}

Result<ServeConnection> ServeConnection::open_at(const Preset& preset, const RemoteLocation& where,
                                                 bool compress_link) {
  ServeConnection connection;
  connection.m_preset = &preset;
  connection.m_where = where;
  connection.m_peer = where.bracketed_host();
  Fd ssh_in;
  Fd ssh_out;
  SNAPKEEP_TRY(make_pipe(ssh_in, connection.m_to));
  SNAPKEEP_TRY(make_pipe(connection.m_from, ssh_out));
  std::vector<std::string> argv = ssh_command_argv(where, preset.remote, preset.remote.remote_command);
  if (compress_link) {
    argv.insert(argv.begin() + 1, {"-o", "Compression=yes"});
  }
  SNAPKEEP_TRY_ASSIGN(connection.m_ssh, start_process(argv, ssh_in.get(), ssh_out.get()));
  connection.m_ssh_pid = connection.m_ssh.pid();
  ssh_in.reset();
  ssh_out.reset();
  SNAPKEEP_TRY(connection.send({{"type", "hello"}, {"version", k_protocol_version}}));
  SNAPKEEP_TRY_ASSIGN(json hello, connection.receive());
  if (message_type(hello) != "hello" || !hello.contains("version") || !hello["version"].is_number_integer() ||
      hello["version"].get<int>() != k_protocol_version) {
    return runtime_error(connection.m_peer + " answered with another protocol version (" + hello.dump() +
                         "); install the same snapkeep version on both hosts");
  }
  const auto append_only = hello.find("append_only");
  connection.m_append_only = append_only != hello.end() && append_only->is_boolean() && append_only->get<bool>();
  return connection;
}

ServeConnection::~ServeConnection() {
  m_to.reset();
  m_from.reset();
  if (m_ssh.pid() > 0) {
    m_ssh.wait();
  }
}

ProcessResult ServeConnection::close_and_wait() {
  m_to.reset();
  m_from.reset();
  return m_ssh.wait();
}

void ServeConnection::hang_up() {
  // ssh ends, its connection closes, serve sees end of file and stops; our reader sees end of file.
  if (m_ssh_pid > 0) {
    ::kill(m_ssh_pid, SIGTERM);
  }
}

Error ServeConnection::failure(Error broken) {
  m_to.reset();
  m_from.reset();
  const ProcessResult ended = m_ssh.wait();
  if (m_preset != nullptr && !ended.succeeded()) {
    return ssh_failure_error(m_where, m_preset->remote, ended, "snapkeep serve");
  }
  if (!ended.stderr_tail.empty()) {
    broken.message += "; the remote's stderr ends with:\n" + ended.stderr_tail;
  }
  return broken;
}

Status ServeConnection::send(const json& message) {
  if (!m_to) {
    return runtime_error("the connection to " + m_peer + " is closed");
  }
  if (auto sent = write_message(m_to.get(), message); !sent) {
    return failure(std::move(sent).error());
  }
  return {};
}

Result<json> ServeConnection::receive() {
  if (!m_from) {
    return runtime_error("the connection to " + m_peer + " is closed");
  }
  auto message = read_message(m_from.get(), "snapkeep serve on " + m_peer);
  if (!message) {
    return failure(std::move(message).error());
  }
  if (message_type(*message) == "error") {
    return error_from_message(*message, m_peer);
  }
  return message;
}

Result<json> ServeConnection::call(const json& request) {
  SNAPKEEP_TRY(send(request));
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(json message, receive());
    if (message_type(message) == "result") {
      return message;
    }
    spdlog::debug("{}: ignoring a '{}' message", m_peer, message_type(message));
  }
}

json remote_request(const Preset& preset, std::string_view type, json fields) {
  json request = fields.is_object() ? std::move(fields) : json::object();
  request["type"] = std::string(type);
  request["preset"] = preset_to_json(preset);
  return request;
}

Result<RemoteListing> remote_list(const Preset& preset) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer, connection.call(remote_request(preset, "list")));
  return listing_from_json(answer);
}

Result<UsageReport> remote_usage(const Preset& preset) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer, connection.call(remote_request(preset, "du")));
  return usage_from_json(answer);
}

Result<RemoteCheck> remote_check(const Preset& preset) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer, connection.call(remote_request(preset, "check")));
  return check_from_json(answer);
}

Result<std::vector<PruneEntry>> remote_prune(const Preset& preset, const PruneOptions& options) {
  json fields{{"dry_run", options.dry_run}, {"wait", options.wait_for_lock}};
  if (options.free) {
    fields["free"] = {
        {"is_percent", options.free->is_percent}, {"bytes", options.free->bytes}, {"percent", options.free->percent}};
  }
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer, connection.call(remote_request(preset, "prune", fields)));
  return prune_entries_from_json(answer);
}

Result<std::pair<ScrubReport, std::string>> remote_scrub(const Preset& preset, const ScrubOptions& options) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer,
                      connection.call(remote_request(preset, "scrub", {{"options", scrub_options_to_json(options)}})));
  SNAPKEEP_TRY_ASSIGN(ScrubReport report, scrub_report_from_json(answer));
  const auto backend = answer.find("backend");
  return std::make_pair(std::move(report),
                        backend != answer.end() && backend->is_string() ? backend->get<std::string>() : "");
}

Status remote_report(const Preset& preset, const ReportOptions& options, json& entry) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer,
                      connection.call(remote_request(preset, "report",
                                                     {{"coverage_window_seconds", options.coverage_window_seconds}})));
  answer.erase("type");
  entry.update(answer);
  entry["host"] = preset.remote_destination->host;
  return {};
}

Result<VersionsReport> remote_versions(const Preset& preset, const std::string& rel) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY_ASSIGN(json answer, connection.call(remote_request(preset, "versions", {{"path", rel}})));
  return versions_from_json(answer);
}

Result<DiffSummary> remote_diff(const Preset& preset, const DiffRequest& request, DiffSink& sink) {
  SNAPKEEP_TRY_ASSIGN(ServeConnection connection, ServeConnection::open(preset));
  SNAPKEEP_TRY(connection.send(remote_request(preset, "diff", {{"from", request.from}, {"to", request.to}})));
  for (;;) {
    SNAPKEEP_TRY_ASSIGN(json message, connection.receive());
    const std::string type = message_type(message);
    if (type == "result") {
      return diff_summary_from_json(message);
    }
    if (type != "diff") {
      return runtime_error("snapkeep serve on " + connection.peer() + " answered a diff with '" + type + "'");
    }
    SNAPKEEP_TRY(replay_diff_events(message.value("events", nlohmann::json::array()), sink));
  }
}

}  // namespace snapkeep
