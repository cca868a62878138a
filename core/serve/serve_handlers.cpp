// The request handlers of snapkeep serve: each runs the use case a local command runs, on the
// server's own destination, and answers with its result (core/serve/codec.hpp).

#include <unistd.h>

#include <ctime>
#include <set>

#include <spdlog/spdlog.h>

#include "core/backup/check.hpp"
#include "core/base/fsutil.hpp"
#include "core/config/units.hpp"
#include "core/history/diff_wire.hpp"
#include "core/history/report_data.hpp"
#include "core/history/run_records.hpp"
#include "core/history/versions.hpp"
#include "core/remote/frame.hpp"
#include "core/remote/local_socket.hpp"
#include "core/serve/codec.hpp"
#include "core/serve/serve_session.hpp"
#include "core/store/catalog.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

using nlohmann::json;

constexpr std::size_t k_session_bytes = 16;
constexpr std::size_t k_token_bytes = 32;

json result(json fields) {
  fields["type"] = "result";
  return fields;
}

bool flag(const json& request, const char* key) {
  const auto it = request.find(key);
  return it != request.end() && it->is_boolean() && it->get<bool>();
}

Error append_only_refusal(const std::string& what) {
  return config_error("refused: this key is --append-only on the server, so it cannot " + what +
                      " (retention runs there from the server's own config)");
}

// A transfer session: its secret, and the removal of exclude_from's temporary file.
struct TransferSession {
  std::string id;
  std::string token;
  fs::path exclude_file;
  ~TransferSession() {
    if (!exclude_file.empty()) {
      ::unlink(exclude_file.c_str());
    }
  }
};

// Starts a transfer: the relay serve's rsync will run, the client told how to attach to it.
Result<std::unique_ptr<TransferSession>> start_transfer(const ServeSession& session, Preset& preset,
                                                        const std::vector<std::string>& exclude_lines) {
  auto transfer = std::make_unique<TransferSession>();
  SNAPKEEP_TRY_ASSIGN(transfer->id, random_hex(k_session_bytes));
  SNAPKEEP_TRY_ASSIGN(transfer->token, random_hex(k_token_bytes));
  // The relay listens in the socket folder: a folder it cannot use fails the request here, with its
  // own message, before rsync starts.
  SNAPKEEP_TRY_ASSIGN(fs::path dir, run_dir());
  if (!exclude_lines.empty()) {
    transfer->exclude_file = dir / ("exclude-" + transfer->id);
    std::string text;
    for (const auto& line : exclude_lines) {
      text += line + "\n";
    }
    SNAPKEEP_TRY(write_file_atomic(transfer->exclude_file, text));
    preset.exclude_from = transfer->exclude_file;
  }
  preset.remote.relay.argv = {session.options->self_exe.string(), "__relay", transfer->id};
  preset.remote.relay.env = {{"SNAPKEEP_RELAY_TOKEN", transfer->token}};
  SNAPKEEP_TRY(
      write_message(session.out_fd, {{"type", "transfer"}, {"session", transfer->id}, {"token", transfer->token}}));
  return transfer;
}

Result<json> handle_list(const Preset& preset, const ServeEnvironment& env) {
  SNAPKEEP_TRY_ASSIGN(auto backend, env.backend_for(preset));
  RemoteListing listing;
  listing.backend = std::string(backend->name());
  SNAPKEEP_TRY_ASSIGN(listing.snapshots, list_snapshots(preset.preset_dir()));
  listing.interrupted = backend->interrupted_work(preset.preset_dir());
  return listing_to_json(listing);
}

Result<json> handle_du(const Preset& preset, const ServeEnvironment& env) {
  SNAPKEEP_TRY_ASSIGN(auto backend, env.backend_for(preset));
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset.preset_dir()));
  SNAPKEEP_TRY_ASSIGN(UsageReport usage, backend->usage(snapshots, {}));
  return usage_to_json(usage);
}

Result<json> handle_check(const Preset& preset, const ServeEnvironment& env) {
  SNAPKEEP_TRY_ASSIGN(auto backend, env.backend_for(preset));
  RemoteCheck check;
  check.backend = std::string(backend->name());
  SNAPKEEP_TRY_ASSIGN(check.report, check_setup(preset, *backend));
  return check_to_json(check);
}

// `report` of the preset on this drive (core/history/report_data), at this host's clock.
Result<json> handle_report(const Preset& preset, const ServeEnvironment& env, const json& request) {
  ReportOptions options;
  options.now = std::time(nullptr);
  if (const auto it = request.find("coverage_window_seconds"); it != request.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0) {
      return config_error("refused: a malformed coverage window");
    }
    options.coverage_window_seconds = it->get<std::uint64_t>();
  }
  SNAPKEEP_TRY_ASSIGN(auto backend, env.backend_for(preset));
  json entry{{"name", preset.name}};
  SNAPKEEP_TRY(gather_report(preset, *backend, options, entry));
  return entry;
}

// `versions` of one path inside the snapshots (relative, no `..`), from the manifests on this drive.
Result<json> handle_versions(const Preset& preset, const json& request) {
  const auto it = request.find("path");
  if (it == request.end() || !it->is_string()) {
    return config_error("refused: a versions request without a path");
  }
  SNAPKEEP_TRY_ASSIGN(fs::path rel, relative_client_path(it->get<std::string>()));
  SNAPKEEP_TRY_ASSIGN(VersionsReport found, find_versions(preset, rel.string()));
  return versions_to_json(found);
}

// `diff` of two snapshots on this drive: the changes go out in "diff" messages as run_diff finds
// them (core/history/diff_wire), the counts in the result.
Result<json> handle_diff(const ServeSession& session, const Preset& preset, const json& request) {
  DiffRequest diff;
  for (auto [key, into] : {std::pair{"from", &diff.from}, std::pair{"to", &diff.to}}) {
    const auto it = request.find(key);
    if (it == request.end() || !it->is_string()) {
      return config_error(std::string("refused: a diff request without '") + key + "'");
    }
    *into = it->get<std::string>();
    if (!into->empty() && *into != "latest" && !parse_snapshot_id(*into)) {
      return config_error("refused: '" + *into + "' is not a snapshot id");
    }
  }
  SNAPKEEP_TRY_ASSIGN(auto backend, session.environment->backend_for(preset));
  diff.sharing = backend->capabilities().content_sharing;
  DiffEventBatcher batcher([&](json events) {
    return write_message(session.out_fd, {{"type", "diff"}, {"events", std::move(events)}});
  });
  SNAPKEEP_TRY_ASSIGN(DiffSummary summary, run_diff(preset, diff, batcher));
  SNAPKEEP_TRY(batcher.finish());
  return diff_summary_to_json(summary);
}

Result<json> handle_prune(const ServeSession& session, const Preset& preset, const json& request) {
  PruneOptions options;
  options.dry_run = flag(request, "dry_run");
  options.wait_for_lock = flag(request, "wait");
  if (session.options->append_only && !options.dry_run) {
    return append_only_refusal("delete snapshots");
  }
  if (request.contains("free")) {
    SizeSpec free;
    try {
      free.is_percent = request["free"].at("is_percent").get<bool>();
      free.bytes = request["free"].at("bytes").get<std::uint64_t>();
      free.percent = request["free"].at("percent").get<double>();
    } catch (const json::exception&) {
      return config_error("refused: a malformed --free");
    }
    options.free = free;
  }
  SNAPKEEP_TRY_ASSIGN(auto backend, session.environment->backend_for(preset));
  SNAPKEEP_TRY_ASSIGN(auto entries, run_prune(preset, *backend, options));
  return prune_entries_to_json(entries);
}

// The history log on this drive (docs/history.md) records a client's runs as a local run records its
// own. It is a record, not the backup: a failure to write it is a warning (logged here, and passed
// to the client in `warnings` when there is a place for it).
void warn_unrecorded(const Preset& preset, const Status& recorded, std::vector<std::string>* warnings) {
  if (recorded) {
    return;
  }
  spdlog::warn("{}: {}", preset.name, recorded.error().describe());
  if (warnings != nullptr) {
    warnings->push_back(recorded.error().describe());
  }
}

Result<json> handle_scrub(const ServeSession& session, const Preset& preset, const json& request) {
  if (!request.contains("options")) {
    return config_error("refused: a scrub request without options");
  }
  SNAPKEEP_TRY_ASSIGN(ScrubOptions options, scrub_options_from_json(request["options"]));
  if (session.options->append_only && options.repair) {
    return append_only_refusal("rewrite files in snapshots (scrub --repair)");
  }
  SNAPKEEP_TRY_ASSIGN(auto backend, session.environment->backend_for(preset));
  SNAPKEEP_TRY_ASSIGN(ScrubReport report, run_scrub(preset, *backend, options));
  warn_unrecorded(preset, record_scrub(preset, *backend, options, report), nullptr);
  json out = scrub_report_to_json(report);
  out["backend"] = std::string(backend->name());
  return out;
}

Result<json> handle_restore(const ServeSession& session, Preset& preset, const json& request) {
  RestoreRequest restore;
  try {
    restore.snapshot = request.at("snapshot").get<std::string>();
    SNAPKEEP_TRY_ASSIGN(restore.inside, relative_client_path(request.at("inside").get<std::string>()));
  } catch (const json::exception&) {
    return config_error("refused: a malformed restore request");
  }
  restore.exact_mtimes = flag(request, "exact_mtimes");
  SNAPKEEP_TRY_ASSIGN(auto transfer, start_transfer(session, preset, {}));
  RemoteLocation client;
  client.host = "snapkeep-client";
  client.path = "/";
  restore.remote_target = rsync_remote_end(preset, client);
  SNAPKEEP_TRY_ASSIGN(RestoreOutcome outcome, restore_snapshot(preset, restore));
  return restore_outcome_to_json(outcome);
}

Result<json> handle_backup(const ServeSession& session, Preset& preset, const json& request,
                           const std::vector<std::string>& exclude_lines) {
  BackupOptions options;
  options.dry_run = flag(request, "dry_run");
  options.wait_for_lock = flag(request, "wait");
  options.switch_backend = flag(request, "switch_backend");
  SNAPKEEP_TRY_ASSIGN(auto backend, session.environment->backend_for(preset));
  SNAPKEEP_TRY_ASSIGN(auto transfer, start_transfer(session, preset, exclude_lines));
  SNAPKEEP_TRY_ASSIGN(BackupRun run, backup_preset(preset, *backend, options, nullptr));
  if (!options.dry_run) {
    warn_unrecorded(preset, record_backup(preset, *backend, run), &run.outcome.stats.warnings);
  }
  return backup_run_to_json(run);
}

// The uuids of a send request's list `key`: null (none given) or at most 64 uuids.
Result<std::optional<std::set<std::string>>> uuid_list(const json& request, const char* key) {
  const auto it = request.find(key);
  if (it == request.end() || it->is_null()) {
    return std::optional<std::set<std::string>>{};
  }
  constexpr std::size_t k_max_uuids = 64;
  if (!it->is_array() || it->size() > k_max_uuids) {
    return config_error(std::string("refused: a malformed '") + key + "' list");
  }
  std::set<std::string> out;
  for (const auto& uuid : *it) {
    if (!uuid.is_string() || !is_uuid_text(uuid.get<std::string>())) {
      return config_error(std::string("refused: '") + key + "' holds something that is not a uuid");
    }
    out.insert(uuid.get<std::string>());
  }
  return std::optional<std::set<std::string>>{std::move(out)};
}

// Checks a send request: the preset name, the source (inside the restriction, a subvolume) and the
// new snapshot's id. The preset it acts for goes to `preset`.
Status check_send(const ServeSession& session, const json& request, const SubvolumeSender& sender, Preset& preset,
                  std::string& id) {
  const auto text = [&](const char* key) -> Result<std::string> {
    const auto it = request.find(key);
    if (it == request.end() || !it->is_string()) {
      return config_error(std::string("refused: a send request without '") + key + "'");
    }
    return it->get<std::string>();
  };
  SNAPKEEP_TRY_ASSIGN(preset.name, text("name"));
  SNAPKEEP_TRY(check_preset_name(preset.name));
  SNAPKEEP_TRY_ASSIGN(std::string source, text("source"));
  SNAPKEEP_TRY_ASSIGN(preset.source, session.restriction->destination(source));
  SNAPKEEP_TRY_ASSIGN(id, text("id"));
  if (!parse_snapshot_id(id)) {
    return config_error("refused: '" + id + "' is not a snapshot id");
  }
  SNAPKEEP_TRY_ASSIGN(bool subvolume, sender.is_subvolume(preset.source));
  if (!subvolume) {
    return config_error(preset.source.string() +
                        " is not a btrfs subvolume, so it cannot be sent with btrfs send (pull = rsync copies a "
                        "folder)")
        .in(preset.name);
  }
  return {};
}

// Checks a send request and makes the new source snapshot.
Result<SubvolumeSend> prepare_send(const ServeSession& session, const json& request, SubvolumeSender& sender,
                                   Preset& preset) {
  std::string id;
  SNAPKEEP_TRY(check_send(session, request, sender, preset, id));
  SNAPKEEP_TRY_ASSIGN(auto received, uuid_list(request, "received"));
  SNAPKEEP_TRY_ASSIGN(auto pinned, uuid_list(request, "pinned"));
  return sender.prepare(preset, id, received.value_or(std::set<std::string>{}), pinned);
}

}  // namespace

int handle_send(const ServeSession& session, const json& request) {
  if (!session.environment->subvolume_sender) {
    (void)write_message(session.out_fd, error_message(runtime_error("this snapkeep cannot send subvolumes")));
    return exit_code(ExitStatus::failed);
  }
  auto sender = session.environment->subvolume_sender();
  Preset preset;
  if (flag(request, "probe")) {
    // `check` and dry runs: would a send work? Nothing is made.
    std::string id;
    auto checked = check_send(session, request, *sender, preset, id);
    (void)write_message(session.out_fd, checked ? json{{"type", "result"}, {"source", preset.source.string()}}
                                                : error_message(checked.error()));
    return checked ? exit_code(ExitStatus::ok) : exit_code(checked.error().exit_status());
  }
  auto send = prepare_send(session, request, *sender, preset);
  if (!send) {
    (void)write_message(session.out_fd, error_message(send.error()));
    spdlog::error("serve: {}", send.error().describe());
    return exit_code(send.error().exit_status());
  }
  spdlog::info("serve: sending {} of {} ({})", send->snapshot.string(), preset.source.string(),
               send->parent.empty() ? std::string("whole") : "incremental from " + send->parent);
  if (auto sent = write_message(session.out_fd, {{"type", "stream"}, {"uuid", send->uuid}, {"parent", send->parent}});
      !sent) {
    spdlog::error("serve: {}", sent.error().describe());
    return exit_code(ExitStatus::failed);
  }
  // The stream runs to the end of the connection; the client keeps the copy only when btrfs receive
  // completed it with this snapshot's uuid, and says so by offering it as a parent next time.
  std::uint64_t sent = 0;
  auto streamed = sender->stream(*send, session.out_fd, std::nullopt, sent);
  if (!streamed || !streamed->succeeded()) {
    spdlog::error("serve: {}", streamed ? describe_failure("btrfs send", *streamed) : streamed.error().describe());
    return exit_code(ExitStatus::failed);
  }
  spdlog::info("serve: sent {}", format_bytes(sent));
  return exit_code(ExitStatus::ok);
}

json handle_request(const ServeSession& session, const json& request) {
  const std::string type = message_type(request);
  std::vector<std::string> exclude_lines;
  auto preset = requested_preset(session, request, exclude_lines);
  if (!preset) {
    return error_message(preset.error());
  }
  spdlog::info("serve: {} of preset {} in {}", type, preset->name, preset->destination.string());
  Result<json> answer = config_error("refused: unknown request '" + type + "'");
  if (type == "list") {
    answer = handle_list(*preset, *session.environment);
  } else if (type == "du") {
    answer = handle_du(*preset, *session.environment);
  } else if (type == "check") {
    answer = handle_check(*preset, *session.environment);
  } else if (type == "report") {
    answer = handle_report(*preset, *session.environment, request);
  } else if (type == "versions") {
    answer = handle_versions(*preset, request);
  } else if (type == "diff") {
    answer = handle_diff(session, *preset, request);
  } else if (type == "prune") {
    answer = handle_prune(session, *preset, request);
  } else if (type == "scrub") {
    answer = handle_scrub(session, *preset, request);
  } else if (type == "restore") {
    answer = handle_restore(session, *preset, request);
  } else if (type == "backup") {
    answer = handle_backup(session, *preset, request, exclude_lines);
  }
  if (!answer) {
    return error_message(answer.error());
  }
  return result(std::move(*answer));
}

}  // namespace snapkeep
