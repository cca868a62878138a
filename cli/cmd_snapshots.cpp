// Commands that hand snapshots over, delete them by id, or move them with a renamed preset.

#include <cstdio>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/backup/adopt.hpp"
#include "core/backup/rename.hpp"
#include "core/retention/prune.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep::cli {
int cmd_delete(const GlobalOptions& global, const Config& config, const DeleteArgs& args) {
  return run_presets(
      global, config, {args.preset}, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        SNAPKEEP_TRY(local_destination_only(preset, "delete"));
        SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
        SNAPKEEP_TRY_ASSIGN(auto deleted, delete_snapshots(preset, *backend, args.ids, args.dry_run, args.wait));
        entry["status"] = "ok";
        entry["dry_run"] = args.dry_run;
        entry["deleted"] = deleted;
        if (global.show()) {
          for (const auto& id : deleted) {
            std::printf("%s: %s %s\n", preset.name.c_str(), args.dry_run ? "would delete" : "deleted", id.c_str());
          }
        }
        return ExitStatus::ok;
      });
}

int cmd_adopt(const GlobalOptions& global, const Config& config, const AdoptArgs& args) {
  return run_presets(
      global, config, {args.preset}, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        SNAPKEEP_TRY(local_destination_only(preset, "adopt"));
        SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
        SNAPKEEP_TRY_ASSIGN(auto adopted, adopt_snapshots(preset, *backend, args.dry_run, args.wait));
        nlohmann::json list = nlohmann::json::array();
        for (const auto& a : adopted) {
          list.push_back({{"id", a.id}, {"time", format_iso_local(a.time)}, {"manifest_made", a.manifest_made}});
          if (global.show()) {
            std::printf("%s: %s %s (%s)%s\n", preset.name.c_str(), args.dry_run ? "would adopt" : "adopted",
                        a.id.c_str(), format_iso_local(a.time).c_str(), a.manifest_made ? ", manifest made" : "");
          }
        }
        if (adopted.empty() && global.show()) {
          std::printf("%s: nothing to adopt: every snapshot is snapkeep's already\n", preset.name.c_str());
        }
        entry["status"] = "ok";
        entry["dry_run"] = args.dry_run;
        entry["adopted"] = list;
        return ExitStatus::ok;
      });
}

int cmd_rename(const GlobalOptions& global, const Config& config, const RenameArgs& args) {
  return run_presets(global, config, {args.new_name},
                     [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
                       SNAPKEEP_TRY(local_destination_only(preset, "rename"));
                       SNAPKEEP_TRY_ASSIGN(auto backend, backend_for(preset));
                       SNAPKEEP_TRY(rename_preset(preset, args.old_name, *backend, args.wait));
                       entry["status"] = "ok";
                       entry["renamed_from"] = args.old_name;
                       entry["destination"] = preset.preset_dir().string();
                       if (global.show()) {
                         std::printf("%s: moved the snapshots of %s to %s\n", preset.name.c_str(),
                                     (preset.destination / args.old_name).c_str(), preset.preset_dir().c_str());
                       }
                       return ExitStatus::ok;
                     });
}

}  // namespace snapkeep::cli
