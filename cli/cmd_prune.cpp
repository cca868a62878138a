#include <cstdio>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/prune.hpp"
#include "core/units.hpp"

namespace snapkeep::cli {

nlohmann::json prune_entries_json(const std::vector<PruneEntry>& entries) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries) {
    list.push_back({{"id", e.id}, {"keep", e.keep}, {"deleted", e.deleted}, {"reasons", e.reasons}});
  }
  return list;
}

int cmd_prune(const GlobalOptions& global, const Config& config, const PruneArgs& args) {
  auto presets = select_presets(config, args.presets);
  if (!presets) {
    return report(presets.error());
  }
  std::optional<SizeSpec> free;
  if (!args.free.empty()) {
    auto parsed = parse_size_spec(args.free);
    if (!parsed) {
      Error e = std::move(parsed).error();
      e.kind = ErrorKind::config;
      e.message = "--free: " + e.message;
      return report(e);
    }
    free = *parsed;
  }
  int exit_code = 0;
  nlohmann::json results = nlohmann::json::array();
  for (const Preset& preset : *presets) {
    nlohmann::json entry{{"name", preset.name}};
    auto run = [&]() -> Result<std::vector<PruneEntry>> {
      auto backend = backend_for(preset);
      if (!backend) {
        return std::move(backend).error();
      }
      PruneOptions options;
      options.dry_run = args.dry_run;
      options.wait_for_lock = args.wait;
      options.free = free;
      return run_prune(preset, **backend, options);
    };
    auto done = run();
    if (!done) {
      exit_code = combine_exit(exit_code, report(done.error()));
      entry["status"] = "failed";
      entry["error"] = done.error().describe();
      if (done.error().kind == ErrorKind::locked) {
        entry["locked"] = true;  // as backup and scrub say it
      }
      results.push_back(entry);
      continue;
    }
    entry["status"] = "ok";
    entry["dry_run"] = args.dry_run;
    entry["snapshots"] = prune_entries_json(*done);
    results.push_back(entry);
    if (!global.json) {
      for (const auto& e : *done) {
        std::string why;
        for (const auto& r : e.reasons) {
          why += (why.empty() ? "" : ", ") + r;
        }
        const char* verdict = e.keep ? "keep  " : (e.deleted ? "deleted" : "delete");
        std::printf("%s: %s %s%s%s\n", preset.name.c_str(), verdict, e.id.c_str(), why.empty() ? "" : "  (",
                    why.empty() ? "" : (why + ")").c_str());
      }
    }
  }
  if (global.json) {
    print_json({{"presets", results}});
  }
  std::fflush(stdout);
  return exit_code;
}

}  // namespace snapkeep::cli
