#include "cli/output.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "core/base/progress_events.hpp"
#include "core/base/signals.hpp"
#include "core/store/preset_checks.hpp"

namespace snapkeep::cli {

void print_json(const nlohmann::json& doc) {
  std::string text = doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

ExitStatus report(const Error& error) {
  if ((error.err == EACCES || error.err == EPERM) && ::geteuid() != 0) {
    spdlog::error(
        "{} (snapkeep runs as uid {} here, which may not do this: backups of other users' files "
        "and drives usually need root, e.g. sudo snapkeep ...)",
        error.describe(), ::geteuid());
  } else {
    spdlog::error("{}", error.describe());
  }
  return error.exit_status();
}

int run_presets(const GlobalOptions& global, const Config& config, const std::vector<std::string>& names,
                const PresetStep& step, const nlohmann::json& extra) {
  auto presets = select_presets(config, names);
  if (!presets) {
    return exit_code(report(presets.error()));
  }
  ExitStatus status = ExitStatus::ok;
  nlohmann::json results = nlohmann::json::array();
  for (const Preset& preset : *presets) {
    if (stop_signal() != 0) {
      break;
    }
    nlohmann::json entry{{"name", preset.name}};
    ProgressRun events(global.command, preset.name);  // start and end events on --progress-fd
    auto done = step(preset, entry);
    if (!done && skipped_for_absent_drive(preset, done.error())) {
      // if_unmounted = skip: a drive that is often unplugged is not a failure (and no alarm).
      const Error error = std::move(done).error().in(preset.name);
      spdlog::info("{} (skipped: if_unmounted = skip)", error.describe());
      entry["status"] = "skipped";
      entry["reason"] = error.describe();
      if (global.show()) {
        std::printf("%s: skipped, the backup drive is absent (if_unmounted = skip)\n", preset.name.c_str());
      }
    } else if (!done) {
      const Error error = std::move(done).error().in(preset.name);
      status = worse(status, report(error));
      entry["status"] = "failed";
      entry["error"] = error.describe();
      if (error.kind == ErrorKind::locked) {
        entry["locked"] = true;
      }
    } else {
      status = worse(status, *done);
    }
    events.finish(entry.value("status", "ok"));
    results.push_back(std::move(entry));
    std::fflush(stdout);
  }
  if (stop_signal() != 0) {
    spdlog::error("interrupted by signal {}; presets not started were skipped", stop_signal());
    status = worse(status, ExitStatus::failed);
  }
  if (global.json) {
    nlohmann::json doc{{"presets", results}};
    doc.update(extra);
    print_json(doc);
  }
  return exit_code(status);
}

Status local_destination_only(const Preset& preset, std::string_view command) {
  if (preset.remote_destination) {
    return config_error(std::string(command) + " works on a destination of this machine only; run it on " +
                        preset.remote_destination->host + " itself")
        .in(preset.name);
  }
  return {};
}

}  // namespace snapkeep::cli
