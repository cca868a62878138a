#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/base/fsutil.hpp"
#include "core/config/units.hpp"
#include "core/history/report_data.hpp"
#include "core/history/report_html.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {
namespace {

// One line per preset: what the page shows at the top.
void print_summary(const nlohmann::json& p) {
  const std::string name = p.value("name", "");
  if (p.value("status", "") != "ok") {
    std::printf("%s: %s\n", name.c_str(), p.value("reason", p.value("status", "")).c_str());
    return;
  }
  const nlohmann::json& space = p.value("space", nlohmann::json::object());
  const nlohmann::json& projection = space.value("projection", nlohmann::json::object());
  const nlohmann::json& coverage = p.value("coverage", nlohmann::json::object());
  std::string fill = projection.value("days_left", nlohmann::json()).is_number()
                         ? fmt::format("full in {:.0f} days at the current rate", projection["days_left"].get<double>())
                         : "not filling up";
  std::printf("%s\n", fmt::format("{}: {} snapshots, {} held, {} free ({}), scrub coverage {:.0f} % in {:.0f} days, "
                                  "{} open findings",
                                  name, p.value("snapshots", nlohmann::json::array()).size(),
                                  format_bytes(p.value("total_bytes", std::uint64_t{0})),
                                  format_bytes(space.value("free_bytes", std::uint64_t{0})), fill,
                                  coverage.value("now", 0.0) * 100, coverage.value("window_days", 30.0),
                                  p.value("findings", nlohmann::json::array()).size())
                          .c_str());
}

}  // namespace

int cmd_report(const GlobalOptions& global, const Config& config, const ReportArgs& args) {
  ReportOptions options;
  options.now = std::time(nullptr);
  if (!args.window.empty()) {
    auto seconds = parse_duration(args.window);
    if (!seconds || *seconds == 0) {
      return exit_code(
          report(config_error("--coverage-window: " + (seconds ? "must be longer than 0" : seconds.error().message))));
    }
    options.coverage_window_seconds = *seconds;
  }
  nlohmann::json entries = nlohmann::json::array();
  // A preset's entry goes on the page whether it was gathered or not: a failed one names the preset
  // and why it has nothing to show.
  auto add_entry = [&](const Preset& preset, const nlohmann::json& entry, Status gathered) -> Result<ExitStatus> {
    if (!gathered) {
      nlohmann::json failed = entry;
      failed["status"] = "failed";
      failed["error"] = Error(gathered.error()).in(preset.name).describe();
      entries.push_back(std::move(failed));
      return std::move(gathered).error();
    }
    entries.push_back(entry);
    if (global.show()) {
      print_summary(entry);
    }
    return ExitStatus::ok;
  };
  int status =
      run_presets(global, config, args.presets, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        if (preset.remote_destination) {
          // The server reads its drive and history log; the page here shows it like a local preset.
          return add_entry(preset, entry, remote_report(preset, options, entry));
        }
        auto backend = backend_for(preset);
        if (!backend && backend.error().drive_absent) {
          // An unplugged drive is no failure of the report: the page says so and names the drives.
          unavailable_report(preset, Error(backend.error()).in(preset.name), options, entry);
          return add_entry(preset, entry, {});
        }
        Status gathered = backend ? gather_report(preset, **backend, options, entry) : Status(backend.error());
        return add_entry(preset, entry, std::move(gathered));
      });
  if (args.html.empty() || status == exit_code(ExitStatus::usage)) {
    return status;
  }
  const std::string page = render_report_html({{"presets", entries}}, options.now);
  if (auto written = write_file_atomic(std::filesystem::absolute(args.html), page); !written) {
    return exit_code(worse(static_cast<ExitStatus>(status), report(written.error())));
  }
  if (global.show()) {
    std::printf("report written to %s\n", args.html.c_str());
  }
  return status;
}

}  // namespace snapkeep::cli
