#include <cstdio>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/config/units.hpp"
#include "core/retention/prune.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {

namespace {

nlohmann::json prune_entries_json(const std::vector<PruneEntry>& entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) {
    list.push_back({{"id", e.id}, {"keep", e.keep}, {"deleted", e.deleted}, {"reasons", e.reasons}});
  }
  return list;
}

}  // namespace

int cmd_prune(const GlobalOptions& global, const Config& config, const PruneArgs& args) {
  std::optional<SizeSpec> free;
  if (!args.free.empty()) {
    auto parsed = parse_size_spec(args.free);
    if (!parsed) {
      Error e = std::move(parsed).error();
      e.kind = ErrorKind::config;
      e.message = "--free: " + e.message;
      return exit_code(report(e));
    }
    free = *parsed;
  }
  return run_presets(global, config, args.presets,
                     [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
                       PruneOptions options;
                       options.dry_run = args.dry_run;
                       options.wait_for_lock = args.wait;
                       options.free = free;
                       std::vector<PruneEntry> entries;
                       if (preset.remote_destination) {
                         SNAPKEEP_TRY_ASSIGN(entries, remote_prune(preset, options));
                       } else {
                         SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
                         SNAPKEEP_TRY_ASSIGN(entries, run_prune(preset, *backend, options));
                       }
                       entry["status"] = "ok";
                       entry["dry_run"] = args.dry_run;
                       entry["snapshots"] = prune_entries_json(entries);
                       if (global.show()) {
                         for (const auto& e : entries) {
                           std::string why;
                           for (const auto& r : e.reasons) {
                             why += (why.empty() ? "" : ", ") + r;
                           }
                           const char* verdict = e.keep ? "keep  " : (e.deleted ? "deleted" : "delete");
                           std::printf("%s: %s %s%s%s\n", preset.name.c_str(), verdict, e.id.c_str(),
                                       why.empty() ? "" : "  (", why.empty() ? "" : (why + ")").c_str());
                         }
                       }
                       return ExitStatus::ok;
                     });
}

}  // namespace snapkeep::cli
