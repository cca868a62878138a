#include "core/history/report_data.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <set>
#include <string>

#include "core/base/mounts.hpp"
#include "core/history/history_log.hpp"
#include "core/history/run_records.hpp"
#include "core/history/trends.hpp"
#include "core/retention/policy.hpp"
#include "core/store/catalog.hpp"
#include "core/store/local_state.hpp"
#include "core/store/preset_checks.hpp"
#include "core/store/snapshot_id.hpp"

namespace fs = std::filesystem;

namespace snapkeep {
namespace {

// A record's moment in seconds since the epoch (from time_ns).
double record_time(const nlohmann::json& record) {
  return static_cast<double>(record.value("time_ns", std::int64_t{0})) / 1e9;
}

// A moment as the report shows it: local ISO time and seconds since the epoch.
void put_time(nlohmann::json& out, double when) {
  const auto seconds = static_cast<std::time_t>(std::floor(when));
  out["time"] = format_iso_local(seconds);
  out["time_unix"] = when;
}

// Keeps the newest `limit` items.
void push_capped(std::deque<nlohmann::json>& list, nlohmann::json item, std::size_t limit) {
  list.push_back(std::move(item));
  if (list.size() > limit) {
    list.pop_front();
  }
}

// What the history log holds, as the report needs it.
struct History {
  std::deque<nlohmann::json> backups;  // compact, oldest first, the newest max_runs
  std::deque<nlohmann::json> scrubs;
  std::vector<ScrubRun> runs;       // every scrub, for coverage (a few numbers each)
  nlohmann::json last_whole_scrub;  // the newest scrub of every snapshot (its findings are open)
  std::set<std::string> drives;     // filesystem UUIDs the log's records name
  std::uint64_t records = 0;
  std::uint64_t skipped = 0;
};

void take_record(const nlohmann::json& record, std::size_t limit, History& history) {
  const std::string event = record.value("event", "");
  const double when = record_time(record);
  if (record.contains("drive") && record["drive"].is_object() && record["drive"].contains("uuid")) {
    history.drives.insert(record["drive"].value("uuid", ""));
  }
  if (event == "backup") {
    nlohmann::json b;
    put_time(b, when);
    b["snapshot"] = record.value("snapshot", "");
    b["seconds"] = record.value("seconds", 0.0);
    b["files"] = record.value("files", std::uint64_t{0});
    b["bytes_transferred"] = record.value("bytes_transferred", std::uint64_t{0});
    if (record.contains("changes")) {
      b["changes"] = record["changes"];
    }
    if (record.contains("destination") && record["destination"].is_object()) {
      b["free_bytes"] = record["destination"].value("free_bytes", std::uint64_t{0});
      b["size_bytes"] = record["destination"].value("size_bytes", std::uint64_t{0});
    }
    push_capped(history.backups, std::move(b), limit);
  } else if (event == "scrub") {
    ScrubRun run;
    run.time = when;
    run.bytes_read = record.value("bytes_read", std::uint64_t{0});
    run.bytes_total = record.value("bytes_total", std::uint64_t{0});
    run.whole = record.value("scope", "all") == "all";
    history.runs.push_back(run);
    nlohmann::json s;
    put_time(s, when);
    s["scope"] = record.value("scope", "all");
    s["seconds"] = record.value("seconds", 0.0);
    s["bytes_read"] = run.bytes_read;
    s["bytes_total"] = run.bytes_total;
    s["damage"] = record.value("damage", false);
    s["findings_total"] = record.value("findings_total", std::uint64_t{0});
    push_capped(history.scrubs, std::move(s), limit);
    if (run.whole) {
      history.last_whole_scrub = record;
    }
  }
}

// The findings of the newest scrub of every snapshot that are not repaired and concern snapshots
// that still exist (their paths in those snapshots).
nlohmann::json open_findings(const nlohmann::json& scrub, const std::vector<SnapshotInfo>& snapshots) {
  nlohmann::json out = nlohmann::json::array();
  if (!scrub.is_object() || !scrub.contains("findings")) {
    return out;
  }
  std::set<std::string> present;
  for (const auto& s : snapshots) {
    present.insert(s.id);
  }
  for (const auto& f : scrub["findings"]) {
    if (f.value("repaired", false)) {
      continue;
    }
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& id : f.value("snapshots", nlohmann::json::array())) {
      if (id.is_string() && present.count(id.get<std::string>()) > 0) {
        ids.push_back(id);
      }
    }
    if (ids.empty()) {
      continue;  // every snapshot it was in is gone
    }
    nlohmann::json paths = nlohmann::json::array();
    for (const auto& p : f.value("paths", nlohmann::json::array())) {
      const std::string path = p.is_string() ? p.get<std::string>() : "";
      if (present.count(path.substr(0, path.find('/'))) > 0) {
        paths.push_back(path);
      }
    }
    nlohmann::json finding{{"status", f.value("status", "")},
                           {"size", f.value("size", std::uint64_t{0})},
                           {"snapshots", ids},
                           {"paths", paths},
                           {"paths_total", f.value("paths_total", paths.size())}};
    put_time(finding, record_time(scrub));
    out.push_back(std::move(finding));
  }
  return out;
}

// The drives of a preset: the one connected now, the ones its history and this machine's local
// state name, and the ones the config allows (destination_uuid).
nlohmann::json known_drives(const Preset& preset, const std::optional<std::string>& connected,
                            const std::set<std::string>& in_history) {
  std::map<std::string, nlohmann::json> drives;
  auto drive = [&](const std::string& uuid) -> nlohmann::json& {
    auto& d = drives[uuid];
    if (d.is_null()) {
      d = {{"uuid", uuid}, {"connected", connected && *connected == uuid}};
    }
    return d;
  };
  if (connected) {
    drive(*connected);
  }
  for (const auto& uuid : in_history) {
    drive(uuid);
  }
  for (const auto& uuid : preset.destination_uuids) {
    drive(uuid)["configured"] = true;
  }
  if (auto state = read_local_state(); state && state->is_object()) {
    const nlohmann::json& presets = state->value("presets", nlohmann::json::object());
    auto it = presets.find(preset.preset_dir().string());
    if (it != presets.end() && it->is_object() && it->contains("drives") && (*it)["drives"].is_object()) {
      for (const auto& [uuid, seen] : (*it)["drives"].items()) {
        nlohmann::json& d = drive(normalize_uuid(uuid));
        if (seen.is_object()) {
          for (const char* key : {"first_seen", "last_seen"}) {
            if (seen.contains(key)) {
              d[key] = seen[key];
            }
          }
        }
      }
    }
  }
  nlohmann::json out = nlohmann::json::array();
  for (auto& [uuid, d] : drives) {
    out.push_back(std::move(d));
  }
  return out;
}

// The snapshots with what each alone holds and what the retention plan does with it.
void add_snapshots(const Preset& preset, Backend& backend, const std::vector<SnapshotInfo>& snapshots, std::time_t now,
                   nlohmann::json& entry) {
  const std::vector<SnapshotVerdict> verdicts = judge_snapshots(preset, snapshots, now);
  auto usage = backend.usage(snapshots, {});
  if (!usage) {
    entry["usage_error"] = usage.error().describe();
  } else {
    entry["total_bytes"] = usage->total_bytes;
    entry["usage_exact"] = usage->exact;
  }
  nlohmann::json list = nlohmann::json::array();
  std::uint64_t to_delete = 0;
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    const SnapshotInfo& s = snapshots[i];
    nlohmann::json item{{"id", s.id}, {"legacy", s.legacy}, {"latest", i + 1 == snapshots.size()}};
    put_time(item, s.time_ns != 0 ? static_cast<double>(s.time_ns) / 1e9 : static_cast<double>(s.time));
    if (usage && i < usage->snapshots.size() && usage->snapshots[i].id == s.id) {
      item["exclusive_bytes"] = usage->snapshots[i].exclusive_bytes;
      item["cumulative_bytes"] = usage->snapshots[i].cumulative_bytes;
    }
    const SnapshotVerdict& v = verdicts[i];
    const bool deleted = !v.keep && !v.untouchable;
    item["keep"] = !deleted;
    item["reasons"] = v.reasons;
    to_delete += deleted ? 1 : 0;
    list.push_back(std::move(item));
  }
  entry["snapshots"] = list;
  entry["retention"] = {{"keep", preset.keep.text}, {"to_delete", to_delete}};
}

// Free space over time (each backup's reading, then now's) and where it is heading.
void add_space(const Preset& preset, const Backend& backend, const History& history, const ReportOptions& options,
               nlohmann::json& entry) {
  nlohmann::json points = nlohmann::json::array();
  std::vector<TimePoint> readings;
  for (const auto& b : history.backups) {
    if (b.contains("free_bytes")) {
      points.push_back({{"time", b["time"]},
                        {"time_unix", b["time_unix"]},
                        {"free_bytes", b["free_bytes"]},
                        {"size_bytes", b["size_bytes"]}});
      readings.push_back({b["time_unix"].get<double>(), b["free_bytes"].get<double>()});
    }
  }
  nlohmann::json space{{"points", points}};
  const auto now = static_cast<double>(options.now);
  std::optional<double> free_now;
  if (auto current = backend.space(preset.destination)) {
    space["size_bytes"] = current->size_bytes;
    space["free_bytes"] = current->free_bytes;
    nlohmann::json point{{"free_bytes", current->free_bytes}, {"size_bytes", current->size_bytes}, {"now", true}};
    put_time(point, now);
    space["points"].push_back(std::move(point));
    free_now = static_cast<double>(current->free_bytes);
  } else {
    space["error"] = current.error().describe();
  }
  const FillProjection projection =
      project_fill(readings, now, static_cast<double>(options.projection_basis_seconds), free_now);
  nlohmann::json p{{"basis_days", static_cast<double>(options.projection_basis_seconds) / 86400},
                   {"points", projection.points},
                   {"bytes_per_day", projection.bytes_per_day},
                   {"full_at", nullptr},
                   {"days_left", nullptr}};
  if (projection.full_at) {
    nlohmann::json at;
    put_time(at, *projection.full_at);
    p["full_at"] = at["time"];
    p["full_at_unix"] = *projection.full_at;
    p["days_left"] = *projection.days_left;
  }
  space["projection"] = p;
  entry["space"] = space;
}

// Scrub runs with the coverage after each, and the coverage now.
void add_scrubs(const History& history, const ReportOptions& options, nlohmann::json& entry) {
  const auto window = static_cast<double>(options.coverage_window_seconds);
  nlohmann::json scrubs = nlohmann::json::array();
  for (const auto& s : history.scrubs) {
    nlohmann::json item = s;
    item["coverage"] = coverage_at(history.runs, s["time_unix"].get<double>(), window);
    scrubs.push_back(std::move(item));
  }
  entry["scrubs"] = scrubs;
  nlohmann::json coverage{{"window_days", window / 86400},
                          // The whole current second: a scrub that just ended counts.
                          {"now", coverage_at(history.runs, static_cast<double>(options.now) + 1, window)},
                          {"last_scrub", nullptr}};
  if (!history.scrubs.empty()) {
    coverage["last_scrub"] = history.scrubs.back()["time"];
  }
  entry["coverage"] = coverage;
}

}  // namespace

void unavailable_report(const Preset& preset, const Error& reason, const ReportOptions& options,
                        nlohmann::json& entry) {
  entry["destination"] = preset.preset_dir().string();
  entry["generated"] = format_iso_local(options.now);
  entry["generated_unix"] = options.now;
  entry["status"] = "unavailable";
  entry["reason"] = reason.describe();
  entry["drives"] = known_drives(preset, std::nullopt, {});
}

Status gather_report(const Preset& preset, Backend& backend, const ReportOptions& options, nlohmann::json& entry) {
  const fs::path preset_dir = preset.preset_dir();
  entry["backend"] = std::string(backend.name());
  if (auto checked = check_destination(preset); !checked) {
    if (!checked.error().drive_absent) {
      return std::move(checked).error();
    }
    unavailable_report(preset, checked.error(), options, entry);
    return {};
  }
  entry["destination"] = preset_dir.string();
  entry["generated"] = format_iso_local(options.now);
  entry["generated_unix"] = options.now;
  SNAPKEEP_TRY_ASSIGN(auto snapshots, list_snapshots(preset_dir));
  History history;
  SNAPKEEP_TRY_ASSIGN(HistoryReadStats read, read_history(preset_dir, [&](const nlohmann::json& record) {
                        take_record(record, options.max_runs, history);
                      }));
  entry["status"] = "ok";
  entry["history"] = {{"records", read.records}, {"skipped_lines", read.skipped}};
  entry["drives"] = known_drives(preset, drive_uuid(preset), history.drives);
  add_snapshots(preset, backend, snapshots, options.now, entry);
  add_space(preset, backend, history, options, entry);
  entry["backups"] = nlohmann::json(history.backups);
  add_scrubs(history, options, entry);
  entry["findings"] = open_findings(history.last_whole_scrub, snapshots);
  return {};
}

}  // namespace snapkeep
