#include <cstdio>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/restore.hpp"
#include "core/units.hpp"

namespace snapkeep::cli {

int cmd_restore(const GlobalOptions& global, const Config& config, const RestoreArgs& args) {
  auto presets = select_presets(config, {args.preset});
  if (!presets) {
    return report(presets.error());
  }
  RestoreRequest request;
  request.snapshot = args.snapshot;
  request.inside = args.inside;
  request.target = args.target;
  request.force = args.force;
  auto outcome = restore_snapshot(presets->front(), request);
  if (!outcome) {
    if (global.json) {
      print_json({{"presets", {{{"name", args.preset}, {"status", "failed"}, {"error", outcome.error().describe()}}}}});
    }
    return report(outcome.error());
  }
  if (global.json) {
    print_json({{"presets",
                 {{{"name", args.preset},
                   {"status", "ok"},
                   {"snapshot", outcome->snapshot_id},
                   {"from", outcome->copied_from.string()},
                   {"to", args.target},
                   {"files", outcome->files},
                   {"bytes", outcome->bytes}}}}});
  } else {
    std::printf("%s: restored %s from snapshot %s to %s (%llu files, %s)\n", args.preset.c_str(),
                outcome->copied_from.c_str(), outcome->snapshot_id.c_str(), args.target.c_str(),
                static_cast<unsigned long long>(outcome->files), format_bytes(outcome->bytes).c_str());
  }
  return 0;
}

}  // namespace snapkeep::cli
