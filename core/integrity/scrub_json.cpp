#include "core/integrity/scrub_json.hpp"

#include <array>
#include <string>

namespace snapkeep {
namespace {

using nlohmann::json;

json path_list(const std::vector<std::filesystem::path>& paths) {
  json out = json::array();
  for (const auto& p : paths) {
    out.push_back(p.string());
  }
  return out;
}

std::vector<std::filesystem::path> paths_of(const json& list) {
  std::vector<std::filesystem::path> out;
  for (const auto& s : list) {
    out.emplace_back(s.get<std::string>());
  }
  return out;
}

// Reads an optional field: absent means the default, present must have the right type.
template <class T>
void read_optional(const json& j, const char* key, T& into) {
  if (j.contains(key)) {
    into = j.at(key).get<T>();
  }
}

json finding_to_json(const ScrubFinding& f) {
  json out{{"status", std::string(finding_status_name(f.status))},
           {"paths", path_list(f.paths)},
           {"snapshots", f.snapshots},
           {"repaired", f.repaired}};
  if (f.status != FindingStatus::manifest_damaged) {
    out["size"] = f.size;
    out["expected_hash"] = f.expected_hash;
    out["actual_hash"] = f.actual_hash;
  }
  if (!f.detail.empty()) {
    out["detail"] = f.detail;
  }
  if (!f.repaired_from.empty()) {
    out["repaired_from"] = f.repaired_from;
  }
  if (!f.repair_note.empty()) {
    out["repair_note"] = f.repair_note;
  }
  if (!f.unverified_paths.empty()) {
    out["unverified_paths"] = path_list(f.unverified_paths);
  }
  return out;
}

Result<ScrubFinding> finding_from_json(const json& j) {
  ScrubFinding f;
  const auto status = j.at("status").get<std::string>();
  bool known = false;
  for (auto s : {FindingStatus::corrupted, FindingStatus::unreadable, FindingStatus::missing, FindingStatus::modified,
                 FindingStatus::manifest_damaged}) {
    if (finding_status_name(s) == status) {
      f.status = s;
      known = true;
    }
  }
  if (!known) {
    return runtime_error("malformed scrub report: unknown finding status \"" + status + "\"");
  }
  f.paths = paths_of(j.at("paths"));
  f.snapshots = j.at("snapshots").get<std::vector<std::string>>();
  f.repaired = j.at("repaired").get<bool>();
  read_optional(j, "size", f.size);
  read_optional(j, "expected_hash", f.expected_hash);
  read_optional(j, "actual_hash", f.actual_hash);
  read_optional(j, "detail", f.detail);
  read_optional(j, "repaired_from", f.repaired_from);
  read_optional(j, "repair_note", f.repair_note);
  if (j.contains("unverified_paths")) {
    f.unverified_paths = paths_of(j.at("unverified_paths"));
  }
  return f;
}

const char* const k_fs_counter_names[] = {"data_bytes_scrubbed", "tree_bytes_scrubbed", "read_errors",
                                          "data_csum_errors",    "tree_errors",         "super_errors",
                                          "corrected_errors",    "uncorrectable_errors"};

// The counters in the order of k_fs_counter_names.
std::array<std::uint64_t*, 8> fs_counters(FsScrubCounters& c) {
  return {&c.data_bytes_scrubbed, &c.tree_bytes_scrubbed, &c.read_errors,      &c.data_csum_errors,
          &c.tree_errors,         &c.super_errors,        &c.corrected_errors, &c.uncorrectable_errors};
}

}  // namespace

json scrub_report_to_json(const ScrubReport& r) {
  json findings = json::array();
  for (const auto& f : r.findings) {
    findings.push_back(finding_to_json(f));
  }
  json out{{"snapshots_checked", r.snapshots_checked},
           {"files_checked", r.files_checked},
           {"entries_checked", r.entries_checked},
           {"bytes_read", r.bytes_read},
           {"bytes_total", r.bytes_total},
           {"contents_total", r.contents_total},
           {"contents_verified", r.contents_verified},
           {"contents_unverified", r.contents_unverified},
           {"mismatches", r.mismatches},
           {"repair_bytes_read", r.repair_bytes_read},
           {"budget_reached", r.budget_reached},
           {"initialized", r.initialized},
           {"without_manifest", r.without_manifest},
           {"findings", findings},
           {"damage", r.damage_remains()},
           {"seconds", r.seconds}};
  if (r.fs_scrub) {
    FsScrubCounters c = *r.fs_scrub;
    json counters = json::object();
    const auto values = fs_counters(c);
    for (std::size_t i = 0; i < values.size(); ++i) {
      counters[k_fs_counter_names[i]] = *values[i];
    }
    out["fs_scrub"] = counters;
  }
  if (!r.fs_scrub_note.empty()) {
    out["fs_scrub_note"] = r.fs_scrub_note;
  }
  if (!r.fs_scrub_reported_by.empty()) {
    out["fs_scrub_reported_by"] = r.fs_scrub_reported_by;
  }
  if (!r.snapshot_repairs.empty()) {
    json repairs = json::array();
    for (const auto& repair : r.snapshot_repairs) {
      repairs.push_back({{"snapshot", repair.snapshot}, {"repaired", repair.repaired}, {"note", repair.note}});
    }
    out["snapshot_repairs"] = repairs;
  }
  return out;
}

Result<ScrubReport> scrub_report_from_json(const json& j) {
  try {
    ScrubReport r;
    r.snapshots_checked = j.at("snapshots_checked").get<std::uint64_t>();
    r.files_checked = j.at("files_checked").get<std::uint64_t>();
    r.entries_checked = j.at("entries_checked").get<std::uint64_t>();
    r.bytes_read = j.at("bytes_read").get<std::uint64_t>();
    r.bytes_total = j.at("bytes_total").get<std::uint64_t>();
    r.contents_total = j.at("contents_total").get<std::uint64_t>();
    r.contents_verified = j.at("contents_verified").get<std::uint64_t>();
    r.contents_unverified = j.at("contents_unverified").get<std::uint64_t>();
    r.mismatches = j.at("mismatches").get<std::uint64_t>();
    r.repair_bytes_read = j.at("repair_bytes_read").get<std::uint64_t>();
    r.budget_reached = j.at("budget_reached").get<bool>();
    r.initialized = j.at("initialized").get<std::vector<std::string>>();
    r.without_manifest = j.at("without_manifest").get<std::vector<std::string>>();
    r.seconds = j.at("seconds").get<double>();
    for (const auto& f : j.at("findings")) {
      SNAPKEEP_TRY_ASSIGN(ScrubFinding finding, finding_from_json(f));
      r.findings.push_back(std::move(finding));
    }
    if (j.contains("fs_scrub")) {
      const json& in = j.at("fs_scrub");
      FsScrubCounters c;
      const auto values = fs_counters(c);
      for (std::size_t i = 0; i < values.size(); ++i) {
        *values[i] = in.at(k_fs_counter_names[i]).get<std::uint64_t>();
      }
      r.fs_scrub = c;
    }
    read_optional(j, "fs_scrub_note", r.fs_scrub_note);
    read_optional(j, "fs_scrub_reported_by", r.fs_scrub_reported_by);
    if (j.contains("snapshot_repairs")) {
      for (const auto& s : j.at("snapshot_repairs")) {
        r.snapshot_repairs.push_back(
            {s.at("snapshot").get<std::string>(), s.at("repaired").get<bool>(), s.at("note").get<std::string>()});
      }
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return runtime_error(std::string("malformed scrub report: ") + e.what());
  }
}

}  // namespace snapkeep
