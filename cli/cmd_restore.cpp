#include <cstdio>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/backup/restore.hpp"
#include "core/config/units.hpp"
#include "core/serve/client.hpp"

namespace snapkeep::cli {

int cmd_restore(const GlobalOptions& global, const Config& config, const RestoreArgs& args) {
  return run_presets(
      global, config, {args.preset}, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        RestoreRequest request;
        request.snapshot = args.snapshot;
        request.inside = args.inside;
        request.target = args.target;
        request.force = args.force;
        RestoreOutcome outcome;
        if (preset.remote_destination) {
          SNAPKEEP_TRY_ASSIGN(outcome, remote_restore(preset, request));  // serve sends, this host receives
        } else {
          SNAPKEEP_TRY_ASSIGN(outcome, restore_snapshot(preset, request));
        }
        entry["status"] = "ok";
        entry["snapshot"] = outcome.snapshot_id;
        entry["from"] = outcome.copied_from.string();
        entry["to"] = args.target;
        entry["files"] = outcome.files;
        entry["bytes"] = outcome.bytes;
        if (global.show()) {
          std::printf("%s: restored %s from snapshot %s to %s (%llu files, %s)\n", preset.name.c_str(),
                      outcome.copied_from.c_str(), outcome.snapshot_id.c_str(), args.target.c_str(),
                      static_cast<unsigned long long>(outcome.files), format_bytes(outcome.bytes).c_str());
        }
        return ExitStatus::ok;
      });
}

}  // namespace snapkeep::cli
