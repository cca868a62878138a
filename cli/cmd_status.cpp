#include <cstdio>
#include <ctime>

#include <fmt/format.h>

#include "backends/registry.hpp"
#include "cli/commands.hpp"
#include "cli/output.hpp"
#include "core/base/format.hpp"
#include "core/config/units.hpp"
#include "core/ops/status.hpp"
#include "core/serve/client.hpp"
#include "core/store/snapshot_id.hpp"

namespace snapkeep::cli {
namespace {

// 45 -> "45 s", 10920 -> "3 h 2 min", 532800 -> "6 d 4 h".
std::string format_age(std::int64_t seconds) {
  if (seconds < 0) {
    return "in the future (is the clock right?)";
  }
  const std::int64_t m = seconds / 60, h = m / 60, d = h / 24;
  if (d > 0) {
    return fmt::format("{} d {} h", d, h % 24);
  }
  if (h > 0) {
    return fmt::format("{} h {} min", h, m % 60);
  }
  if (m > 0) {
    return fmt::format("{} min", m);
  }
  return fmt::format("{} s", seconds);
}

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end) + " ...";
}

nlohmann::json time_json(std::optional<std::time_t> when) {
  return when ? nlohmann::json(format_iso_local(*when)) : nlohmann::json();
}

nlohmann::json status_json(const PresetStatus& s, std::optional<std::uint64_t> max_age, std::time_t now) {
  nlohmann::json out;
  out["drive_present"] = s.drive_present;
  if (!s.drive_present) {
    out["drive_absent_reason"] = s.absent_reason;
  }
  out["last_success"] = time_json(s.last_success);
  out["age_seconds"] = s.age_seconds ? nlohmann::json(*s.age_seconds) : nlohmann::json();
  if (max_age) {
    out["max_age_seconds"] = *max_age;
  }
  out["stale"] = s.stale;
  const auto& b = s.record.last_backup;
  out["last_result"] = b ? nlohmann::json(std::string(run_result_name(b->result))) : nlohmann::json();
  out["last_run"] = b ? time_json(b->time) : nlohmann::json();
  out["last_error"] = b && !b->error.empty() ? nlohmann::json(b->error) : nlohmann::json();
  if (b) {
    out["last_backup"] = to_json(*b);
    out["last_backup"]["time"] = format_iso_local(b->time);
  }
  if (const auto& ok = s.record.last_success) {
    out["last_success_snapshot"] = ok->snapshot;
  }
  out["snapshots"] = s.snapshots ? nlohmann::json(*s.snapshots) : nlohmann::json();
  out["newest_snapshot"] = s.newest_snapshot.empty() ? nlohmann::json() : nlohmann::json(s.newest_snapshot);
  out["free_bytes"] = s.space ? nlohmann::json(s.space->free_bytes) : nlohmann::json();
  out["size_bytes"] = s.space ? nlohmann::json(s.space->size_bytes) : nlohmann::json();
  if (const auto& d = s.record.destination) {
    out["last_seen"] = to_json(*d);
    out["last_seen"]["time"] = format_iso_local(d->time);
  }
  if (const auto& scrub = s.record.last_scrub) {
    out["last_scrub"] = to_json(*scrub);
    out["last_scrub"]["time"] = format_iso_local(scrub->time);
    out["last_scrub"]["age_seconds"] = static_cast<std::int64_t>(now) - static_cast<std::int64_t>(scrub->time);
  } else {
    out["last_scrub"] = nullptr;
  }
  return out;
}

void print_status(const Preset& preset, const PresetStatus& s, std::optional<std::uint64_t> max_age, std::time_t now) {
  std::string head = preset.name + ": ";
  if (s.stale) {
    head += "STALE: ";
  }
  if (s.last_success) {
    head += "last success " + format_iso_local(*s.last_success) + " (" + format_age(*s.age_seconds) + " ago)";
  } else {
    head += "no successful backup recorded";
  }
  if (max_age) {
    head += ", --max-age " + format_age(static_cast<std::int64_t>(*max_age));
  }
  std::printf("%s\n", head.c_str());
  if (const auto& b = s.record.last_backup) {
    std::string line = "  last run: " + std::string(run_result_name(b->result)) + " at " + format_iso_local(b->time);
    if (b->result == RunResult::ok) {
      line += fmt::format(" (snapshot {}, {} copied, {:.1f} s)", b->snapshot, format_bytes(b->bytes_transferred),
                          b->seconds);
    } else if (!b->error.empty()) {
      line += ": " + first_line(b->error);
    }
    std::printf("%s\n", line.c_str());
  }
  if (s.drive_present) {
    std::string line = "  snapshots: " + (s.snapshots ? std::to_string(*s.snapshots) : std::string("?"));
    if (!s.newest_snapshot.empty()) {
      line += " (newest " + s.newest_snapshot + ")";
    }
    if (s.space) {
      line += ", " + format_bytes(s.space->free_bytes) + " free of " + format_bytes(s.space->size_bytes);
    }
    std::printf("%s\n", line.c_str());
  } else {
    std::string line =
        (preset.remote_destination ? "  destination unreachable: " : "  drive absent: ") + first_line(s.absent_reason);
    if (const auto& d = s.record.destination) {
      line += fmt::format(" ({} snapshots when last seen at {})", d->snapshots, format_iso_local(d->time));
    }
    std::printf("%s\n", line.c_str());
  }
  if (const auto& scrub = s.record.last_scrub) {
    std::string found = scrub->result == RunResult::failed ? "failed: " + first_line(scrub->error)
                        : scrub->damaged_contents > 0
                            ? fmt::format("DAMAGE: {} contents not repaired", scrub->damaged_contents)
                            : fmt::format("no damage ({} read{})", format_bytes(scrub->bytes_read),
                                          scrub->repaired > 0 ? fmt::format(", {} repaired", scrub->repaired) : "");
    std::printf("  last scrub: %s (%s ago): %s\n", format_iso_local(scrub->time).c_str(),
                format_age(static_cast<std::int64_t>(now) - static_cast<std::int64_t>(scrub->time)).c_str(),
                found.c_str());
  } else {
    std::printf("  last scrub: never\n");
  }
}

// Is anything here worth a mail from a cron job run with -q?
bool troubled(const PresetStatus& s) {
  const auto& b = s.record.last_backup;
  const auto& scrub = s.record.last_scrub;
  return s.stale || (b && b->result == RunResult::failed) ||
         (scrub && (scrub->result == RunResult::failed || scrub->damaged_contents > 0));
}

}  // namespace

int cmd_status(const GlobalOptions& global, const Config& config, const StatusArgs& args) {
  std::optional<std::uint64_t> max_age;
  if (!args.max_age.empty()) {
    auto seconds = parse_duration(args.max_age);
    if (!seconds) {
      return exit_code(report(config_error("--max-age: " + seconds.error().message)));
    }
    max_age = *seconds;
  }
  const std::time_t now = std::time(nullptr);
  return run_presets(
      global, config, args.presets, [&](const Preset& preset, nlohmann::json& entry) -> Result<ExitStatus> {
        entry["destination"] = preset.preset_dir().string();
        PresetStatus s;
        if (preset.remote_destination) {
          // The runs are recorded here; the snapshots are counted by serve there (one connection).
          entry["host"] = preset.remote_destination->host;
          DestinationView view;
          auto listing = remote_list(preset);
          view.listed = listing ? Result<std::vector<SnapshotInfo>>(std::move(listing->snapshots))
                                : Result<std::vector<SnapshotInfo>>(std::move(listing).error());
          SNAPKEEP_TRY_ASSIGN(s, preset_status(preset, nullptr, max_age, now, &view));
        } else {
          auto backend = backend_for(preset);
          SNAPKEEP_TRY_ASSIGN(s, preset_status(preset, backend ? backend->get() : nullptr, max_age, now));
        }
        entry.update(status_json(s, max_age, now));
        entry["status"] = s.stale ? "stale" : "ok";
        if (global.show(troubled(s))) {
          print_status(preset, s, max_age, now);
        }
        return s.stale ? ExitStatus::failed : ExitStatus::ok;
      });
}

}  // namespace snapkeep::cli
