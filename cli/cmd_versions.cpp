#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/config/units.hpp"
#include "core/history/versions.hpp"
#include "core/integrity/manifest_diff.hpp"
#include "core/serve/client.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep::cli {
namespace {

std::string mtime_text(std::int64_t ns) {
  return format_iso_local(static_cast<std::time_t>(ns / 1000000000));
}

void print_versions(const Preset& preset, const VersionsReport& r) {
  std::printf("%s: %zu version%s of %s in %llu snapshot%s (newest first)\n", preset.name.c_str(), r.versions.size(),
              r.versions.size() == 1 ? "" : "s", r.path.c_str(), static_cast<unsigned long long>(r.snapshots),
              r.snapshots == 1 ? "" : "s");
  for (std::size_t i = 0; i < r.versions.size(); ++i) {
    const PathVersion& v = r.versions[i];
    std::string what = v.type == EntryType::directory
                           ? fmt::format("folder, {} entries, {}", v.entries, format_bytes(v.size))
                           : fmt::format("{}, {}", entry_type_name(v.type), format_bytes(v.size));
    std::printf("  %zu  %s, modified %s%s%s\n", i + 1, what.c_str(), mtime_text(v.mtime_ns).c_str(),
                v.hash.empty() ? "" : ", ", v.hash.empty() ? "" : v.hash.substr(0, 16).c_str());
    std::string ids;
    for (const auto& id : v.snapshots) {
      ids += (ids.empty() ? "" : " ") + id;
    }
    std::printf("     in %s\n", ids.c_str());
  }
  if (!r.absent.empty()) {
    std::printf("  not in %zu snapshot%s (oldest %s, newest %s)\n", r.absent.size(), r.absent.size() == 1 ? "" : "s",
                r.absent.front().c_str(), r.absent.back().c_str());
  }
  for (const auto& t : r.read_from_tree) {
    std::printf("  (%s: %s, read from the snapshot itself)\n", t.id.c_str(), t.reason.c_str());
  }
}

}  // namespace

int cmd_versions(const GlobalOptions& global, const Config& config, const VersionsArgs& args) {
  if ((args.restore != 0) != !args.target.empty()) {
    return exit_code(report(config_error("--restore N and --to DIR go together")));
  }
  return run_presets(
      global, config, {args.preset}, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        SNAPKEEP_TRY_ASSIGN(std::string rel, path_in_snapshots(preset, args.path));
        // A remote destination's manifests are read by serve there; the restore comes back over ssh.
        SNAPKEEP_TRY_ASSIGN(VersionsReport found,
                            preset.remote_destination ? remote_versions(preset, rel) : find_versions(preset, rel));
        entry["status"] = "ok";
        entry.update(versions_to_json(found));
        if (global.show()) {
          print_versions(preset, found);
        }
        if (args.restore != 0) {
          SNAPKEEP_TRY_ASSIGN(RestoreRequest request,
                              version_restore_request(found, args.restore, args.target, args.force));
          SNAPKEEP_TRY_ASSIGN(RestoreOutcome restored, preset.remote_destination ? remote_restore(preset, request)
                                                                                 : restore_snapshot(preset, request));
          entry["restored"] = {
              {"version", args.restore}, {"snapshot", restored.snapshot_id}, {"from", restored.copied_from.string()},
              {"to", args.target},       {"files", restored.files},          {"bytes", restored.bytes}};
          if (global.show()) {
            std::printf("%s: restored version %zu of %s from snapshot %s to %s (%s)\n", preset.name.c_str(),
                        args.restore, rel.c_str(), restored.snapshot_id.c_str(), args.target.c_str(),
                        format_bytes(restored.bytes).c_str());
          }
        }
        return ExitStatus::ok;
      });
}

}  // namespace snapkeep::cli
