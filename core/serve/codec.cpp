#include "core/serve/codec.hpp"

#include <algorithm>
#include <functional>

#include "core/remote/frame.hpp"

namespace snapkeep {
namespace {

using nlohmann::json;

// Runs a decoder; a field of the wrong type or a missing one becomes a "malformed" error.
template <class T>
Result<T> decoded(std::string_view what, const std::function<Result<T>()>& decode) {
  try {
    return decode();
  } catch (const json::exception& e) {
    return runtime_error("malformed " + std::string(what) + " in a protocol message: " + e.what());
  }
}

json snapshot_to_json(const SnapshotInfo& s) {
  return {{"id", s.id},         {"path", s.path.string()},          {"time", s.time}, {"time_ns", s.time_ns},
          {"legacy", s.legacy}, {"time_recorded", s.time_recorded}, {"seq", s.seq}};
}

SnapshotInfo snapshot_from_json(const json& j) {
  SnapshotInfo s;
  s.id = j.at("id").get<std::string>();
  s.path = j.at("path").get<std::string>();
  s.time = j.at("time").get<std::time_t>();
  s.time_ns = j.at("time_ns").get<long long>();
  s.legacy = j.at("legacy").get<bool>();
  s.time_recorded = j.at("time_recorded").get<bool>();
  s.seq = j.at("seq").get<std::uint64_t>();
  return s;
}

json stats_to_json(const BackupStats& s) {
  json out{{"files", s.files},
           {"files_transferred", s.files_transferred},
           {"bytes_total", s.bytes_total},
           {"bytes_transferred", s.bytes_transferred},
           {"bytes_hashed", s.bytes_hashed},
           {"manifest_ok", s.manifest_ok},
           {"warnings", s.warnings}};
  if (s.manifest_error) {
    out["manifest_error"] = error_message(*s.manifest_error);
  }
  return out;
}

BackupStats stats_from_json(const json& j) {
  BackupStats s;
  s.files = j.at("files").get<std::uint64_t>();
  s.files_transferred = j.at("files_transferred").get<std::uint64_t>();
  s.bytes_total = j.at("bytes_total").get<std::uint64_t>();
  s.bytes_transferred = j.at("bytes_transferred").get<std::uint64_t>();
  s.bytes_hashed = j.at("bytes_hashed").get<std::uint64_t>();
  s.manifest_ok = j.at("manifest_ok").get<bool>();
  s.warnings = j.at("warnings").get<std::vector<std::string>>();
  if (j.contains("manifest_error")) {
    s.manifest_error = error_from_message(j.at("manifest_error"), "");
  }
  return s;
}

std::string checksum_name(ChecksumKind kind) {
  switch (kind) {
    case ChecksumKind::xxh128: return "xxh128";
    case ChecksumKind::sha256: return "sha256";
    case ChecksumKind::none: return "none";
  }
  return "xxh128";
}

}  // namespace

Status check_preset_name(const std::string& name) {
  const bool control = std::any_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (name.empty() || name.size() > 200 || name.find('/') != std::string::npos || name.front() == '.' || control ||
      name == "latest" || name == "lost+found") {
    return config_error("preset name '" + name + "' is not allowed");
  }
  return {};
}

bool is_uuid_text(const std::string& text) {
  if (text.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : std::isxdigit(static_cast<unsigned char>(text[i])) == 0) {
      return false;
    }
  }
  return true;
}

namespace {

// A string sent to become an rsync argument or a file line: no line breaks, no NUL.
Status check_line(const std::string& text, std::string_view what) {
  if (text.find('\n') != std::string::npos || text.find('\r') != std::string::npos ||
      text.find('\0') != std::string::npos) {
    return config_error(std::string(what) + " must be on one line");
  }
  return {};
}

}  // namespace

json preset_to_json(const Preset& p) {
  json out{{"name", p.name},
           {"destination", p.destination.string()},
           {"source", p.source.string()},
           {"backend", p.backend},
           {"keep", p.keep.text},
           {"min_free_overrides_keep", p.min_free_overrides_keep},
           {"exclude", p.exclude},
           {"one_file_system", p.one_file_system},
           {"checksum", checksum_name(p.checksum)},
           {"allow_empty_source", p.allow_empty_source},
           {"allow_partial", p.allow_partial},
           {"require_mount", p.require_mount},
           {"destination_uuid", p.destination_uuids},
           {"skip_if_unmounted", p.skip_if_unmounted},
           {"compress", p.remote.compress}};
  if (p.min_free) {
    out["min_free"] = {
        {"is_percent", p.min_free->is_percent}, {"bytes", p.min_free->bytes}, {"percent", p.min_free->percent}};
  }
  if (p.remote.bwlimit_kib) {
    out["bwlimit_kib"] = *p.remote.bwlimit_kib;
  }
  return out;
}

Result<Preset> preset_from_json(const json& j, const ConfigSchema& schema, std::vector<std::string>& lines) {
  return decoded<Preset>("preset", [&]() -> Result<Preset> {
    Preset p;
    p.name = j.at("name").get<std::string>();
    SNAPKEEP_TRY(check_preset_name(p.name));
    p.destination = j.at("destination").get<std::string>();
    p.source = j.at("source").get<std::string>();
    SNAPKEEP_TRY(check_line(p.source.string(), "the source"));
    p.backend = j.at("backend").get<std::string>();
    if (std::find(schema.backend_values.begin(), schema.backend_values.end(), p.backend) ==
        schema.backend_values.end()) {
      return config_error("unknown backend '" + p.backend + "'");
    }
    SNAPKEEP_TRY_ASSIGN(p.keep, parse_keep(j.at("keep").get<std::string>()));
    p.min_free_overrides_keep = j.at("min_free_overrides_keep").get<bool>();
    if (j.contains("min_free")) {
      SizeSpec spec;
      spec.is_percent = j["min_free"].at("is_percent").get<bool>();
      spec.bytes = j["min_free"].at("bytes").get<std::uint64_t>();
      spec.percent = j["min_free"].at("percent").get<double>();
      if (spec.is_percent && !(spec.percent > 0 && spec.percent <= 100)) {
        return config_error("min_free percent out of range");
      }
      p.min_free = spec;
    }
    p.exclude = j.at("exclude").get<std::vector<std::string>>();
    for (const auto& pattern : p.exclude) {
      SNAPKEEP_TRY(check_line(pattern, "an exclude pattern"));
    }
    lines = j.value("exclude_from_lines", std::vector<std::string>{});
    for (const auto& line : lines) {
      SNAPKEEP_TRY(check_line(line, "an exclude_from line"));
    }
    p.one_file_system = j.at("one_file_system").get<bool>();
    const std::string checksum = j.at("checksum").get<std::string>();
    if (checksum == "xxh128") {
      p.checksum = ChecksumKind::xxh128;
    } else if (checksum == "sha256") {
      p.checksum = ChecksumKind::sha256;
    } else if (checksum == "none") {
      p.checksum = ChecksumKind::none;
    } else {
      return config_error("unknown checksum '" + checksum + "'");
    }
    p.allow_empty_source = j.at("allow_empty_source").get<bool>();
    p.allow_partial = j.at("allow_partial").get<bool>();
    p.require_mount = j.at("require_mount").get<bool>();
    for (const auto& uuid : j.at("destination_uuid").get<std::vector<std::string>>()) {
      SNAPKEEP_TRY(check_line(uuid, "a destination_uuid"));
      p.destination_uuids.push_back(uuid);
    }
    p.skip_if_unmounted = j.at("skip_if_unmounted").get<bool>();
    p.remote.compress = j.at("compress").get<bool>();
    if (j.contains("bwlimit_kib")) {
      p.remote.bwlimit_kib = j["bwlimit_kib"].get<std::uint64_t>();
    }
    p.transfer = TransferEngine::rsync;
    p.origin = "the client's request";
    return p;
  });
}

json listing_to_json(const RemoteListing& listing) {
  json snapshots = json::array();
  for (const auto& s : listing.snapshots) {
    snapshots.push_back(snapshot_to_json(s));
  }
  json interrupted = json::array();
  for (const auto& w : listing.interrupted) {
    interrupted.push_back({{"path", w.path.string()}, {"what", w.what}});
  }
  return {{"backend", listing.backend}, {"snapshots", snapshots}, {"interrupted", interrupted}};
}

Result<RemoteListing> listing_from_json(const json& j) {
  return decoded<RemoteListing>("listing", [&]() -> Result<RemoteListing> {
    RemoteListing out;
    out.backend = j.at("backend").get<std::string>();
    for (const auto& s : j.at("snapshots")) {
      out.snapshots.push_back(snapshot_from_json(s));
    }
    for (const auto& w : j.at("interrupted")) {
      out.interrupted.push_back({w.at("path").get<std::string>(), w.at("what").get<std::string>(), ""});
    }
    return out;
  });
}

json usage_to_json(const UsageReport& usage) {
  json list = json::array();
  for (const auto& s : usage.snapshots) {
    list.push_back({{"id", s.id}, {"exclusive_bytes", s.exclusive_bytes}, {"cumulative_bytes", s.cumulative_bytes}});
  }
  return {{"snapshots", list}, {"total_bytes", usage.total_bytes}, {"exact", usage.exact}};
}

Result<UsageReport> usage_from_json(const json& j) {
  return decoded<UsageReport>("du report", [&]() -> Result<UsageReport> {
    UsageReport out;
    for (const auto& s : j.at("snapshots")) {
      out.snapshots.push_back({s.at("id").get<std::string>(), s.at("exclusive_bytes").get<std::uint64_t>(),
                               s.at("cumulative_bytes").get<std::uint64_t>()});
    }
    out.total_bytes = j.at("total_bytes").get<std::uint64_t>();
    out.exact = j.at("exact").get<bool>();
    return out;
  });
}

json prune_entries_to_json(const std::vector<PruneEntry>& entries) {
  json list = json::array();
  for (const auto& e : entries) {
    list.push_back({{"id", e.id},
                    {"keep", e.keep},
                    {"deleted", e.deleted},
                    {"reasons", e.reasons},
                    {"for_space", e.for_space},
                    {"overrides_keep", e.overrides_keep}});
  }
  return {{"entries", list}};
}

Result<std::vector<PruneEntry>> prune_entries_from_json(const json& j) {
  return decoded<std::vector<PruneEntry>>("prune report", [&]() -> Result<std::vector<PruneEntry>> {
    std::vector<PruneEntry> out;
    for (const auto& e : j.at("entries")) {
      PruneEntry entry;
      entry.id = e.at("id").get<std::string>();
      entry.keep = e.at("keep").get<bool>();
      entry.deleted = e.at("deleted").get<bool>();
      entry.reasons = e.at("reasons").get<std::vector<std::string>>();
      entry.for_space = e.at("for_space").get<bool>();
      entry.overrides_keep = e.at("overrides_keep").get<bool>();
      out.push_back(std::move(entry));
    }
    return out;
  });
}

json scrub_options_to_json(const ScrubOptions& o) {
  json out{{"repair", o.repair}, {"init", o.init}, {"wait", o.wait_for_lock}, {"fs_scrub", o.fs_scrub}};
  if (o.snapshot) {
    out["snapshot"] = *o.snapshot;
  }
  if (o.max_bytes) {
    out["max_bytes"] = *o.max_bytes;
  }
  if (o.max_seconds) {
    out["max_seconds"] = *o.max_seconds;
  }
  return out;
}

Result<ScrubOptions> scrub_options_from_json(const json& j) {
  return decoded<ScrubOptions>("scrub options", [&]() -> Result<ScrubOptions> {
    ScrubOptions o;
    o.repair = j.at("repair").get<bool>();
    o.init = j.at("init").get<bool>();
    o.wait_for_lock = j.at("wait").get<bool>();
    o.fs_scrub = j.at("fs_scrub").get<bool>();
    if (j.contains("snapshot")) {
      o.snapshot = j["snapshot"].get<std::string>();
    }
    if (j.contains("max_bytes")) {
      o.max_bytes = j["max_bytes"].get<std::uint64_t>();
    }
    if (j.contains("max_seconds")) {
      o.max_seconds = j["max_seconds"].get<std::uint64_t>();
    }
    return o;
  });
}

json check_to_json(const RemoteCheck& check) {
  return {{"backend", check.backend}, {"warnings", check.report.warnings}};
}

Result<RemoteCheck> check_from_json(const json& j) {
  return decoded<RemoteCheck>("check report", [&]() -> Result<RemoteCheck> {
    RemoteCheck out;
    out.backend = j.at("backend").get<std::string>();
    out.report.warnings = j.at("warnings").get<std::vector<std::string>>();
    return out;
  });
}

json restore_outcome_to_json(const RestoreOutcome& o) {
  return {{"snapshot", o.snapshot_id}, {"from", o.copied_from.string()}, {"files", o.files}, {"bytes", o.bytes}};
}

Result<RestoreOutcome> restore_outcome_from_json(const json& j) {
  return decoded<RestoreOutcome>("restore report", [&]() -> Result<RestoreOutcome> {
    RestoreOutcome o;
    o.snapshot_id = j.at("snapshot").get<std::string>();
    o.copied_from = j.at("from").get<std::string>();
    o.files = j.at("files").get<std::uint64_t>();
    o.bytes = j.at("bytes").get<std::uint64_t>();
    return o;
  });
}

json backup_run_to_json(const BackupRun& run) {
  json freed = json::array();
  for (const auto& v : run.outcome.freed_for_space) {
    freed.push_back(
        {{"snapshot", snapshot_to_json(v.snapshot)}, {"overrides_keep", v.overrides_keep}, {"kept_by", v.kept_by}});
  }
  json out{{"backend", run.backend},
           {"snapshot", run.outcome.snapshot_id},
           {"stats", stats_to_json(run.outcome.stats)},
           {"seconds", run.outcome.seconds},
           {"freed_for_space", freed},
           {"pruned", run.pruned}};
  if (run.prune_error) {
    out["prune_error"] = error_message(*run.prune_error);
  }
  if (const auto& c = run.outcome.changes) {
    out["changes"] = {{"since", run.outcome.changes_since},
                      {"added", c->added},
                      {"deleted", c->deleted},
                      {"content", c->content},
                      {"metadata", c->metadata}};
  }
  if (const auto& shrank = run.outcome.source_shrank) {
    out["source_shrank"] = {{"previous", shrank->previous},
                            {"previous_files", shrank->previous_files},
                            {"previous_bytes", shrank->previous_bytes}};
  }
  return out;
}

Result<BackupRun> backup_run_from_json(const json& j) {
  return decoded<BackupRun>("backup report", [&]() -> Result<BackupRun> {
    BackupRun run;
    run.backend = j.at("backend").get<std::string>();
    run.outcome.snapshot_id = j.at("snapshot").get<std::string>();
    run.outcome.stats = stats_from_json(j.at("stats"));
    run.outcome.seconds = j.at("seconds").get<double>();
    for (const auto& v : j.at("freed_for_space")) {
      SpaceVictim victim;
      victim.snapshot = snapshot_from_json(v.at("snapshot"));
      victim.overrides_keep = v.at("overrides_keep").get<bool>();
      victim.kept_by = v.at("kept_by").get<std::vector<std::string>>();
      run.outcome.freed_for_space.push_back(std::move(victim));
    }
    run.pruned = j.at("pruned").get<std::vector<std::string>>();
    if (j.contains("prune_error")) {
      run.prune_error = error_from_message(j.at("prune_error"), "");
    }
    if (j.contains("changes")) {
      const json& c = j.at("changes");
      run.outcome.changes_since = c.at("since").get<std::string>();
      run.outcome.changes = ChangeCounts{c.at("added").get<std::uint64_t>(), c.at("deleted").get<std::uint64_t>(),
                                         c.at("content").get<std::uint64_t>(), c.at("metadata").get<std::uint64_t>()};
    }
    if (j.contains("source_shrank")) {
      const json& shrank = j.at("source_shrank");
      run.outcome.source_shrank = BackupOutcome::Shrink{shrank.at("previous").get<std::string>(),
                                                        shrank.at("previous_files").get<std::uint64_t>(),
                                                        shrank.at("previous_bytes").get<std::uint64_t>()};
    }
    return run;
  });
}

}  // namespace snapkeep
