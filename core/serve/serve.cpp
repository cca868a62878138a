#include "core/serve/serve.hpp"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <string_view>
#include <thread>

#include <spdlog/spdlog.h>

#include "core/remote/frame.hpp"
#include "core/serve/codec.hpp"
#include "core/serve/serve_session.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

constexpr std::string_view k_client = "the client";
// The host name a client's source gets on the server: rsync there reaches it only through the relay.
constexpr std::string_view k_client_host = "snapkeep-client";

// Set once serve is exiting (an atexit handler, registered after the logger was made, so it runs
// before the logger is destroyed): the client closing its end then is the normal end of a request.
std::atomic<bool> g_exiting{false};

// Ends the request being served when the client goes away (its ssh closed, killed, a dropped link):
// a stop signal to ourselves kills our children (rsync) and unwinds the use case, which leaves only
// dot-named work behind for the next run. A client sends nothing after its request. The watcher is a
// detached thread that may still run while the process exits, so it touches no global object (no
// logger: that was a use after free found by ASan, which hung serve in its exit); it writes its one
// line with write(2).
void watch_for_hangup(int in_fd) {
  static const bool registered = std::atexit([] { g_exiting = true; }) == 0;
  (void)registered;
  std::thread([in_fd] {
    char byte = 0;
    ssize_t n = 0;
    do {
      n = ::read(in_fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (g_exiting) {
      return;
    }
    const std::string_view line = n == 0
                                      ? "snapkeep: warning: serve: the client went away; stopping what it asked for\n"
                                      : "snapkeep: warning: serve: the client sent more than a request; stopping\n";
    (void)!::write(STDERR_FILENO, line.data(), line.size());
    ::kill(::getpid(), SIGTERM);
  }).detach();
}

// The server's own preset for a client's (same name and destination), if it has one.
const Preset* own_preset(const ServeOptions& options, const Preset& wanted) {
  for (const auto& p : options.own_presets) {
    std::error_code ec;
    if (p.name == wanted.name && !p.remote_destination && fs::equivalent(p.destination, wanted.destination, ec)) {
      return &p;
    }
  }
  return nullptr;
}

}  // namespace

Result<Preset> requested_preset(const ServeSession& session, const nlohmann::json& request,
                                std::vector<std::string>& exclude_lines) {
  if (!request.contains("preset") || !request["preset"].is_object()) {
    return config_error("refused: the request names no preset");
  }
  SNAPKEEP_TRY_ASSIGN(Preset preset, preset_from_json(request["preset"], session.environment->schema, exclude_lines));
  SNAPKEEP_TRY_ASSIGN(preset.destination, session.restriction->destination(preset.destination.string()));
  SNAPKEEP_TRY(session.restriction->preset_dir(preset.destination, preset.name));
  RemoteLocation client;
  client.host = std::string(k_client_host);
  client.path = preset.source;
  preset.remote_source = client;
  preset.remote.served = true;
  if (const auto it = request.find("source_subvolume"); it != request.end()) {
    if (!it->is_boolean()) {
      return config_error("refused: a malformed source_subvolume");
    }
    preset.remote.served_subvolume = it->get<bool>();
  }
  if (session.options->append_only) {
    // A client with an append-only key cannot choose what gets deleted: the server's config decides.
    const Preset* own = own_preset(*session.options, preset);
    preset.keep = own != nullptr ? own->keep : KeepPolicy{};
    preset.min_free = own != nullptr ? own->min_free : std::nullopt;
    preset.min_free_overrides_keep = own != nullptr && own->min_free_overrides_keep;
    if (own != nullptr) {
      preset.require_mount = own->require_mount;
      preset.destination_uuids = own->destination_uuids;
      preset.skip_if_unmounted = own->skip_if_unmounted;
    }
  }
  return preset;
}

int serve_connection(int in_fd, int out_fd, const ServeOptions& options, const ServeEnvironment& environment) {
  // Everything this process writes to out_fd is a frame; logs go to stderr, which ssh hands the client.
  auto send = [&](const nlohmann::json& message) {
    if (auto sent = write_message(out_fd, message); !sent) {
      spdlog::error("serve: {}", sent.error().describe());
    }
  };
  auto hello = read_message(in_fd, k_client);
  if (!hello) {
    spdlog::error("serve: {}", hello.error().describe());
    return exit_code(ExitStatus::usage);
  }
  if (message_type(*hello) != "hello" || !hello->contains("version") || !(*hello)["version"].is_number_integer() ||
      (*hello)["version"].get<int>() != k_protocol_version) {
    Error e =
        config_error("the client speaks another protocol (" + hello->dump() + "); this snapkeep serve speaks version " +
                     std::to_string(k_protocol_version) + ": install the same snapkeep version on both hosts");
    send(error_message(e));
    spdlog::error("serve: {}", e.describe());
    return exit_code(ExitStatus::usage);
  }
  auto restriction = Restriction::open(options.restrict_path);
  if (!restriction) {
    send(error_message(restriction.error()));
    spdlog::error("serve: {}", restriction.error().describe());
    return exit_code(restriction.error().exit_status());
  }
  send({{"type", "hello"},
        {"version", k_protocol_version},
        {"append_only", options.append_only},
        {"source_only", options.source_only}});
  auto request = read_message(in_fd, k_client);
  if (!request) {
    spdlog::error("serve: {}", request.error().describe());
    return exit_code(ExitStatus::usage);
  }
  ServeSession session{in_fd, out_fd, &options, &environment, &*restriction};
  const std::string type = message_type(*request);
  spdlog::info("serve: {} request{}", type, options.append_only ? " (append-only)" : "");
  if ((type == "send") != options.source_only) {
    Error e = config_error(options.source_only
                               ? "refused: this key is --source-only on " + options.restrict_path.string() +
                                     ": it only sends source snapshots to a host that pulls (pull = btrfs-send)"
                               : "refused: a send request needs a key whose serve runs with --source-only");
    send(error_message(e));
    spdlog::error("serve: {}", e.describe());
    return exit_code(ExitStatus::usage);
  }
  if (type == "attach") {
    return handle_attach(session, *request);
  }
  watch_for_hangup(in_fd);
  if (type == "send") {
    return handle_send(session, *request);
  }
  nlohmann::json answer = handle_request(session, *request);
  send(answer);
  if (message_type(answer) == "error") {
    spdlog::error("serve: {}", answer.value("message", std::string()));
    const int kind = answer.value("kind", 0);
    return kind == static_cast<int>(ErrorKind::config)   ? exit_code(ExitStatus::usage)
           : kind == static_cast<int>(ErrorKind::locked) ? exit_code(ExitStatus::locked)
                                                         : exit_code(ExitStatus::failed);
  }
  return exit_code(ExitStatus::ok);
}

}  // namespace snapkeep
