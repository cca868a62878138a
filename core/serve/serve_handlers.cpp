// The request handlers of snapkeep serve: each runs the use case a local command runs, on the
// server's own destination, and answers with its result (core/serve/codec.hpp).

#include <unistd.h>

#include <spdlog/spdlog.h>

#include "core/backup/check.hpp"
#include "core/base/fsutil.hpp"
#include "core/remote/frame.hpp"
#include "core/remote/local_socket.hpp"
#include "core/serve/codec.hpp"
#include "core/serve/serve_session.hpp"
#include "core/store/catalog.hpp"

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
  if (!exclude_lines.empty()) {
    SNAPKEEP_TRY_ASSIGN(fs::path dir, run_dir());
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
  return backup_run_to_json(run);
}

}  // namespace

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
